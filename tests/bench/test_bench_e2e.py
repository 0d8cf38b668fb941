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


def test_end_to_end_table_shows_phases_scenarios_and_start_time_with_a_target_each() -> None:
    # Given a report of make run's stack (every scenario accounted for), a failed comparison run
    # and the start time
    report = {
        "file": "100k",
        "runs": [
            {
                "backend": "local",
                "seconds": 15.2,
                "create_seconds": 0.11,
                "upload_seconds": 0.04,
                "processing_seconds": 15.0,
                "status": "COMPLETED_WITH_ERRORS",
                "counts": "ok",
                "read_back": {"seconds": 0.7, "rows": 10000, "pages": 10, "status": "ok"},
                "concurrent": {"status": "error: job 3: FAILED"},
            },
            {"backend": "process", "status": "error: boom"},
        ],
        "startup": {"serving_seconds": 2.9, "stop_seconds": 1.5, "status": "ok"},
    }

    # When it is rendered, and its targets taken
    table = suite.render_end_to_end(report)
    found = suite.targets({"throughput": [], "memory": [], "import_ms": {}, "end_to_end": report})

    # Then each backend has its row with the phases, and a scenario that lost rows shows no speed
    local = e2e.BACKENDS["local"]
    assert f"| {local} | 0.11 | 0.04 | 15.0 | 15.2 | COMPLETED_WITH_ERRORS | ok | 0.7 |" in table
    assert "| error: job 3: FAILED |" in table
    assert f"| {e2e.BACKENDS['process']} | - | - | - | - | error: boom | - | - | - |" in table
    assert "to its banner: 2.9 s" in table
    verdicts = {name: verdict for name, _, verdict in reversed(found) if local in name}
    assert verdicts[f"100k rows end to end on the local stack < 30 s ({local})"] == "yes"
    assert verdicts[f"10k rows read back through /results < 3 s ({local})"] == "yes"
    assert verdicts[f"30 concurrent jobs of 2,001 rows final < 15 s ({local})"] == "n/a"
    assert ("`make run` from the cached template to serving < 5 s", "2.9 s", "yes") in found
