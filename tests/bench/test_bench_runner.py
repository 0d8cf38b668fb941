"""`bench.runner processor` reports a speed only for a run that processed the whole file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import runner
from bench.runner import IncompleteRunError, Measurement, check_complete


def _measurement(status: str, rows: dict[str, int]) -> Measurement:
    detail = {"jobId": "j", "rows": rows, "errors": []}
    return Measurement("processor", "f.csv", rows.get("total", 0), 0.01, 0.01, 50.0, status, detail)


@pytest.mark.parametrize(
    ("status", "rows"),
    [
        ("?", {}),  # the processor found no job
        ("PROCESSING", {"total": 0, "accepted": 0, "rejected": 0, "duplicates": 0}),
        ("FAILED", {"total": 10, "accepted": 4, "rejected": 0, "duplicates": 0}),
    ],
)
def test_fails_run_without_a_final_job_or_with_rows_unaccounted_for(status, rows):
    with pytest.raises(IncompleteRunError):
        check_complete(_measurement(status, rows))


def test_complete_run_is_a_measurement():
    rows = {"total": 10, "accepted": 7, "rejected": 2, "duplicates": 1}
    check_complete(_measurement("COMPLETED_WITH_ERRORS", rows))


def test_fails_processor_command_that_stored_nothing_exits_1_and_prints_no_speed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a run in which the processor found no job and stored nothing (the `make bench-file`
    # run that printed rows/s: 441863)
    monkeypatch.setattr(runner, "_run_processor", lambda path, args: _measurement("?", {}))
    file = tmp_path / "f.csv"
    file.write_text("symbol,price,volume,timestamp\n")
    # When the processor command runs (it sets the processor's environment: restored after)
    saved = dict(os.environ)
    try:
        with pytest.raises(SystemExit) as exited:
            runner.main(["processor", str(file), "--no-create"])
    finally:
        os.environ.clear()
        os.environ.update(saved)
    # Then it exits non-zero and prints no speed
    out = capsys.readouterr()
    assert exited.value.code == 1
    assert "rows/s" not in out.out
    assert "rows_per_second" not in out.out
    assert "not a measurement" in out.err
