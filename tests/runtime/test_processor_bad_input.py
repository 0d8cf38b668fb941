"""The bad-input matrix: one test per case, each asserting the job status, the counts and the
reason named by the job (file-level rules) or by the rejection report (row-level rules)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from runtime_support import MAX_UPLOAD_BYTES

from runtime.dal.objects import processed_key

HEADER = "symbol,price,volume,timestamp"


def counts(total: int, accepted: int, rejected: int = 0, duplicates: int = 0) -> dict[str, int]:
    return {"total": total, "accepted": accepted, "rejected": rejected, "duplicates": duplicates}


@dataclass(frozen=True)
class Case:
    name: str
    body: str  # "{S}" stands for the test's own symbol
    status: str
    rows: dict[str, int]
    reason: str | None = None  # FAILED: the job's error code; otherwise the report's reason
    line: int | None = None  # the line the report (or the job error) names
    encoding: str = "utf-8"
    prefix: bytes = b""


ROW = "{S},1.5,10,2024-01-02T03:04:05Z"

CASES = [
    Case("bom", f"{HEADER}\n{ROW}\n", "COMPLETED", counts(1, 1), prefix=b"\xef\xbb\xbf"),
    Case("crlf", f"{HEADER}\r\n{ROW}\r\n", "COMPLETED", counts(1, 1)),
    Case(
        "quoted_comma",
        f'{HEADER},note\n{ROW},"hello, world"\n',
        "COMPLETED",
        counts(1, 1),
    ),
    Case(
        "quoted_newline",
        f'{HEADER},note\n{ROW},"two\nlines"\n{{S}},-1,1,2024-01-02T03:04:06Z,x\n',
        "COMPLETED_WITH_ERRORS",
        counts(2, 1, 1),
        "PRICE_NOT_POSITIVE",
        line=4,
    ),
    Case("empty_file", "", "FAILED", counts(0, 0), "EMPTY_FILE"),
    Case("header_only", f"{HEADER}\n", "COMPLETED", counts(0, 0)),
    Case(
        "missing_column",
        "symbol,price,timestamp\nAAA,1,2024-01-01\n",
        "FAILED",
        counts(0, 0),
        "MISSING_COLUMN",
        line=1,
    ),
    Case(
        "duplicate_column",
        f"{HEADER}, PRICE \n{ROW},2\n",
        "FAILED",
        counts(0, 0),
        "DUPLICATE_COLUMN",
        line=1,
    ),
    Case("extra_column", f"{HEADER},venue\n{ROW},XNAS\n", "COMPLETED", counts(1, 1)),
    Case(
        "short_row",
        f"{HEADER}\n{{S}},1.5,10\n",
        "COMPLETED_WITH_ERRORS",
        counts(1, 0, 1),
        "TOO_FEW_CELLS",
        2,
    ),
    Case(
        "long_row",
        f"{HEADER}\n{ROW},extra\n",
        "COMPLETED_WITH_ERRORS",
        counts(1, 0, 1),
        "TOO_MANY_CELLS",
        2,
    ),
    Case(
        "nan_price",
        f"{HEADER}\n{{S}},NaN,1,2024-01-01\n",
        "COMPLETED_WITH_ERRORS",
        counts(1, 0, 1),
        "INVALID_PRICE",
        2,
    ),
    Case(
        "infinity_price",
        f"{HEADER}\n{{S}},Infinity,1,2024-01-01\n",
        "COMPLETED_WITH_ERRORS",
        counts(1, 0, 1),
        "INVALID_PRICE",
        2,
    ),
    Case(
        "negative_price",
        f"{HEADER}\n{{S}},-2.5,1,2024-01-01\n",
        "COMPLETED_WITH_ERRORS",
        counts(1, 0, 1),
        "PRICE_NOT_POSITIVE",
        2,
    ),
    Case(
        "zero_price",
        f"{HEADER}\n{{S}},0.000,1,2024-01-01\n",
        "COMPLETED_WITH_ERRORS",
        counts(1, 0, 1),
        "PRICE_NOT_POSITIVE",
        2,
    ),
    Case(
        "underscore_price",
        f"{HEADER}\n{{S}},1_000,1,2024-01-01\n",
        "COMPLETED_WITH_ERRORS",
        counts(1, 0, 1),
        "INVALID_PRICE",
        2,
    ),
    Case(
        "underscore_volume",
        f"{HEADER}\n{{S}},1,1_000,2024-01-01\n",
        "COMPLETED_WITH_ERRORS",
        counts(1, 0, 1),
        "INVALID_VOLUME",
        2,
    ),
    Case(
        "non_ascii_digit_price",
        f"{HEADER}\n{{S}},\u0661\u0662,1,2024-01-01\n",
        "COMPLETED_WITH_ERRORS",
        counts(1, 0, 1),
        "INVALID_PRICE",
        2,
    ),
    Case(
        "non_ascii_digit_volume",
        f"{HEADER}\n{{S}},1,\uff11\uff12,2024-01-01\n",
        "COMPLETED_WITH_ERRORS",
        counts(1, 0, 1),
        "INVALID_VOLUME",
        2,
    ),
    Case(
        "negative_volume",
        f"{HEADER}\n{{S}},1,-5,2024-01-01\n",
        "COMPLETED_WITH_ERRORS",
        counts(1, 0, 1),
        "INVALID_VOLUME",
        2,
    ),
    Case(
        "price_39_digits",
        f"{HEADER}\n{{S}},{'1' * 39},1,2024-01-01\n",
        "COMPLETED_WITH_ERRORS",
        counts(1, 0, 1),
        "PRICE_TOO_PRECISE",
        2,
    ),
    Case(
        "price_below_dynamodb_range",
        f"{HEADER}\n{{S}},1e-131,1,2024-01-01\n",
        "COMPLETED_WITH_ERRORS",
        counts(1, 0, 1),
        "PRICE_OUT_OF_RANGE",
        2,
    ),
    Case(
        "malformed_timestamp",
        f"{HEADER}\n{{S}},1,1,2024-13-01T00:00:00Z\n",
        "COMPLETED_WITH_ERRORS",
        counts(1, 0, 1),
        "INVALID_TIMESTAMP",
        2,
    ),
    Case(
        "nanosecond_timestamp",
        f"{HEADER}\n{{S}},1,1,2024-01-01T00:00:00.123456789Z\n",
        "COMPLETED_WITH_ERRORS",
        counts(1, 0, 1),
        "TIMESTAMP_TOO_PRECISE",
        2,
    ),
    Case(
        "identical_duplicate",
        f"{HEADER}\n{ROW}\n{{S}},1.50,010,2024-01-02T04:04:05+01:00\n",
        "COMPLETED",
        counts(2, 1, 0, 1),
    ),
    Case(
        "conflicting_duplicate",
        f"{HEADER}\n{ROW}\n{{S}},9.99,10,2024-01-02T03:04:05Z\n",
        "COMPLETED_WITH_ERRORS",
        counts(2, 1, 1),
        "CONFLICTING_DUPLICATE",
        3,
    ),
    Case(
        "over_long_symbol",
        f"{HEADER}\n{'A' * 33},1,1,2024-01-01\n",
        "COMPLETED_WITH_ERRORS",
        counts(1, 0, 1),
        "SYMBOL_TOO_LONG",
        2,
    ),
    Case(
        "formula_symbol",
        f'{HEADER}\n"=HYPERLINK(""x"")",1,1,2024-01-01\n',
        "COMPLETED_WITH_ERRORS",
        counts(1, 0, 1),
        "INVALID_SYMBOL",
        2,
    ),
    Case(
        "unterminated_quote",
        f'{HEADER}\n{ROW}\n"{{S}},1,1,2024-01-01\n',
        "FAILED",
        counts(1, 1),
        "UNTERMINATED_QUOTE",
        3,
    ),
    Case(
        "bare_cr_line_endings",
        f"{HEADER}\r{ROW}\r",
        "FAILED",
        counts(0, 0),
        "INVALID_LINE_ENDING",
        1,
    ),
    Case(
        "latin1_bytes",
        f"{HEADER}\n{ROW}\n{{S}},1,1,2024-01-01,caf\u00e9\n",
        "FAILED",
        counts(1, 1),
        "INVALID_ENCODING",
        3,
        encoding="latin-1",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_csv_rule_matrix(pipeline, symbol, case: Case):
    # Given a file breaking (or exercising) one CSV rule
    data = case.prefix + case.body.replace("{S}", symbol).encode(case.encoding)
    # When it is uploaded and processed
    job_id, status = pipeline.run(data)
    # Then the job ends as the rule says, with exact counts and the named reason
    assert status["status"] == case.status, status
    assert status["rows"] == case.rows
    rows = status["rows"]
    assert rows["total"] == rows["accepted"] + rows["rejected"] + rows["duplicates"]
    if case.status == "FAILED":
        assert status["errors"][0]["code"] == case.reason
        if case.line is not None:
            assert status["errors"][0]["line"] == case.line
        assert "reportUrl" not in status
    elif case.reason is not None:
        report = pipeline.report(job_id)
        assert report[0] == ["line", "reason", "row"]
        assert [(int(line), reason) for line, reason, _ in report[1:]] == [(case.line, case.reason)]
        assert status["reportUrl"]
        assert {error["code"] for error in status["errors"]} == {case.reason}
    else:
        assert status["errors"] == []
    assert len(pipeline.rows_of(symbol)) == rows["accepted"]


def test_bom_row_is_stored_under_the_clean_symbol(pipeline, symbol):
    # Given a BOM before the header
    data = b"\xef\xbb\xbf" + f"{HEADER}\n{symbol.lower()},2,3,2024-01-02T03:04:05Z\n".encode()
    # When processed
    pipeline.run(data)
    # Then the header was recognized and the symbol upper-cased
    assert pipeline.rows_of(symbol) == [
        {"timestamp": "2024-01-02T03:04:05.000000Z", "price": "2", "volume": "3"}
    ]


def test_scientific_notation_price_is_stored_exactly(pipeline, symbol):
    # Given a price in scientific notation and one with 38 significant digits
    precise = "1234567890123456789.0123456789012345678"
    data = (
        f"{HEADER}\n{symbol},1.5e2,1,2024-01-01T00:00:00Z\n{symbol},{precise},2,2024-01-01T00:00:01Z\n"
    ).encode()
    # When processed
    _, status = pipeline.run(data)
    # Then both are stored with their exact value (no float on the way)
    assert status["status"] == "COMPLETED"
    stored = pipeline.rows_of(symbol)
    assert Decimal(stored[0]["price"]) == Decimal("150")
    assert Decimal(stored[1]["price"]) == Decimal(precise)


def test_naive_and_offset_timestamps_are_stored_as_utc_keys(pipeline, symbol):
    # Given a naive timestamp (UTC) and one with an offset
    data = (
        f"{HEADER}\n{symbol},1,1,2024-01-02 03:04:05.5\n{symbol},1,1,2024-01-02T09:34:06+05:30\n"
    ).encode()
    # When processed
    _, status = pipeline.run(data)
    # Then both keys are the canonical UTC form
    assert status["rows"] == counts(2, 2)
    assert [row["timestamp"] for row in pipeline.rows_of(symbol)] == [
        "2024-01-02T03:04:05.500000Z",
        "2024-01-02T04:04:06.000000Z",
    ]


def test_conflicting_duplicate_keeps_the_first_row(pipeline, symbol):
    # Given two rows for one key with different prices
    data = f"{HEADER}\n{symbol},1.5,10,2024-01-02T03:04:05Z\n{symbol},9,10,2024-01-02T03:04:05Z\n"
    # When processed
    pipeline.run(data.encode())
    # Then the first one is stored
    assert [row["price"] for row in pipeline.rows_of(symbol)] == ["1.5"]


def test_formula_in_report_row_is_defused(pipeline):
    # Given a row whose first cell a spreadsheet would run as a formula
    data = f'{HEADER}\n"=1+2",1,1,2024-01-01\n'.encode()
    # When processed
    job_id, _ = pipeline.run(data)
    # Then the report quotes it as text
    assert pipeline.report(job_id)[1][2].startswith("'=")


def test_file_name_with_path_traversal_is_metadata_only(pipeline, symbol):
    # Given a file name trying to escape the prefix
    created = pipeline.create_job("../../etc/passwd.csv")
    # Then the upload key is still the job's own key
    assert created["upload"]["fields"]["key"] == f"incoming/{created['jobId']}.csv"
    # When the file is uploaded and processed
    etag = pipeline.post_file(
        created["upload"], f"{HEADER}\n{ROW.replace('{S}', symbol)}\n".encode()
    )
    pipeline.process(created["upload"]["fields"]["key"], etag)
    # Then the job is fine and keeps the name only as metadata
    status = pipeline.status(created["jobId"])
    assert status["status"] == "COMPLETED"
    assert status["fileName"] == "../../etc/passwd.csv"
    assert not pipeline.exists("etc/passwd.csv")


def test_fails_upload_over_the_size_cap(pipeline, symbol):
    # Given a file over MAX_UPLOAD_BYTES that reached the bucket anyway (moto ignores the policy)
    row = f"{symbol},1.5,10,2024-01-02T03:04:05Z\n"
    data = (HEADER + "\n" + row * (MAX_UPLOAD_BYTES // len(row) + 10)).encode()
    assert len(data) > MAX_UPLOAD_BYTES
    # When processed
    job_id, status = pipeline.run(data)
    # Then the processor's own size check fails the job and nothing is stored
    assert status["status"] == "FAILED"
    assert status["errors"][0]["code"] == "FILE_TOO_LARGE"
    assert status["rows"] == counts(0, 0)
    assert pipeline.rows_of(symbol) == []
    assert pipeline.exists(processed_key(job_id))
