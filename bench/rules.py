"""CPU per row of the field rules: the trades schema compiled (what the pipeline runs) against
the hand-written rules of 0.1.0 (`bench.reference_rules`), on one generated file, and how a
schema's cost scales with its fields (4 to 20).

``python -m bench.rules [--rows N] [--repeats K]`` (``make bench-rules``) prints the table and
draws ``docs/bench/rules-cpu-per-row.png``. Each run parses the whole file in this process (no
AWS: the parser and the rules only); a speed is printed only for a run whose accepted,
rejected and duplicate rows add up to every data row of the file.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import charts, generate, reference_rules
from runtime.logic.csv_parser import CsvParser, FieldRules
from runtime.logic.csv_rules import TRADES_SCHEMA
from runtime.logic.schema import compile_schema

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "docs" / "bench" / "rules-cpu-per-row.png"
RESULTS = ROOT / "bench" / "results" / "rules.json"
WIDE_FIELDS = (4, 8, 12, 16, 20)
_START = datetime(2024, 1, 2, tzinfo=UTC)


def _wide_schema(fields: int) -> dict[str, Any]:
    """A schema of ``fields`` fields: the key (a string and a datetime), then numbers,
    integers, enums, bounded strings, dates and booleans in turn."""
    kinds: list[dict[str, Any]] = [
        {"type": "number", "constraints": {"required": True, "minimum": 0}},
        {"type": "integer", "constraints": {"minimum": 0, "maximum": 10**9}},
        {"type": "string", "constraints": {"enum": ["XLON", "XPAR", "XNYS", "XTKS"]}},
        {"type": "string", "constraints": {"minLength": 1, "maxLength": 12}},
        {"type": "date"},
        {"type": "boolean"},
    ]
    schema_fields = [
        {"name": "symbol", "type": "string", "constraints": {"required": True}},
        {"name": "at", "type": "datetime", "constraints": {"required": True}},
    ]
    for index in range(fields - 2):
        schema_fields.append({"name": f"f{index}", **kinds[index % len(kinds)]})
    return {"fields": schema_fields, "primaryKey": ["symbol", "at"]}


def _wide_value(field: dict[str, Any], rnd: random.Random, row: int) -> str:
    kind = field.get("type")
    if field["name"] == "symbol":
        return f"S{row % 50}"
    if field["name"] == "at":
        # 50 symbols in turn, one second apart per symbol: every key is distinct.
        return (_START + timedelta(seconds=row // 50)).strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind == "number":
        return f"{rnd.randint(0, 99999)}.{rnd.randint(0, 9999):04d}"
    if kind == "integer":
        return str(rnd.randint(0, 10**6))
    if kind == "date":
        return f"2024-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
    if kind == "boolean":
        return rnd.choice(("true", "false"))
    if "enum" in field.get("constraints", {}):
        allowed: list[str] = field["constraints"]["enum"]
        return rnd.choice(allowed)
    return "".join(rnd.choice("ABCDEFGH") for _ in range(rnd.randint(1, 12)))


def _wide_file(schema: dict[str, Any], rows: int, seed: int = 7) -> bytes:
    rnd = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([f["name"] for f in schema["fields"]])
    for row in range(rows):
        writer.writerow([_wide_value(f, rnd, row) for f in schema["fields"]])
    return out.getvalue().encode()


def _parse(data: bytes, rules: FieldRules) -> tuple[float, int]:
    """Seconds to parse ``data`` by ``rules`` (the compile of the row check included, as at
    a cold start), and the rows it accounted for."""
    rejected = 0

    def reject(*_: Any) -> None:
        nonlocal rejected
        rejected += 1

    started = time.perf_counter()
    parser = CsvParser([data], rules, on_reject=reject)
    accepted = sum(1 for _ in parser)
    elapsed = time.perf_counter() - started
    return elapsed, accepted + rejected + parser.duplicates


def _measure(
    name: str, data: bytes, data_rows: int, rules: Callable[[], FieldRules], repeats: int
) -> dict[str, Any]:
    times = []
    for _ in range(repeats):
        seconds, counted = _parse(data, rules())
        if counted != data_rows:
            return {"name": name, "error": f"accounted for {counted} of {data_rows} rows"}
        times.append(seconds)
    best = min(times)
    return {
        "name": name,
        "rows": data_rows,
        "best_s": round(best, 4),
        "median_s": round(statistics.median(times), 4),
        "us_per_row": round(best / data_rows * 1e6, 3),
    }


def run(rows: int, repeats: int, workdir: Path) -> dict[str, Any]:
    trades_file = workdir / f"trades-{rows}.csv"
    stats = generate.generate(trades_file, rows=rows, symbols=50, bad_share=0.02, seed=11)
    data = trades_file.read_bytes()
    trades_schema = json.loads(TRADES_SCHEMA.read_text())
    # Alternate the two, so that neither gets the warmer machine.
    hand, compiled = [], []
    for _ in range(repeats):
        hand.append(
            _measure(
                "hand-written (0.1.0)", data, stats.rows, lambda: reference_rules.MARKET_DATA, 1
            )
        )
        compiled.append(
            _measure(
                "trades schema, compiled",
                data,
                stats.rows,
                lambda: compile_schema(trades_schema),
                1,
            )
        )
    trades = [_best_of(hand), _best_of(compiled)]
    if all("error" not in t for t in trades):
        trades[1]["ratio"] = round(trades[1]["best_s"] / trades[0]["best_s"], 3)
    wide = []
    for fields in WIDE_FIELDS:
        schema = _wide_schema(fields)
        wide_data = _wide_file(schema, rows)
        measured = _measure(f"{fields} fields", wide_data, rows, _compiler(schema), repeats)
        measured["fields"] = fields
        wide.append(measured)
    return {"rows": rows, "repeats": repeats, "trades": trades, "wide": wide}


def _compiler(schema: dict[str, Any]) -> Callable[[], FieldRules]:
    return lambda: compile_schema(schema)


def _best_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    errors = [r for r in runs if "error" in r]
    if errors:
        return errors[0]
    best = min(runs, key=lambda r: r["best_s"])
    return {
        **best,
        "median_s": round(statistics.median(r["best_s"] for r in runs), 4),
    }


def table(results: dict[str, Any]) -> str:
    lines = [
        f"Field rules, one process, {results['rows']:,} rows, best of {results['repeats']}",
        "",
        "| rules | rows | best (s) | median (s) | µs/row | vs 0.1.0 |",
        "|---|---|---|---|---|---|",
    ]
    for row in [*results["trades"], *results["wide"]]:
        if "error" in row:
            lines.append(f"| {row['name']} | {row['error']} | | | | |")
            continue
        ratio = f"{row['ratio']:.3f}x" if "ratio" in row else ""
        lines.append(
            f"| {row['name']} | {row['rows']:,} | {row['best_s']:.3f} | {row['median_s']:.3f} "
            f"| {row['us_per_row']:.2f} | {ratio} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rules", description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".bench")
    parser.add_argument("--chart", type=Path, default=CHART)
    args = parser.parse_args(argv)
    results = run(args.rows, args.repeats, args.workdir)
    print(table(results))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    charts.rules_chart(results, args.chart)
    print(f"chart: {args.chart}")
    failed = [r for r in [*results["trades"], *results["wide"]] if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
