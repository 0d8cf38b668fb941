"""The planner: one streamed read of the whole object, before any row is parsed.

It finds part boundaries near multiples of `part_bytes`: a newline is a record boundary only
outside quoted fields, as Python's csv reader (strict, the `CsvParser` of every part) reads them
(`_Quotes`). A quote opens a quoted field only at the start of a field (the first byte of a
record, or right after a delimiter); inside one, `""` is an escaped quote and a lone `"` closes
it; a quote anywhere else (`5" screen`, ` "x"`) is a literal character of an unquoted field, so
quote parity alone would be wrong. The scan runs in C, never a Python step per byte or quote:
`bytes.find` skips to the next quote, and a possessive regular expression consumes the quoted
fields and the bytes between them up to the next cut candidate or the chunk's end (about 1 ns a
byte and 50-100 ns a quoted field: a file without quotes plans as fast as with quote parity,
one with every field quoted at ~250 MB/s). The state (inside a field, a quote at the very end of a
chunk, the chunk's last byte) carries across chunks. Up to the first byte the reader refuses
(`"a"b`, a bare CR followed by more of the line) the planner and the reader agree on every
byte; after it they may not, which is harmless: the part holding that byte raises the failure
at its record's line, and every later part starts after it, so its rows are ignored as the
single pass never read them.

It also settles, in that pass, what a part cannot see by itself and the single pass decides
from the start of the file: the BOM, UTF-8 validity (an incremental decode, as `CsvParser`
does, with the same chunks), the line-length limit (checked where `CsvParser` checks it, at the
chunk boundaries of the same 1 MiB reads) and the header. A failure at line L ends the plan at
the start of line L: the last part raises that failure when its bytes run out, which is where
the single pass raised it, so the rows before L are exactly the single pass's.

A header that cannot be read or fails, or a failure before the first data line, returns None:
the single pass is then run, and it fails fast with exactly its own outcome.

The same pass computes the object's SHA-256 (R28) from every chunk it reads, including the bytes
after a file-level failure: planning stops there, reading does not, so `Plan.sha256` is always
the digest of the whole object.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from runtime.logic.csv_parser import MAX_LINE_CHARS, CsvFileError, FileReason, Header
from runtime.logic.csv_rules import header_of
from runtime.logic.integrity import DigestingChunks

MAX_HEADER_BYTES = 4 * 1024 * 1024

_QUOTE = 0x22
_FIELD_START = b",\n"  # a quote right after one of these bytes opens a quoted field
# From a quote outside quoted fields, as far as it goes: whole quoted fields (opened at a field
# start, closed by a lone quote that a byte other than a quote follows), literal quotes (not at a
# field start; the quotes right after one are literal too) and the bytes between them. It stops
# at `endpos`, or at an opening quote whose field does not close before `endpos`. The first
# alternative takes a run of plain quoted fields (`"text",` ... `"text"\n`) in one step, twice as
# fast on a file with every field quoted. Possessive quantifiers: linear, no backtracking;
# `[^"]` (one excluded byte) is sre's fast loop, a class of two bytes is not.
_OUTSIDE = re.compile(
    rb'(?:[^"]*+(?:(?<=[,\n])(?:"[^"]*+"[,\n])++'
    rb'|(?<=[,\n])"[^"]*+(?:""[^"]*+)*+"(?=[^"])'
    rb'|(?<![,\n])"++))*+[^"]*+'
)
# From a quote inside a quoted field: escaped quotes and the bytes after them; stops at a lone
# quote (the close, or the first half of a pair cut by the chunk's end) or at `endpos`.
_INSIDE = re.compile(rb'(?:""[^"]*+)*+')


@dataclass(frozen=True, slots=True)
class PartSpec:
    """One byte range `[start, end)` starting at physical line `line` (the manifest item)."""

    index: int
    start: int
    end: int
    line: int
    partitions: int
    header: Header
    fatal: dict[str, Any] | None = None

    def to_json(self, *, etag: str, attempt: int) -> dict[str, Any]:
        item: dict[str, Any] = {
            "index": self.index,
            "start": self.start,
            "end": self.end,
            "line": self.line,
            "partitions": self.partitions,
            "header": self.header.to_json(),
            "etag": etag,
            "attempt": attempt,
        }
        if self.fatal is not None:
            item["fatal"] = self.fatal
        return item

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PartSpec:
        return cls(
            index=int(data["index"]),
            start=int(data["start"]),
            end=int(data["end"]),
            line=int(data["line"]),
            partitions=int(data["partitions"]),
            header=header_of([str(name) for name in data["header"]["names"]]),
            fatal=data.get("fatal"),
        )

    def end_error(self) -> CsvFileError | None:
        if self.fatal is None:
            return None
        return CsvFileError(self.fatal["code"], self.fatal["message"], int(self.fatal["line"]))


@dataclass(frozen=True, slots=True)
class Plan:
    parts: list[PartSpec]
    partitions: int
    header: Header
    fatal: dict[str, Any] | None
    sha256: str

    def partition_items(self, *, etag: str, attempt: int) -> list[dict[str, Any]]:
        return [
            {"index": index, "etag": etag, "attempt": attempt} for index in range(self.partitions)
        ]


def _fatal(code: str, message: str, line: int) -> dict[str, Any]:
    return {"code": code, "message": message, "line": line}


def _header(head: bytes) -> tuple[Header, int, int] | None:
    """(header, byte offset after it, lines it took) from the complete lines of `head`, or None
    when they hold no complete header record yet. Raises CsvFileError for a bad header."""
    complete = head[: head.rfind(b"\n") + 1]
    text = complete.decode("utf-8")
    bom = 0
    if text.startswith("\ufeff"):
        text, bom = text[1:], len("\ufeff".encode())
    lines = [line + "\n" for line in text.split("\n")[:-1]]
    reader = csv.reader(iter(lines), strict=True)
    try:
        for cells in reader:
            if cells:
                used = reader.line_num
                return header_of(cells), bom + len("".join(lines[:used]).encode()), used
    except csv.Error:
        return None  # an open quote at the end of what is there so far, or a malformed header
    return None


class _Quotes:
    """Whether a byte is inside a quoted field, as Python's csv reader (strict) decides it, over
    a stream of chunks: `advance(chunk, to)` reads `chunk[pos:to]` (every position before it was
    read already), after which `inside` is the state after byte `to - 1`. Start: outside, at the
    first byte of a record. Cost: a `bytes.find` and a regex call or two per stop (a cut
    candidate or a chunk end), more only where a quoted field goes on past one; no Python code
    runs per byte or per quote."""

    __slots__ = ("_pending", "inside", "last", "pos")

    def __init__(self, pos: int) -> None:
        self.inside = False
        self._pending = False  # inside, and the chunk ended on a quote: a close, or half of ""
        self.last = _FIELD_START[-1:]  # the byte before `pos` when `pos` is 0 (a chunk start)
        self.pos = pos

    def advance(self, chunk: bytes, to: int) -> None:
        """Read up to `to`: a newline's position + 1, or the end of the chunk."""
        pos = self.pos
        while pos < to:
            if self._pending:  # only at a chunk's first byte
                self._pending = False
                if chunk[pos] == _QUOTE:
                    pos += 1  # an escaped quote: still inside
                    continue
                self.inside = False  # the quote before closed the field
            quote = chunk.find(b'"', pos, to)
            if quote < 0:
                pos = to  # no quote: the state holds
                break
            if self.inside:
                end = _INSIDE.match(chunk, quote, to).end()  # type: ignore[union-attr]
                if end == to:
                    pos = to
                elif end + 1 == to:
                    # The region ends on a lone quote; `to` is then the chunk's end (a newline
                    # ends any other region), and the next chunk's first byte decides.
                    self._pending = True
                    pos = to
                else:
                    self.inside = False  # a lone quote, and a byte other than a quote follows
                    pos = end + 1
                continue
            if quote == 0 and self.last in _FIELD_START:
                self.inside = True  # the chunk's first byte opens a quoted field
                pos = 1
                continue
            end = _OUTSIDE.match(chunk, quote, to).end()  # type: ignore[union-attr]
            if end < to:
                self.inside = True  # an opening quote whose field goes on past `to`
                end += 1
            pos = end
        self.pos = pos

    def next_chunk(self, chunk: bytes) -> None:
        """`chunk` was read to its end; the next one starts at position 0."""
        if chunk:
            self.last = chunk[-1:]
        self.pos = 0


