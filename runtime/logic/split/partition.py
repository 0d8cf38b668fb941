"""One partition of a split file: decide its keys' duplicates in line order, write the winners.

Every row of a key is in this partition (routed by the key), and reading the parts' objects in
part order gives its rows in file line order (parts are consecutive ranges, each written in line
order). So the first row of a key seen here is the first in the file, exactly the single pass's
winner; an identical repeat is a duplicate, a different one a CONFLICTING_DUPLICATE with its line
and cells. Rows at or after the file's earliest fatal line (known once every part has run) are
neither counted nor stored, as in the single pass.

The index maps a key fingerprint to a value fingerprint, as `CsvParser` does; Python's keyed
`hash` is fine here because one invocation decides all of a partition's keys. Memory: that index
(the planner sizes partitions so that it stays under the single pass's budget) plus one object.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime.dal import objects
from runtime.dal.jobs import utc_now
from runtime.dal.results_writer import BatchWriter
from runtime.logic.csv_rules import Reason
from runtime.logic.split.rows import fragment_line, read_rows

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from runtime.dal.jobs import JobStore


class PartitionError(Exception):
    """A partition could not be written; the message names it (PART_FAILED quotes it)."""


def write_partition(
    store: objects.ObjectStore,
    jobs: JobStore,
    dynamodb: DynamoDBClient,
    *,
    results_table: str,
    write_concurrency: int,
    job_id: str,
    index: int,
    etag: str,
    attempt: int,
) -> dict[str, Any]:
    job = jobs.get(job_id)
    if job is None:
        raise PartitionError(f"partition {index}: the job is gone")
    fatal_line = int(job.split_fatal["line"]) if job.split_fatal else None
    seen: dict[int, int] = {}
    accepted = duplicates = conflicts = 0
    first_conflict: int | None = None
    report: list[str] = []
    writer = BatchWriter(dynamodb, results_table, job_id, write_concurrency)
    try:
        for key in store.keys_under(objects.partition_rows_prefix(job_id, index)):
            data = store.get_bytes(key)
            if data is None:
                raise PartitionError(f"partition {index}: {key} disappeared")
            stop = False
            for row in read_rows(data):
                line = int(row[0])
                if fatal_line is not None and line >= fatal_line:
                    stop = True  # every later row, here and in later parts, is after it
                    break
                symbol, timestamp, price, volume = row[1], row[2], row[3], row[4]
                fingerprint = hash(symbol + "|" + timestamp)
                value = hash(price + "|" + volume)
                size = len(seen)
                first = seen.setdefault(fingerprint, value)
                if len(seen) != size:
                    accepted += 1
                    writer.add((symbol, timestamp, price, volume))
                elif first == value:
                    duplicates += 1
                else:
                    conflicts += 1
                    if first_conflict is None:
                        first_conflict = line
                    report.append(fragment_line(line, Reason.CONFLICTING_DUPLICATE, row[5:]))
            if stop:
                break
        writer.flush()
    finally:
        writer.close()
    if report:
        store.put(objects.partition_conflicts_key(job_id, index), "".join(report).encode())
    summary = {
        "index": index,
        "accepted": accepted,
        "duplicates": duplicates,
        "conflicts": conflicts,
        "firstConflict": first_conflict,
    }
    store.put_json(objects.partition_summary_key(job_id, index), summary)
    jobs.touch(job_id, etag, split_attempt=attempt, now=utc_now())
    return {"partition": index, "accepted": accepted}
