"""The planner: one streamed read of the whole object, before any row is parsed.

It finds part boundaries near multiples of `part_bytes`: a newline is a record boundary only
outside quotes. Quote parity over the bytes decides (`"` toggles; an RFC 4180 doubled quote
toggles twice), so no part starts inside a quoted field. `bytes.count` and `bytes.find` do the
work, at memory speed.

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from runtime.logic.csv_rules import MAX_LINE_CHARS, CsvFileError, FileReason, Header, header_of
from runtime.logic.integrity import DigestingChunks

MAX_HEADER_BYTES = 4 * 1024 * 1024


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
            header=Header.from_json(data["header"]),
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
    quotes = 0  # quote bytes before the current chunk
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
            # Cuts: the first newline outside quotes at or after each target.
            counted_to, counted = 0, quotes
            lines_to, lines_seen = 0, newlines
            while target < offset + valid:
                local = max(target, data_start) - offset
                at = chunk.find(b"\n", max(local, 0), valid)
                if at < 0:
                    break
                counted += chunk.count(b'"', counted_to, at)
                counted_to = at
                if counted & 1:
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
        quotes += chunk.count(b'"')
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
