"""A tiny run of the harness: real processes, real processor, a 300-row file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import generate, suite
from bench.suite import Case, run_case


@pytest.fixture(scope="module")
def small_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, generate.FileStats]:
    path = tmp_path_factory.mktemp("bench") / "small.csv"
    return path, generate.generate(path, rows=300, symbols=5, bad_share=0.05, seed=11)


def test_processor_runs_to_the_end_on_the_latency_sink(
    small_file: tuple[Path, generate.FileStats], tmp_path: Path
) -> None:
    # Given a small file with some bad rows
    path, stats = small_file

    # When the harness runs the processor against moto behind the latency sink
    result = run_case(Case("300", "processor", "sink", 1.0, path, 300), tmp_path / "log")

    # Then the job ends with every row accounted for, and a speed and a peak memory are measured
    assert "error" not in result, (tmp_path / "log").read_text()
    assert result["status"] == "COMPLETED_WITH_ERRORS"
    assert result["detail"]["rows"]["accepted"] == stats.good
    assert result["detail"]["rows"]["rejected"] == stats.bad
    assert result["rows_per_second"] > 0
    assert result["max_rss_mb"] > 0


def test_ceiling_and_report_table(
    small_file: tuple[Path, generate.FileStats], tmp_path: Path
) -> None:
    # Given the same file written by the raw ceiling through the delaying proxy in front of moto
    path, _ = small_file
    result = run_case(Case("300", "ceiling", "moto", 1.0, path, 300), tmp_path / "log")

    # When it is rendered as a report
    row = suite._row(Case("300", "ceiling", "moto", 1.0, path, 300), result)
    report = {
        "started": "now",
        "mode": "smoke",
        "machine": suite.machine(),
        "throughput": [row],
        "cpu": [],
        "memory": [],
        "import_ms": {},
        "synth_seconds": "skipped",
        "end_to_end": {"status": "pending"},
    }
    table = suite.render(report)

    # Then every good row was written and the table names the backend and the speed
    assert "error" not in result, (tmp_path / "log").read_text()
    assert row["rows"] > 250
    assert f"| 300 | moto 1 ms | - | - | {row['rows_per_second']:,} |" in table
