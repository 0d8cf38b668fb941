"""R23: the split path gives the single pass's outcome for quotes as Python's csv reads them
(a quote inside an unquoted field is a literal character, a bare CR inside a quoted field is
data), and a partition's conflicts stay within a memory budget however many there are."""

from __future__ import annotations

import uuid

import split_support
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from split_support import delete_items, outcome, run_single, run_split

import runtime.logic.split.partition as partition_module
from runtime.contract import SPLIT_PREFIX

FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
HEADER = "symbol,price,volume,timestamp,note\n"


def both_paths(data: bytes, symbols: list[str], **split: object) -> tuple[dict, dict, dict]:
    """(single pass outcome, split outcome, the processor's answer to the split)."""
    from runtime import clients

    s3, dynamodb = clients.s3(), clients.dynamodb()
    single = outcome(s3, dynamodb, run_single(s3, dynamodb, data), symbols)
    delete_items(dynamodb, single["items"])
    job_id, answer = run_split(s3, dynamodb, data, **split)  # type: ignore[arg-type]
    result = outcome(s3, dynamodb, job_id, symbols)
    delete_items(dynamodb, result["items"])
    return single, result, answer


def base() -> str:
    return "Q" + uuid.uuid4().hex[:6].upper()


def test_fails_r23_a_literal_quote_then_a_quoted_newline_split_as_the_single_pass(aws_endpoint):
    # Given 80 rows, `5" screen` (a literal quote: Python's csv reads it as text) on data row 2
    # and a quoted newline on row 41
    name = base()
    rows = []
    for i in range(80):
        note = {1: '5" screen', 40: '"two\nlines"'}.get(i, "plain")
        rows.append(f"{name}{i % 3},1.{i},1,2024-01-01T00:00:{i % 60:02d}.{i:03d}Z,{note}\n")
    data = (HEADER + "".join(rows)).encode()
    symbols = [f"{name}{i}" for i in range(3)]
    # When it is processed in one pass, and split into parts of 200 bytes
    single, split, answer = both_paths(data, symbols, part_bytes=200, max_keys=10**6)
    # Then the single pass completes with 80 rows, and the split gives exactly that
    assert single["status"] == "COMPLETED"
    assert single["rows"]["accepted"] == 80
    assert split == single
    assert answer["outcome"] == "split"
    assert answer["parts_total"] > 10  # cuts after the literal quote too


def test_fails_r23_a_bare_cr_inside_a_quoted_field_split_as_the_single_pass(aws_endpoint):
    # Given rows whose quoted note holds a bare CR (data, for the reader), over several
    # partitions
    name = base()
    rows = [
        f'{name}{i % 4},2.{i},3,2024-01-02T00:00:{i % 60:02d}Z,"{"a" * (i % 3)}\r{i}"\n'
        for i in range(40)
    ]
    data = (HEADER + "".join(rows)).encode()
    symbols = [f"{name}{i}" for i in range(4)]
    # When it is processed in one pass, and split
    single, split, answer = both_paths(data, symbols, part_bytes=300, max_keys=8)
    # Then both complete with every row (the routed rows kept the CR), the same outcome
    assert answer["outcome"] == "split"
    assert single["status"] == "COMPLETED"
    assert single["rows"]["accepted"] == 40
    assert split == single


def test_fails_r23_a_partitions_conflicts_go_out_in_parts_within_its_budget(
    aws_endpoint, monkeypatch
):
    from runtime import clients

    # Given one key repeated 5,600 times with other values (each row with a 1 KB note: ~6 MB of
    # conflicts), a conflicts budget of S3's smallest part (5 MiB), and a record of the uploads
    budget = 5 * 1024 * 1024
    monkeypatch.setattr(partition_module, "CONFLICTS_PART_BYTES", budget, raising=False)
    monkeypatch.setitem(split_support.EXTRA_ENVIRONMENT, "MAX_UPLOAD_BYTES", str(16 << 20))
    name = base()
    note = "n" * 1000
    rows = [f"{name},1.{i},1,2024-01-01T00:00:00Z,{note}\n" for i in range(5600)]
    data = (HEADER + "".join(rows)).encode()
    s3 = clients.s3()
    uploads: list[tuple[str, str, int]] = []

    def record(params, model, **_):  # type: ignore[no-untyped-def]
        body = params.get("Body", b"")
        uploads.append((model.name, params.get("Key", ""), len(body) if body else 0))

    for call in ("PutObject", "UploadPart", "CompleteMultipartUpload"):
        s3.meta.events.register(f"provide-client-params.s3.{call}", record)
    try:
        # When it is processed in one pass, and split
        single, split, answer = both_paths(data, [name], part_bytes=1 << 20, max_keys=10**6)
    finally:
        for call in ("PutObject", "UploadPart", "CompleteMultipartUpload"):
            s3.meta.events.unregister(f"provide-client-params.s3.{call}", record)
    # Then the partition sent its conflicts as parts of its one conflicts object, none above
    # the budget and one line, never as one body, and the outcome is the single pass's
    conflicts = [
        (call, size)
        for call, key, size in uploads
        if key.startswith(SPLIT_PREFIX) and key.endswith("/conflicts.jsonl")
    ]
    parts = [size for call, size in conflicts if call == "UploadPart"]
    assert answer["outcome"] == "split"
    assert single["rows"] == {"total": 5600, "accepted": 1, "rejected": 5599, "duplicates": 0}
    assert len(parts) == 2
    assert all(size < budget + 2048 for size in parts)
    calls = [call for call, _ in conflicts]
    assert calls == ["UploadPart", "UploadPart", "CompleteMultipartUpload"]
    assert split == single


# Pieces of an unquoted note: quotes anywhere, delimiters, newlines, bare CR. Most files with
# them fail (MALFORMED_CSV, UNTERMINATED_QUOTE, INVALID_LINE_ENDING, TOO_MANY_CELLS...): both
# paths must fail or reject the same way, at the same line, with the same rows stored.
TOKENS = ["a", " ", ",", '"', '""', "\n", "\r\n", "\r", '5" screen', 'x"', "é"]
LITERAL = ['5" screen', 'x"', 'a""b', ' "spaced"', "plain"]


@st.composite
def quoted_files(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    name = base()
    symbols = [f"{name}{i}" for i in range(3)]
    wild = draw(st.booleans())  # rows with anything at all in their note
    rows = []
    for i in range(draw(st.integers(1, 30))):
        symbol = draw(st.sampled_from(symbols))
        kind = draw(st.sampled_from(["literal", "quoted"] + (["wild"] if wild else [])))
        if kind == "literal":
            note = draw(st.sampled_from(LITERAL))
        else:
            text = "".join(draw(st.lists(st.sampled_from(TOKENS), max_size=6)))
            note = '"' + text.replace('"', '""') + '"' if kind == "quoted" else text
        second = draw(st.integers(0, 5))
        rows.append(f"{symbol},1.{i % 4},1,2024-01-01T00:00:0{second}Z,{note}\n")
    return (HEADER + "".join(rows)).encode(), symbols


@FUZZ
@given(quoted_files(), st.integers(8, 300), st.integers(1, 40))
def test_r23_quotes_anywhere_split_as_the_single_pass(aws_endpoint, file, part_bytes, max_keys):
    # Given a file with literal quotes in unquoted fields, quoted fields holding anything, and
    # maybe notes with quotes, delimiters and line breaks anywhere
    data, symbols = file
    # When it is processed in one pass and split / Then the outcome is the same
    single, split, _ = both_paths(data, symbols, part_bytes=part_bytes, max_keys=max_keys)
    assert split == single
