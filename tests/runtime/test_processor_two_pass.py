"""The two-pass duplicate index (a file with more distinct keys than `DEDUP_INDEX_MAX_KEYS`)
gives exactly the job, report and table of a single pass, and leaves no spill file behind."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from runtime_support import Pipeline

from runtime.logic.csv_parser import CsvParser
from runtime.logic.csv_rules import MARKET_DATA, parse_bytes
from runtime.logic.dedup import SpillIndex, partitions_for
from runtime.settings import get_settings

HEADER = "symbol,price,volume,timestamp"


def mixed_file() -> str:
    """Distinct keys, identical and conflicting repeats (of keys first seen before and after the
    index fills up), a conflict whose first occurrence is rejected for another reason, bad rows.
    `{S}` stands for the symbol."""
    lines = [HEADER]
    for i in range(40):
        lines.append(f"{{S}},{1 + i},{i},2024-01-01T00:00:{i:02d}Z")
    lines += [
        "{S},1,0,2024-01-01T00:00:00Z",  # identical repeat of line 2
        "{S},2,0,2024-01-01T00:00:00Z",  # conflicting repeat of line 2
        "{S},-1,1,2024-01-02T00:00:00Z",  # rejected (price): not a first occurrence
        "{S},5,1,2024-01-02T00:00:00Z",  # so this one is the first of its key
        "{S},6,1,2024-01-02T00:00:00Z",  # conflicting repeat of the line above
        "{S},5,1,2024-01-02T00:00:00+00:00",  # identical once canonical
        "{S},1.5,1",  # too few cells
        "=BAD,1,1,2024-01-03T00:00:00Z",  # bad symbol
    ]
    for i in range(60):
        kind = i % 3
        if kind == 0:
            lines.append(f"{{S}},{1 + i},{i},2024-01-01T00:00:{i:02d}Z")  # identical repeat
        elif kind == 1:
            lines.append(f"{{S}},{100 + i},{i},2024-01-01T00:00:{i:02d}Z")  # conflict
        else:
            lines.append(f"{{S}},{1 + i},{i},2024-01-01T00:01:{i:02d}Z")  # new key
    lines.append("{S},1,0,2024-01-01T00:00:00.000000Z")  # a third identical copy of line 2
    return "\n".join(lines) + "\n"


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[[int], Path]]:
    """Set the index budget (and a private spill directory) for the next processor runs."""
    spill_root = tmp_path / "spill"
    spill_root.mkdir()

    def apply(max_keys: int) -> Path:
        monkeypatch.setenv("DEDUP_INDEX_MAX_KEYS", str(max_keys))
        monkeypatch.setenv("SPILL_DIR", str(spill_root))
        get_settings.cache_clear()
        return spill_root

    yield apply
    monkeypatch.undo()
    get_settings.cache_clear()


class Reads:
    """Counts the GetObject calls on the runtime's S3 client (two per file in two-pass mode)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.count = 0
        self._client = pipeline.s3
        self._client.meta.events.register("before-call.s3.GetObject", self._seen)

    def _seen(self, **_: Any) -> None:
        self.count += 1

    def close(self) -> None:
        self._client.meta.events.unregister("before-call.s3.GetObject", self._seen)


def outcome(pipeline: Pipeline, template: str, symbol: str) -> dict[str, Any]:
    """Run one file and return everything observable, with the symbol written as `{S}`."""
    data = template.replace("{S}", symbol).encode()
    reads = Reads(pipeline)
    try:
        job_id, status = pipeline.run(data)
    finally:
        reads.close()
    report = pipeline.report(job_id) if status.get("reportUrl") else []
    return {
        "reads": reads.count,
        "status": status["status"],
        "rows": status["rows"],
        "errors": status["errors"],
        "warnings": status["warnings"],
        "report": [[cell.replace(symbol, "{S}") for cell in line] for line in report],
        "table": pipeline.rows_of(symbol),
    }


def _same(single: dict[str, Any], double: dict[str, Any]) -> None:
    assert (single["reads"], double["reads"]) == (1, 2)
    for name in ("status", "rows", "errors", "warnings", "report", "table"):
        assert double[name] == single[name], name