def plan_file(
    chunks: Iterable[bytes],
    *,
    size: int,
    part_bytes: int,
    partitions: int,
    on_chunk: Callable[[], None] | None = None,
) -> Plan | None:
    """The parts of the object streamed as `chunks`, or None when the single pass should run."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    offset = 0  # bytes before the current chunk
    newlines = 0  # newlines before the current chunk (CsvParser's `_lines_decoded`)
    quotes: _Quotes | None = None  # quoted fields, from the first data byte on
    carry_chars = 0  # characters of the line still open at the end of the decoded text
    line_start = 0  # byte offset of the first byte of the line still open
    at_start = True
    head = bytearray()
    found: tuple[Header, int, int] | None = None
    cuts: list[tuple[int, int]] = []
    target = part_bytes
    fatal: dict[str, Any] | None = None
    stream = DigestingChunks(chunks)
    for chunk in stream:
        if on_chunk is not None:
            on_chunk()
        buffered = decoder.getstate()[0]
        failure = False
        valid = len(chunk)
        try:
            text = decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            failure = True
            text = (buffered + chunk)[: exc.start].decode("utf-8")
            valid = max(0, exc.start - len(buffered))
        if at_start and text:
            at_start = False
            if text[0] == "\ufeff":
                text = text[1:]
        count = text.count("\n")
        if count:
            carry_chars = len(text) - text.rfind("\n") - 1
            line_start = offset + chunk.rfind(b"\n", 0, valid) + 1
        else:
            carry_chars += len(text)
        if found is None:
            head += chunk[:valid]
            try:
                found = _header(bytes(head))
            except (CsvFileError, UnicodeDecodeError):
                return None
            if found is None and len(head) > MAX_HEADER_BYTES:
                return None
        if found is not None:
            data_start = found[1]
            if quotes is None:
                # The header ends with a newline inside this chunk: a record starts after it.
                quotes = _Quotes(data_start - offset)
            # Cuts: the first newline outside quoted fields at or after each target.
            lines_to, lines_seen = 0, newlines
            while target < offset + valid:
                local = max(target, data_start) - offset
                at = chunk.find(b"\n", max(local, 0), valid)
                if at < 0:
                    break
                quotes.advance(chunk, at + 1)
                if quotes.inside:
                    target = offset + at + 1
                    continue
                lines_seen += chunk.count(b"\n", lines_to, at + 1)
                lines_to = at + 1
                cut = offset + at + 1
                cuts.append((cut, lines_seen + 1))
                target = (cut // part_bytes + 1) * part_bytes
        newlines += count
        if carry_chars > MAX_LINE_CHARS:
            fatal = _fatal(
                FileReason.LINE_TOO_LONG,
                f"a line is longer than {MAX_LINE_CHARS} characters",
                newlines + 1,
            )
            break
        if failure:
            fatal = _fatal(FileReason.INVALID_ENCODING, "the file is not valid UTF-8", newlines + 1)
            break
        if quotes is not None:
            quotes.advance(chunk, len(chunk))
            quotes.next_chunk(chunk)
        offset += len(chunk)
    else:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            fatal = _fatal(
                FileReason.INVALID_ENCODING, "the file ends inside a UTF-8 sequence", newlines + 1
            )
    if found is None:
        return None
    header, data_start, header_lines = found
    data_line = header_lines + 1
    end = line_start if fatal is not None else size
    if fatal is not None and (fatal["line"] <= data_line or end <= data_start):
        return None
    # After a failure (the loop broke there), the rest is read for the digest only.
    sha256 = stream.finish(on_chunk)
    bounds = [(data_start, data_line)] + [c for c in cuts if data_start < c[0] < end]
    parts = [
        PartSpec(
            index=index,
            start=start,
            end=bounds[index + 1][0] if index + 1 < len(bounds) else end,
            line=line,
            partitions=partitions,
            header=header,
            fatal=fatal if index + 1 == len(bounds) else None,
        )
        for index, (start, line) in enumerate(bounds)
    ]
    return Plan(parts, partitions, header, fatal, sha256)
