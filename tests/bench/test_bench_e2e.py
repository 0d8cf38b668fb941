"""The end-to-end case's count check and its table (no stack started here)."""

from __future__ import annotations

from bench import e2e, suite


def test_counts_that_account_for_every_row_pass_the_check() -> None:
    # Given /status counts that match a 100-row file with 97 good rows
    rows = {"total": 100, "accepted": 97, "rejected": 3, "duplicates": 0}

    # When they are checked against the generator's numbers
    verdict = e2e.check_counts(rows, expect_rows=100, expect_good=97)

    # Then the check passes
    assert verdict == "ok"


def test_fails_counts_check_when_rows_are_missing() -> None:
    # Given /status counts where rows went missing between total and the outcomes
    rows = {"total": 100, "accepted": 90, "rejected": 3, "duplicates": 0}

    # When they are checked
    verdict = e2e.check_counts(rows, expect_rows=100, expect_good=97)

    # Then the check names what differs
    assert "accepted+rejected+duplicates" in verdict
    assert "accepted 90 != 97" in verdict


def test_end_to_end_table_has_one_row_per_moto_placement_with_phases() -> None:
    # Given an end-to-end report with both placements of moto, one of them failed
    report = {
        "file": "100k",
        "runs": [
            {
                "backend": "in-process",
                "seconds": 53.3,
                "create_seconds": 0.05,
                "upload_seconds": 0.05,
                "processing_seconds": 53.2,
                "status": "COMPLETED_WITH_ERRORS",
                "counts": "ok",
            },
            {"backend": "process", "status": "error: boom"},
        ],
    }

    # When it is rendered, and its targets taken
    table = suite.render_end_to_end(report)
    found = suite.targets({"throughput": [], "memory": [], "import_ms": {}, "end_to_end": report})

    # Then each placement has its row, the phases are shown, and each gets a target line
    assert f"| {e2e.BACKENDS['in-process']} | 0.05 | 0.05 | 53.2 | 53.3 |" in table
    assert f"| {e2e.BACKENDS['process']} | - | - | - | - | error: boom | - |" in table
    e2e_targets = [t for t in found if "end to end" in t[0]]
    assert [t[2] for t in e2e_targets] == ["**no**", "n/a"]