@pytest.mark.parametrize("max_keys", [1, 3, 17])
def test_two_pass_equals_single_pass(pipeline, configure, max_keys):
    # Given a file with every kind of repeat, once under a budget it fits and once over it
    template = mixed_file()
    configure(1_000_000)
    single = outcome(pipeline, template, "SGL" + str(max_keys))
    spill_root = configure(max_keys)
    # When it is processed with an index budget of `max_keys` distinct keys
    double = outcome(pipeline, template, "DBL" + str(max_keys))
    # Then the job, its report and the stored table are those of the single pass
    _same(single, double)
    rows = double["rows"]
    assert rows["total"] == rows["accepted"] + rows["rejected"] + rows["duplicates"]
    assert rows["duplicates"] == 17 and rows["rejected"] == 18
    assert {error["code"] for error in double["errors"]} == {
        "CONFLICTING_DUPLICATE",
        "INVALID_SYMBOL",
        "PRICE_NOT_POSITIVE",
        "TOO_FEW_CELLS",
    }
    # And the spill files are gone
    assert os.listdir(spill_root) == []


def test_two_pass_conflicts_land_in_several_partitions(tmp_path):
    # The parser and the spill index alone (no server), on the mixed file of the tests above.
    # Given the mixed file and a budget that spreads its keys over many partitions
    data = mixed_file().replace("{S}", "PART").encode()
    spill = SpillIndex(str(tmp_path), partitions_for(len(data), 2))
    first = CsvParser([data], MARKET_DATA, max_keys=2, spill=spill)
    try:
        list(first)
        second = CsvParser([data], MARKET_DATA, resume=first)
        list(second)
        # Then the repeats were found in more than one partition and settled as a single pass
        reference, _, _ = parse_bytes(data)
        assert spill.partitions > 1
        assert spill.directory is not None
        settled_in = [path for path in spill.directory.glob("skip-*") if path.stat().st_size]
        assert len(settled_in) > 1
        assert first.switched_at == 3
        assert (second.accepted, second.rejected, second.duplicates) == (
            reference.accepted,
            reference.rejected,
            reference.duplicates,
        )
        assert spill.repeats == 17 + 15  # every repeat comes after line 3
    finally:
        spill.close()
    assert spill.directory is None


def test_two_pass_fatal_line_after_the_switch_fails_like_a_single_pass(pipeline, configure):
    # Given a file whose quote is never closed, well after the index filled up
    template = mixed_file() + '{S},"1,1,2024-01-05T00:00:00Z\n'
    configure(1_000_000)
    single = outcome(pipeline, template, "SGLFATAL")
    spill_root = configure(2)
    # When processed in two passes
    double = outcome(pipeline, template, "DBLFATAL")
    # Then it fails at the same line with the same counts, warnings and stored rows
    assert single["status"] == "FAILED"
    assert single["errors"][0]["code"] == "UNTERMINATED_QUOTE"
    _same(single, double)
    assert os.listdir(spill_root) == []


def test_two_pass_crash_in_pass_two_then_retry_equals_a_clean_run(pipeline, configure):
    # Given a file over the budget, and a connection that dies on a write of the second pass
    template = mixed_file()
    configure(1_000_000)
    clean = outcome(pipeline, template, "CLEANRUN")
    spill_root = configure(3)
    symbol = "CRASHRUN"
    data = template.replace("{S}", symbol).encode()
    created = pipeline.create_job()
    key = created["upload"]["fields"]["key"]
    etag = pipeline.post_file(created["upload"], data)
    reads = Reads(pipeline)
    lock = threading.Lock()
    calls: list[int] = []

    def crash(**_: Any) -> None:
        with lock:
            calls.append(reads.count)
            if len(calls) == 2:
                raise EndpointConnectionError(endpoint_url="http://dynamodb")

    pipeline.dynamodb.meta.events.register("before-call.dynamodb.BatchWriteItem", crash)
    try:
        # When processed, it crashes during the second pass
        with pytest.raises(EndpointConnectionError):
            pipeline.process(key, etag)
    finally:
        pipeline.dynamodb.meta.events.unregister("before-call.dynamodb.BatchWriteItem", crash)
        reads.close()
    assert calls[1] == 2
    # And no spill file is left behind by the failed attempt
    assert os.listdir(spill_root) == []
    # When Lambda retries the event
    pipeline.process(key, etag)
    # Then the job, report and table equal those of a clean run
    status = pipeline.status(created["jobId"])
    assert status["status"] == clean["status"]
    assert status["rows"] == clean["rows"]
    assert status["errors"] == clean["errors"]
    assert [w["code"] for w in status["warnings"]] == ["EARLIER_ATTEMPT_FAILED"]
    report = pipeline.report(created["jobId"])
    assert [[cell.replace(symbol, "{S}") for cell in line] for line in report] == clean["report"]
    assert pipeline.rows_of(symbol) == clean["table"]
    assert os.listdir(spill_root) == []
