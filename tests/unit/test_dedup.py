"""The duplicate index's spill files on their own (no AWS): partitions and stale directories."""

from __future__ import annotations

import os
import subprocess
import sys

from runtime.logic.dedup import DIR_PREFIX, SpillIndex, partitions_for, remove_stale


def test_stale_spill_directories_are_removed(tmp_path):
    # Given spill directories of a finished process, of an earlier run under this process's pid,
    # of another live process and of this process's run in progress, and an unrelated directory
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead_pid = int(gone.stdout)
    for name in (
        f"{DIR_PREFIX}{dead_pid}-aaa",
        f"{DIR_PREFIX}{os.getpid()}-bbb",
        f"{DIR_PREFIX}{os.getppid()}-ccc",
        "unrelated",
    ):
        (tmp_path / name).mkdir()
        (tmp_path / name / "rec-0000").write_bytes(b"x" * 24)
    running = SpillIndex(str(tmp_path), 2)
    running.add(1, 2, 3)
    assert list(running.resolve()) == []
    assert running.directory is not None
    try:
        # When stale directories are swept
        remove_stale(str(tmp_path))
        # Then only the dead process's and this process's earlier directories are gone
        assert sorted(os.listdir(tmp_path)) == sorted(
            [f"{DIR_PREFIX}{os.getppid()}-ccc", "unrelated", running.directory.name]
        )
    finally:
        running.close()


def test_partitions_bound_each_partition_by_the_budget():
    # Given a 200 MiB file and a budget of 500k keys
    size = 200 * 1024 * 1024
    # Then there are enough partitions for the shortest possible rows
    partitions = partitions_for(size, 500_000)
    assert partitions * 500_000 * 17 >= size
    assert partitions_for(10, 500_000) == 1
