"""The field-rules benchmark on a small file: every run accounts for every row, and a run that
does not prints no speed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import rules
from runtime.logic.schema import compile_schema


def test_a_small_run_accounts_for_every_row_and_draws_its_chart(tmp_path: Path) -> None:
    results = rules.run(rows=2000, repeats=1, workdir=tmp_path)
    measured = [*results["trades"], *results["wide"]]
    assert all("error" not in r for r in measured), measured
    assert [r["fields"] for r in results["wide"]] == list(rules.WIDE_FIELDS)
    assert "ratio" in results["trades"][1]
    chart = rules.charts.rules_chart(results, tmp_path / "rules.png")
    assert chart.stat().st_size > 0
    assert "| trades schema, compiled | 2,000 |" in rules.table(results)


def test_a_run_that_does_not_account_for_every_row_reports_it_instead_of_a_speed() -> None:
    # Given a file of 100 data rows measured as if it had 101
    schema: dict[str, Any] = rules._wide_schema(4)
    data = rules._wide_file(schema, 100)
    measured = rules._measure("short", data, 101, lambda: compile_schema(schema), 1)
    # Then it names the gap and gives no speed, and the table says so
    assert measured["error"] == "accounted for 100 of 101 rows"
    assert "us_per_row" not in measured
    table = rules.table({"rows": 101, "repeats": 1, "trades": [measured], "wide": []})
    assert "| short | accounted for 100 of 101 rows |" in table


def test_the_wide_schemas_compile_and_their_files_parse_clean() -> None:
    for fields in rules.WIDE_FIELDS:
        schema = rules._wide_schema(fields)
        assert len(schema["fields"]) == fields
        seconds, counted = rules._parse(rules._wide_file(schema, 500), compile_schema(schema))
        assert counted == 500 and seconds > 0
