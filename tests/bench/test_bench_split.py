"""The large-file benchmark on a small file: real processes for every invocation, real handlers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import charts, generate, split


@pytest.fixture(scope="module")
def small_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, generate.FileStats]:
    path = tmp_path_factory.mktemp("split") / "small.csv"
    return path, generate.generate(path, rows=3000, symbols=7, bad_share=0.02, seed=5)


@pytest.fixture(scope="module")
def runs(
    small_file: tuple[Path, generate.FileStats], tmp_path_factory: pytest.TempPathFactory
) -> list[dict[str, Any]]:
    path, stats = small_file
    log = tmp_path_factory.mktemp("log") / "split.log"
    return split.run_section([(path, stats.rows, 7)], parts=(1, 3), log=log)


def test_split_runs_match_the_single_pass_row_for_row(
    runs: list[dict[str, Any]], small_file: tuple[Path, generate.FileStats]
) -> None:
    # Given the single pass and the split in 1 and 3 parts over one file with bad rows
    _, stats = small_file

    # Then every run is a measurement, with the file's counts
    assert [r.get("error") for r in runs] == [None, None, None]
    single, one, three = runs
    assert single["rows"]["accepted"] == stats.good
    assert single["rows"]["rejected"] == stats.bad
    for run in (one, three):
        assert (run["rows"], run["status"]) == (single["rows"], single["status"])
    # And the split ran as many part invocations as it planned parts
    assert one["parts"] == 1
    assert three["parts"] == 3
    assert three["phases"]["map"]["invocations"] == 3
    assert three["phases"]["reduce"]["invocations"] == three["partitions"]
    # And each step's CPU and the total are measured
    assert three["cpu_us_per_row"] == pytest.approx(
        sum(p["cpu_us_per_row"] for p in three["phases"].values()), abs=0.5
    )
    assert all(p["max_rss_mb"] > 0 for p in three["phases"].values())


def test_cost_counts_the_requests_each_path_made(runs: list[dict[str, Any]]) -> None:
    single, _, three = runs
    # The split reads its parts with range GETs and writes partition objects: more S3 requests,
    # and state transitions the single pass does not have
    assert three["phases"]["map"]["requests"]["s3.GetObject"] == 3
    assert three["phases"]["map"]["requests"]["s3.PutObject"] >= 3
    assert three["cost"]["step_functions"] > 0 == single["cost"]["step_functions"]
    assert three["cost"]["s3"] > single["cost"]["s3"]
    # DynamoDB: one write unit per stored row on both paths, plus a few job updates
    assert three["cost"]["dynamodb"] == pytest.approx(single["cost"]["dynamodb"], rel=0.05)


def test_a_run_that_differs_from_the_single_pass_has_no_speed() -> None:
    single = {"rows": {"total": 10, "accepted": 9, "rejected": 1, "duplicates": 0}}
    single["status"] = "COMPLETED_WITH_ERRORS"  # type: ignore[assignment]
    lost = {"rows": {"total": 10, "accepted": 8, "rejected": 1, "duplicates": 0}, "status": "X"}
    checked = split._checked(dict(lost), single, 10)
    assert "error" in checked
    assert "rows_per_second" not in checked
    other = {"rows": dict(single["rows"]), "status": "COMPLETED"}
    assert "differs" in split._checked(other, single, 10)["error"]


def test_render_and_charts(runs: list[dict[str, Any]], tmp_path: Path) -> None:
    # When the section is rendered with its two charts
    made = [
        charts.rows_per_second_chart(runs, tmp_path / "rows.png"),
        charts.memory_chart(runs, tmp_path / "memory.png"),
    ]
    table = split.render(runs, [str(p) for p in made])

    # Then the charts are PNG files and the table has a line per run and the targets
    for path in made:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert table.count("| 3k rows, 7 symbols |") == 3
    assert "split CPU per row <= 1.3x" in table
    assert "3 of 3" in table
    assert f"![rows]({made[0]})" in table


def test_part_size_cuts_the_file_into_that_many_parts() -> None:
    assert split.part_bytes_for(1000, 1) == 1000
    assert split.part_bytes_for(1000, 3) == 334
    assert 3 * split.part_bytes_for(1001, 3) >= 1001
