"""R23: whatever the split, the split path's outcome is the single pass's (stored items, counts,
report bytes, status, errors, warnings, and R28's sha256 of the file), for generated files with
quoted fields across part boundaries (some rows with every field quoted), literal quotes inside
unquoted fields (`5" screen`, which Python's csv reads as text), a bare CR inside quoted fields,
CRLF, a BOM, duplicates and conflicts far apart, bad rows and an optional fatal line.
"""

from __future__ import annotations

import hashlib
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from split_support import delete_items, outcome, run_single, run_split

from runtime.dal.objects import split_prefix

PROPERTY = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# Notes as text; a field that needs quotes (a delimiter, a quote, CR or LF) is written quoted.
NOTES = [
    "",
    "plain",
    "a,b",
    'say "hi"',
    "two\nlines",
    "crlf\r\ninside",
    "bare\rcr",
    "x" * 30,
]
# Written as they are, unquoted: a quote inside an unquoted field is a literal character.
LITERAL_NOTES = ['5" screen', 'x"', 'a""b', ' "spaced"', '12"']


def field(cell: str, *, quoted: bool) -> str:
    if quoted or any(c in cell for c in ',"\r\n'):
        return '"' + cell.replace('"', '""') + '"'
    return cell


@st.composite
def files(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    base = "Q" + uuid.uuid4().hex[:6].upper()
    symbols = [f"{base}{i}" for i in range(3)]
    header = ["symbol", "price", "volume", "timestamp"]
    with_note = draw(st.booleans())
    if with_note:
        header.insert(draw(st.integers(0, 4)), "note")
    if draw(st.booleans()):
        header = [name.upper() for name in header]
    records: list[str] = []
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(
            st.sampled_from(["good"] * 6 + ["bad_price", "short", "bad_time", "blank", "literal"])
        )
        if kind == "blank":
            records.append("")
            continue
        values = {
            "symbol": draw(st.sampled_from([*symbols, symbols[0].lower(), " " + symbols[1]])),
            "price": draw(st.sampled_from(["1.5", "2", "1.50", "3e2"])),
            "volume": draw(st.sampled_from(["0", "10", "007"])),
            "timestamp": f"2024-01-0{draw(st.integers(1, 2))}T10:00:0{draw(st.integers(0, 3))}Z",
            "note": draw(st.sampled_from(NOTES + LITERAL_NOTES)),
        }
        if kind == "bad_price":
            values["price"] = "oops"
        if kind == "bad_time":
            values["timestamp"] = "yesterday"
        raw = {"note"} if values["note"] in LITERAL_NOTES else set()
        if kind == "literal":  # a rejected row with a literal quote in its symbol or price
            name = draw(st.sampled_from(["symbol", "price"]))
            values[name] += '"'
            raw.add(name)
        names = [name.lower() for name in header]
        if kind == "short":
            names = names[:-1]
        quoted = draw(st.integers(0, 4)) == 0  # every field of the row quoted
        records.append(
            ",".join(
                values[name] if name in raw and not quoted else field(values[name], quoted=quoted)
                for name in names
            )
        )
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    text = eol.join([",".join(header), *records]) + eol
    if draw(st.booleans()):
        text = text.removesuffix(eol)  # no newline at the end
    data = text.encode()
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    fatal = draw(st.sampled_from([None] * 5 + ["bad_utf8", "bare_cr", "open_quote", "malformed"]))
    if fatal and records:
        lines = data.split(b"\n")
        at = draw(st.integers(1, len(lines)))
        cut = len(b"\n".join(lines[:at]))
        insert = {
            "bad_utf8": b"\xff",
            "bare_cr": b"\rX",
            "open_quote": b'\n"never closed,1,2',
            "malformed": b'\n"a"b,1,1,2024-01-01',
        }[fatal]
        data = data[:cut] + insert + data[cut:]
    return data, symbols


@PROPERTY
@given(files(), st.integers(16, 400), st.integers(1, 4), st.booleans())
def test_r23_splitting_into_parts_gives_exactly_the_single_pass_result(
    aws_endpoint, file, part_bytes, partitions, reverse
):
    from runtime import clients

    data, symbols = file
    s3, dynamodb = clients.s3(), clients.dynamodb()
    # Given the single pass's outcome for the file (its items then removed from the table)
    single = outcome(s3, dynamodb, run_single(s3, dynamodb, data), symbols)
    delete_items(dynamodb, single["items"])

    # When the same file is split into parts of `part_bytes` and `partitions` partitions, the
    # parts run in either order
    max_keys = max(1, len(data) // 17 // partitions + 1)
    job_id, answer = run_split(
        s3, dynamodb, data, part_bytes=part_bytes, max_keys=max_keys, reverse=reverse
    )
    split = outcome(s3, dynamodb, job_id, symbols)
    delete_items(dynamodb, split["items"])

    # Then everything a client sees is the same (R28: the digest of the whole file too), and no
    # intermediate object is left
    assert split == single, answer
    assert single["sha256"] == hashlib.sha256(data).hexdigest()
    if answer["outcome"] == "split":
        assert not s3.list_objects_v2(Bucket=_bucket(), Prefix=split_prefix(job_id)).get("Contents")


def _bucket() -> str:
    from runtime_support import NAMES

    return NAMES.bucket
