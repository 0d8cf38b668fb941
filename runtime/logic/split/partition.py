"""One partition of a split file: decide its keys' duplicates in line order, write the winners.

Every row of a key is in this partition (routed by the key), and reading the parts' objects in
part order gives its rows in file line order (parts are consecutive ranges, each written in line
order). So the first row of a key seen here is the first in the file, exactly the single pass's
winner; an identical repeat is a duplicate, a different one a CONFLICTING_DUPLICATE with its line
and cells. Rows at or after the file's earliest fatal line (known once every part has run) are
neither counted nor stored, as in the single pass.

The index maps a key fingerprint to a value fingerprint, as `CsvParser` does; Python's keyed
`hash` is fine here because one invocation decides all of a partition's keys. Memory: that index
(the planner sizes partitions so that it stays under the single pass's budget), one routed-rows
object, and at most one part (8 MiB) of conflicts: they go to their one object
(`partition_conflicts_key`, what the finisher merges) as an S3 multipart upload once they pass a
part, as the single pass streams its report, so a key repeated millions of times with other
values costs no more memory than a few conflicts do. The upload needs `s3:PutObject` (create,
upload part, complete) and, when the partition fails after a part went out,
`s3:AbortMultipartUpload` on `split/*`; an upload left open (the abort refused, or a crash) is
removed by the bucket's incomplete-multipart-upload lifecycle rule, and a retry writes the object
anew.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from runtime.dal import objects
from runtime.dal.jobs import utc_now
from runtime.dal.results_writer import BatchWriter
from runtime.logic.csv_rules import Reason
from runtime.logic.split.rows import fragment_line, read_rows

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

    from runtime.dal.jobs import JobStore

log = logging.getLogger(__name__)

# One part of the conflicts' upload: the most their lines take in memory. S3 takes parts of 5 MiB
# and more (the last one excepted), 10,000 of them: 78 GiB of conflicts, far past any file.
CONFLICTS_PART_BYTES = 8 * 1024 * 1024


class PartitionError(Exception):
    """A partition could not be written; the message names it (PART_FAILED quotes it)."""


class _Conflicts:
    """A partition's conflicting repeats (fragment lines, in line order) into the one object
    `key`: one PutObject when they fit in `part_bytes`, else a multipart upload of parts of
    `part_bytes`, so at most one part is held (its lines, plus one copy while it is sent)."""

    def __init__(self, store: objects.ObjectStore, key: str, part_bytes: int) -> None:
        self._store = store
        # The store has no multipart calls; they go to its client, on its bucket.
        self._client: S3Client = store._client
        self._key = key
        self._part_bytes = part_bytes
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []

    def add(self, line: str) -> None:
        self._buffer += line.encode("utf-8")
        if len(self._buffer) >= self._part_bytes:
            self._send_part()

    def _send_part(self) -> None:
        body = bytes(self._buffer)
        self._buffer.clear()
        if self._upload_id is None:
            created = self._client.create_multipart_upload(
                Bucket=self._store.bucket, Key=self._key, ContentType="application/octet-stream"
            )
            self._upload_id = created["UploadId"]
        number = len(self._parts) + 1
        sent = self._client.upload_part(
            Bucket=self._store.bucket,
            Key=self._key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=body,
        )
        self._parts.append({"ETag": sent["ETag"], "PartNumber": number})

    def close(self) -> None:
        """Finish the object (none when there was no conflict)."""
        if self._upload_id is None:
            if self._buffer:
                self._store.put(self._key, bytes(self._buffer))
                self._buffer.clear()
            return
        if self._buffer:
            self._send_part()
        self._client.complete_multipart_upload(
            Bucket=self._store.bucket,
            Key=self._key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},  # type: ignore[typeddict-item]
        )
        self._upload_id = None

    def abort(self) -> None:
        """Abandon an open upload. Best effort: the partition is failing for another reason,
        which must stay the one reported; the lifecycle rule removes what is left."""
        self._buffer.clear()
        if self._upload_id is None:
            return
        upload_id, self._upload_id = self._upload_id, None
        try:
            self._client.abort_multipart_upload(
                Bucket=self._store.bucket, Key=self._key, UploadId=upload_id
            )
        except (ClientError, BotoCoreError) as exc:
            log.warning(
                "conflicts upload not aborted; the lifecycle rule will remove it",
                extra={"key": self._key, "error": str(exc)},
            )


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
    conflicts_budget: int | None = None,
) -> dict[str, Any]:
    """Settle partition `index` and write its winners; returns its summary. `conflicts_budget`:
    the conflicts' bytes held in memory, one part of their upload (`CONFLICTS_PART_BYTES`)."""
    job = jobs.get(job_id)
    if job is None:
        raise PartitionError(f"partition {index}: the job is gone")
    fatal_line = int(job.split_fatal["line"]) if job.split_fatal else None
    seen: dict[int, int] = {}
    accepted = duplicates = conflicts = 0
    first_conflict: int | None = None
    report = _Conflicts(
        store,
        objects.partition_conflicts_key(job_id, index),
        CONFLICTS_PART_BYTES if conflicts_budget is None else conflicts_budget,
    )
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
                    report.add(fragment_line(line, Reason.CONFLICTING_DUPLICATE, row[5:]))
            if stop:
                break
        writer.flush()
        report.close()
    except BaseException:
        report.abort()
        raise
    finally:
        writer.close()
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
