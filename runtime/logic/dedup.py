"""The duplicate index when it outgrows its memory budget: hash-partitioned spill files on disk.

The parser keeps an in-memory index (a 64-bit key fingerprint mapped to a 64-bit value
fingerprint, about 120 bytes per distinct key in CPython) up to `DEDUP_INDEX_MAX_KEYS` distinct
keys. Almost every file stays under it and is read once. When a file reaches the budget at some
line L, the index is handed to a `SpillIndex`:

1. pass 1 goes on reading; every valid row after L is appended as a packed record
   (key fingerprint, value fingerprint, line: three int64, 24 bytes) to one of P partition files,
   chosen by the key fingerprint; the in-memory index is dumped into the same files first
   (24 bytes per key) and freed. Nothing after L is written, counted or reported in pass 1.
2. `resolve()` loads one partition at a time (records in line order) into a dict of at most
   about the budget, and writes the lines that repeat an earlier key, identically or not, to a
   sorted skip file of that partition (one int64 per repeated row: `line << 1 | conflicting`).
3. pass 2 reads the object again, skips the lines up to L (already handled), and asks the merged
   skip files (`heapq.merge`, one small read buffer per partition) about each valid row: a
   duplicate is counted, a conflicting repeat rejected, any other row written. The rows, counts
   and report are therefore exactly those of a single pass.

P is chosen from the object size so that one partition holds at most about the budget even if
every row were the shortest valid row (17 bytes). Disk: 24 bytes per valid row after L plus
24 bytes per key of the dumped index plus 8 bytes per repeated row; a 512 MiB file of the
shortest rows needs under 1 GiB of `/tmp`. Memory: the budget's dict, plus P buffers that
share `BUFFER_BYTES`.

The files live in `SPILL_DIR/dedup-<pid>-<random>/`, removed when the attempt ends, success or
failure; a directory left by a process killed mid-run is removed by the next run
(`remove_stale`).

The fingerprints are Python's keyed, per-process `hash`: both passes run in one invocation, so
they agree; a retry starts the file over in whatever process it lands.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import shutil
import tempfile
from array import array
from collections.abc import Iterator
from pathlib import Path

MIN_ROW_BYTES = 17  # "A,1,0,2024-01-01\n": the shortest row that can pass the rules
MAX_PARTITIONS = 1024
BUFFER_BYTES = 4 * 1024 * 1024
DIR_PREFIX = "dedup-"
CONFLICT = 1


def partitions_for(size_bytes: int, max_keys: int) -> int:
    """Enough partitions that each holds at most ~max_keys rows even for the shortest rows."""
    rows = size_bytes // MIN_ROW_BYTES + 1
    return max(1, min(MAX_PARTITIONS, -(-rows // max(1, max_keys))))


_LIVE: set[str] = set()  # spill directories of this process's runs in progress


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def remove_stale(root: str) -> None:
    """Remove spill directories left by a run that was killed before its `finally` ran.

    A directory is named after the process that made it: it is stale when that process is gone,
    or when it is this process (a restarted Lambda runtime can get the same pid) but the
    directory is not one of this process's runs in progress. Others' live runs are left alone.
    """
    with contextlib.suppress(OSError):
        for entry in os.scandir(root):
            parts = entry.name.split("-")
            if len(parts) != 3 or f"{parts[0]}-" != DIR_PREFIX or not parts[1].isdigit():
                continue
            pid = int(parts[1])
            stale = entry.path not in _LIVE if pid == os.getpid() else not _alive(pid)
            if stale and entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)


class SpillIndex:
    """Partition files for the records of one file; a directory created on first use."""

    def __init__(self, root: str, partitions: int) -> None:
        self._root = root
        self.partitions = max(1, partitions)
        self._dir: Path | None = None
        self._buffers = [array("q") for _ in range(self.partitions)]
        # int64 values per partition buffer before it is appended to its file.
        self._flush_at = max(3 * 64, BUFFER_BYTES // 8 // self.partitions // 3 * 3)
        self.records = 0
        self.repeats = 0

    @property
    def directory(self) -> Path | None:
        return self._dir

    def _path(self, kind: str, partition: int) -> Path:
        if self._dir is None:
            made = tempfile.mkdtemp(prefix=f"{DIR_PREFIX}{os.getpid()}-", dir=self._root)
            _LIVE.add(made)
            self._dir = Path(made)
        return self._dir / f"{kind}-{partition:04d}"

    def dump(self, seen: dict[int, int]) -> None:
        """The in-memory index, as records at line 0 (before any spilled row)."""
        for key, value in seen.items():
            self.add(key, value, 0)

    def add(self, key: int, value: int, line: int) -> None:
        partition = key % self.partitions
        buffer = self._buffers[partition]
        buffer.append(key)
        buffer.append(value)
        buffer.append(line)
        self.records += 1
        if len(buffer) >= self._flush_at:
            self._flush(partition)

    def _flush(self, partition: int) -> None:
        buffer = self._buffers[partition]
        if buffer:
            with self._path("rec", partition).open("ab") as out:
                buffer.tofile(out)
            del buffer[:]

    def _read(self, path: Path, items: int) -> Iterator[array[int]]:
        if not path.exists():
            return
        with path.open("rb") as source:
            while True:
                chunk = array("q")
                try:
                    chunk.fromfile(source, items)
                except EOFError:
                    if chunk:
                        yield chunk
                    return
                yield chunk

    def resolve(self) -> Iterator[int]:
        """Every repeated line after the switch, in line order: `line << 1 | conflicting`."""
        for partition in range(self.partitions):
            self._flush(partition)
        self._buffers = []
        skip_paths = []
        for partition in range(self.partitions):
            records = self._path("rec", partition)
            skips = array("q")
            first: dict[int, int] = {}
            for chunk in self._read(records, self._flush_at):
                for index in range(0, len(chunk), 3):
                    size = len(first)
                    known = first.setdefault(chunk[index], chunk[index + 1])
                    if len(first) == size:
                        flag = CONFLICT if known != chunk[index + 1] else 0
                        skips.append(chunk[index + 2] << 1 | flag)
            self.repeats += len(skips)
            first.clear()
            skip_path = self._path("skip", partition)
            with skip_path.open("wb") as out:
                skips.tofile(out)
            skip_paths.append(skip_path)
            records.unlink(missing_ok=True)
        step = max(64, BUFFER_BYTES // 8 // self.partitions)
        return heapq.merge(*(self._entries(path, step) for path in skip_paths))

    def _entries(self, path: Path, step: int) -> Iterator[int]:
        for chunk in self._read(path, step):
            yield from chunk

    def close(self) -> None:
        self._buffers = []
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            _LIVE.discard(str(self._dir))
            self._dir = None
