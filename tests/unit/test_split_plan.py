"""R23, the planner on its own (no AWS): a newline is a part boundary exactly when Python's csv
reader (strict, as `CsvParser` reads every part) ends a record there, whatever the quotes and the
chunking: a quote opens a quoted field only at the start of a field, `""` inside one is an
escaped quote, and a quote inside an unquoted field (`5" screen`) is a literal character.

After the first byte the reader refuses (`"a"b`, a bare CR in an unquoted field), the planner may
disagree with it: the part holding that byte raises the failure at its record's line and every
later part is ignored, so the only requirement there is that no cut falls inside the failing
record before that byte.
"""

from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.logic.split.plan import _Quotes, plan_file

HEADER = "symbol,price,volume,timestamp\n"
# Pieces of CSV text that put quotes everywhere a quote can be: at a field start, in the middle
# and at the end of unquoted fields, doubled, around delimiters and newlines, after a space or a
# bare CR, runs of plain quoted fields; plus a multi-byte character and a NUL (both plain data
# to the reader).
TOKENS = [
    "a",
    "5",
    " ",
    ",",
    '"',
    '""',
    ',"',
    '",',
    '"\n',
    '\n"',
    "\n",
    "\r\n",
    "\r",
    "é",
    "\x00",
    '5" screen',
    '"a",',
    '"b"\n',
    '"x"\r\n',
]
texts = st.lists(st.sampled_from(TOKENS), max_size=60).map("".join)


@dataclass(frozen=True)
class Reading:
    """How the reader reads a text: the lines whose newline ends a record; when it fails, the
    first line of the record it fails in and the line holding the byte it refused."""

    ends: frozenset[int]
    failed_record: int | None
    failed_on: int | None


def read(text: str) -> Reading:
    pieces = text.split("\n")
    lines = [piece + "\n" for piece in pieces[:-1]] + ([pieces[-1]] if pieces[-1] else [])
    reader = csv.reader(iter(lines), strict=True)
    ends: set[int] = set()
    while True:
        previous = reader.line_num
        try:
            next(reader)
        except StopIteration:
            return Reading(frozenset(ends), None, None)
        except csv.Error:
            return Reading(frozenset(ends), previous + 1, reader.line_num)
        ends.add(reader.line_num)


def newlines(data: bytes) -> list[int]:
    return [at for at, byte in enumerate(data) if byte == 0x0A]


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted({c for c in cuts if 0 < c < len(data)}), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def scan(chunks: list[bytes]) -> dict[int, bool]:
    """For each newline (global byte offset): inside a quoted field after it, per `_Quotes`."""
    quotes = _Quotes(0)
    inside: dict[int, bool] = {}
    offset = 0
    for chunk in chunks:
        at = chunk.find(b"\n")
        while at >= 0:
            quotes.advance(chunk, at + 1)
            inside[offset + at] = quotes.inside
            at = chunk.find(b"\n", at + 1)
        quotes.advance(chunk, len(chunk))
        quotes.next_chunk(chunk)
        offset += len(chunk)
    return inside


def assert_agrees(text: str, chunks: list[bytes]) -> None:
    data = text.encode()
    reading = read(text)
    inside = scan(chunks)
    for line, at in enumerate(newlines(data), start=1):
        if reading.failed_on is not None and line >= reading.failed_on:
            break  # the newline of the refused byte's line, and everything after it
        assert inside[at] == (line not in reading.ends), (text, line)


@settings(max_examples=600, deadline=None)
@given(texts, st.lists(st.integers(0, 400), max_size=8))
def test_r23_quote_state_is_the_csv_readers_at_every_newline(text, cuts):
    # Given any text of quotes, delimiters, newlines and data, cut into any chunks
    # When the planner's quote state is read after every newline
    # Then it is inside a quoted field exactly where the csv reader is inside a record
    assert_agrees(text, split_at(text.encode(), cuts))


@pytest.mark.parametrize(
    "text",
    [
        'a,5" screen,b\n"two\nlines",c\nd\n',  # a literal quote, then a quoted newline
        'a, "b\nc"\nd\n',  # after a space the quote is literal: the newline ends the record
        'x"\n"y\nz"\nw\n',  # a field ending with a literal quote
        '"""",a\n"a""\nb"\nc\n',  # escaped quotes, one of them before a quoted newline
        '"",""\n"\n"\n',  # empty quoted fields
        'a""b,"c\n"\n',  # doubled quotes inside an unquoted field are literal
    ],
)
@pytest.mark.parametrize("chunk", [1, 2, 3, 1 << 20])
def test_r23_quote_state_examples_at_any_chunk_size(text, chunk):
    data = text.encode()
    assert_agrees(text, [data[i : i + chunk] for i in range(0, len(data), chunk)])


def expected_parts(text: str, part_bytes: int) -> tuple[list[tuple[int, int]], Reading]:
    """(start, line) of every part as the planner must cut `text` (header included), from the
    reader's record ends: the first record end at or after each multiple of `part_bytes`."""
    data = text.encode()
    reading = read(text)
    data_start = len(HEADER)
    bounds = [(data_start, 2)]
    target = part_bytes
    for line, at in enumerate(newlines(data), start=1):
        if line in reading.ends and at >= max(target, data_start) and at + 1 < len(data):
            bounds.append((at + 1, line + 1))
            target = ((at + 1) // part_bytes + 1) * part_bytes
    return bounds, reading


@settings(max_examples=400, deadline=None)
@given(texts, st.integers(1, 40), st.lists(st.integers(0, 400), max_size=6))
def test_r23_planner_cuts_where_the_reader_ends_records(body, part_bytes, cuts):
    # Given a file with any body, read in any chunks
    text = HEADER + body
    data = text.encode()
    # When it is planned
    plan = plan_file(split_at(data, cuts), size=len(data), part_bytes=part_bytes, partitions=1)
    # Then up to the record the reader fails in, the parts are exactly the cuts at record ends
    # after each target; inside that record, before the refused byte, there is no cut
    assert plan is not None
    got = [(part.start, part.line) for part in plan.parts]
    want, reading = expected_parts(text, part_bytes)
    if reading.failed_record is None:
        assert got == want
    else:
        before = reading.failed_record
        assert [p for p in got if p[1] <= before] == [p for p in want if p[1] <= before]
        assert not [p for p in got if before < p[1] <= reading.failed_on]


def test_fails_r23_a_literal_quote_in_an_unquoted_field_does_not_move_the_cuts():
    # Given 80 rows, `5" screen` (a literal quote) on data row 2 and a quoted newline on row 41
    rows = []
    for i in range(80):
        note = {1: '5" screen', 40: '"two\nlines"'}.get(i, "plain")
        rows.append(f"S{i % 3},1.{i},1,2024-01-01T00:00:{i % 60:02d}.{i:03d}Z,{note}\n")
    text = "symbol,price,volume,timestamp,note\n" + "".join(rows)
    data = text.encode()
    # When it is planned in parts of 200 bytes, read in 64-byte chunks
    plan = plan_file(split_at(data, list(range(64, len(data), 64))), size=len(data),
                     part_bytes=200, partitions=1)  # fmt: skip
    # Then every part starts where a record starts (never inside the quoted newline), and the
    # planner keeps cutting after the literal quote: no part is longer than a target and a line
    assert plan is not None
    reading = read(text)
    starts = {at + 1: line + 1 for line, at in enumerate(newlines(data), 1) if line in reading.ends}
    assert all(starts.get(part.start) == part.line for part in plan.parts)
    assert max(part.end - part.start for part in plan.parts) < 200 + 64
