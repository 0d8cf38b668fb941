"""One part of a split file: parse its byte range, route its valid rows, keep its rejections.

A part cannot decide a duplicate (the first row of a key may be in another part), so every valid
row goes, with its line and original cells, to the partition of its key; everything else a row
can break is decided here, by the very `CsvParser` of the single pass, started at the part's
first line with the file's header. A file-level failure inside the part (quoting, a bare CR, a
malformed record) is recorded on the job as the earliest one seen; the later steps ignore every
row at or after it.

Idempotent: a retry rewrites the same objects, and the progress counts a part once.
"""

from __future__ import annotations

import io
from collections import Counter
from typing import TYPE_CHECKING, Any

from runtime.dal import objects
from runtime.dal.jobs import utc_now
from runtime.logic.csv_parser import CsvFileError, CsvParser
from runtime.logic.csv_rules import MARKET_DATA
from runtime.logic.split.keys import KeyCounts
from runtime.logic.split.rows import fragment_line, partition_of, row_writer

if TYPE_CHECKING:
    from collections.abc import Callable

    from runtime.dal.jobs import JobStore
    from runtime.logic.split.plan import PartSpec


_DRAIN_ROWS = 4096
ROUTED_BUDGET_BYTES = 32 * 1024 * 1024


class _Routed:
    """The rows a part routes to each partition, as UTF-8 bytes within a memory budget.

    Each partition's text buffer is drained into a `bytearray` every few thousand rows (a
    `StringIO` written row by row keeps one `str` per row until `getvalue()`). When the buffered
    bytes pass `budget`, every partition's bytes so far go out as its next chunk object, so a
    part of any size takes a bounded amount of memory; a part of the default size (8 MiB, ~16 MB
    routed with the cells kept for the report) fits in one chunk per partition.
    """

    def __init__(self, count: int, emit: Callable[[int, int, bytes], None], budget: int) -> None:
        self._emit = emit
        self._budget = budget
        self._bytes = [bytearray() for _ in range(count)]
        self._chunks = [0] * count
        self._text: list[io.StringIO] = []
        self._writers: list[Any] = []
        self._pending = 0
        self._buffered = 0
        self._fresh()

    def _fresh(self) -> None:
        self._text = [io.StringIO() for _ in self._bytes]
        self._writers = [row_writer(text) for text in self._text]
        self._pending = 0

    def _drain(self) -> None:
        for text, out in zip(self._text, self._bytes, strict=True):
            if text.tell():
                encoded = text.getvalue().encode("utf-8")
                out.extend(encoded)
                self._buffered += len(encoded)
        self._fresh()
        if self._buffered > self._budget:
            self.flush()

    def write(self, index: int, row: tuple[Any, ...]) -> None:
        self._writers[index].writerow(row)
        self._pending += 1
        if self._pending >= _DRAIN_ROWS:
            self._drain()

    def flush(self) -> None:
        """Every partition's bytes so far out as its next chunk."""
        for index, out in enumerate(self._bytes):
            if out:
                body = bytes(out)
                out.clear()
                self._emit(index, self._chunks[index], body)
                self._chunks[index] += 1
        self._buffered = 0

    def close(self) -> list[int]:
        """Flush what is left; the partitions that got rows, in order."""
        self._drain()
        self.flush()
        return [index for index, chunks in enumerate(self._chunks) if chunks]


class PartError(Exception):
    """A part could not be read; the message names the part (PART_FAILED quotes it)."""


def parse_part(
    store: objects.ObjectStore,
    jobs: JobStore,
    *,
    job_id: str,
    key: str,
    etag: str,
    attempt: int,
    part: PartSpec,
    on_progress: Callable[[int], None] | None = None,
    budget: int | None = None,
) -> dict[str, Any]:
    """Parse `part` of the object `key` (pinned to `etag`); returns its summary. `budget`: the
    routed rows' bytes held in memory before they go out as chunk objects."""
    count = part.partitions

    def emit(index: int, chunk: int, body: bytes) -> None:
        store.put(objects.partition_rows_key(job_id, index, part.index, chunk), body)

    routed = _Routed(count, emit, ROUTED_BUDGET_BYTES if budget is None else budget)
    rejects = io.StringIO()
    keys = KeyCounts()  # rows per symbol, for the write budget (CheckKeys)

    def route(  # noqa: PLR0917 - the parser's RouteCallback, called once per row
        line: int, symbol: str, timestamp: str, price: str, volume: str, cells: list[str]
    ) -> None:
        routed.write(
            partition_of(symbol, timestamp, count), (line, symbol, timestamp, price, volume, *cells)
        )
        keys.add(symbol)

    def reject(line: int, reason: str, cells: list[str]) -> None:
        rejects.write(fragment_line(line, reason, cells))

    if part.end > part.start:
        chunks = store.read(key, etag, (part.start, part.end - 1))
        if chunks is None:
            raise PartError(f"part {part.index}: the file was replaced or deleted")
    else:
        chunks = iter(())
    parser = CsvParser(
        chunks,
        MARKET_DATA,
        on_reject=reject,
        on_progress=on_progress,
        header=part.header,
        first_line=part.line,
        start_of_file=False,
        end_error=part.end_error(),
        route=route,
    )
    fatal: dict[str, Any] | None = None
    try:
        for _ in parser:
            pass  # with `route`, every valid row went to its partition
    except CsvFileError as error:
        fatal = {"code": error.code, "message": error.message, "line": error.line}

    written = routed.close()
    if parser.rejected:
        store.put(objects.part_rejects_key(job_id, part.index), rejects.getvalue().encode())
    records = parser.rejected + parser.routed
    summary: dict[str, Any] = {
        "index": part.index,
        "records": records,
        "rejected": parser.rejected,
        "routed": parser.routed,
        "reasons": dict(Counter(parser.reasons)),
        "firstLine": parser.first_line,
        "partitions": written,
        "symbolRows": keys.top(),
        "fatal": fatal,
    }
    # The summary last: a part whose summary exists has written everything else.
    store.put_json(objects.part_summary_key(job_id, part.index), summary)
    now = utc_now()
    if fatal is not None:
        jobs.record_fatal(job_id, etag, split_attempt=attempt, fatal=fatal, now=now)
    jobs.record_part(job_id, etag, split_attempt=attempt, part=part.index, rows=records, now=now)
    return {"part": part.index, "records": records, "fatal": fatal is not None}
