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

import csv
import io
from collections import Counter
from typing import TYPE_CHECKING, Any

from runtime.dal import objects
from runtime.dal.jobs import utc_now
from runtime.logic.csv_rules import CsvFileError, CsvParser
from runtime.logic.split.rows import fragment_line, partition_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from runtime.dal.jobs import JobStore
    from runtime.logic.split.plan import PartSpec


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
) -> dict[str, Any]:
    """Parse `part` of the object `key` (pinned to `etag`); returns its summary."""
    count = part.partitions
    buffers = [io.StringIO() for _ in range(count)]
    writers = [csv.writer(buffer, lineterminator="\n") for buffer in buffers]
    rejects = io.StringIO()

    def route(  # noqa: PLR0917 - the parser's RouteCallback, called once per row
        line: int, symbol: str, timestamp: str, price: str, volume: str, cells: list[str]
    ) -> None:
        writers[partition_of(symbol, timestamp, count)].writerow(
            (line, symbol, timestamp, price, volume, *cells)
        )

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

    written = []
    for index, buffer in enumerate(buffers):
        if buffer.tell():
            store.put(
                objects.partition_rows_key(job_id, index, part.index),
                buffer.getvalue().encode("utf-8"),
            )
            written.append(index)
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
        "fatal": fatal,
    }
    # The summary last: a part whose summary exists has written everything else.
    store.put_json(objects.part_summary_key(job_id, part.index), summary)
    now = utc_now()
    if fatal is not None:
        jobs.record_fatal(job_id, etag, split_attempt=attempt, fatal=fatal, now=now)
    jobs.record_part(job_id, etag, split_attempt=attempt, part=part.index, rows=records, now=now)
    return {"part": part.index, "records": records, "fatal": fatal is not None}
