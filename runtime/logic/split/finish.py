"""The split file's steps after parsing, and its ends: the single pass's outcome from what the
steps left in S3.

On success (`Finish`): the counts are sums (rows before the earliest fatal line only), the errors
and warnings are built as the single pass builds them (same codes, messages, first lines), the
report is the merge by line of the parts' rejections and the partitions' conflicts (each in line
order; one line has one entry), written by the same `ReportWriter`, so byte for byte the single
pass's. The merge streams: each fragment is read from S3 in ranged blocks (`merge_fragments`), so
memory is two blocks per fragment and no byte goes to `/tmp`, whatever the report's size. The
job is finished under the same conditions (PROCESSING, this ETag, the attempt that started the
execution), the file archived and `split/{jobId}/` deleted.

Before any write (`CheckKeys`): DynamoDB writes one partition key (a symbol) at most
`PER_KEY_WRITES_PER_SECOND` times a second, so a file whose hottest symbol has more rows than
the execution has seconds left (times that rate, less `FINISH_RESERVE_SECONDS`) cannot finish.
Such a job is FAILED at once with `PARTITION_KEY_TOO_HOT`, nothing stored, rather than after the
execution's timeout; the parts' summaries count the rows per symbol (`runtime.logic.split.keys`).

On failure (a step that failed through its retries, caught by the state machine: `FailJob`): the
job is FAILED with `PART_FAILED` naming the step (the catch's `stage`: on AWS a failed child of
a Distributed Map surfaces as `States.ExceedToleratedFailureThreshold`, and a timeout or
throttling names no part), without a report. A failure after writes may have begun (the
`WritePartitions` or `Finish` stage; without a stage: a partition's summary exists, a message
names a partition, or every part was parsed) says `ROWS_MAY_BE_STORED`, and the job counts what
is known: the rows the partitions that finished stored, the parts' rejections. The intermediate
objects stay, so the failed execution can be redriven. A redrive re-runs the failed items; its
finalizer may then finish that job once more (`JobStore.finish(redrive=True)`: only a job that
PART_FAILED alone ended, for the same attempt and ETag), with a `REDRIVEN_AFTER_PART_FAILED`
warning.

When the execution itself ends without finishing the job (Step Functions' "Execution Status
Change" event, TIMED_OUT / ABORTED / FAILED, which no Catch inside the definition sees): the job
is FAILED with `EXECUTION_TIMED_OUT` / `EXECUTION_ABORTED` / `EXECUTION_FAILED` naming the
execution, with the known counts as above, unless the execution already finished it (then its
owed event is published, nothing else). Redrivable as a part failure is.

The declared row count is checked as the single pass checks it (`runtime.logic.integrity`),
and the job's event (R27) is published once the job is final, before the housekeeping: a publish
that fails raises, so the retry of this task finds the job final and publishes the event it
still owes.

Idempotent: a job that is already final only gets its owed event and the housekeeping.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Protocol

from botocore.exceptions import ClientError

from runtime.contract import JobStatus, SplitState
from runtime.dal import objects
from runtime.dal.jobs import earlier_attempts, no_rows, utc_now
from runtime.dal.report import ReportWriter
from runtime.logic.csv_rules import Reason
from runtime.logic.integrity import control_total
from runtime.logic.split.plan import PartSpec
from runtime.logic.split.rows import read_fragment

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from runtime.dal.jobs import Job, JobStore
    from runtime.logic.events import JobEvents

SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
_ITEM = re.compile(r"\b(part|partition) (\d+)\b")

# The state machine's stages, as the catches name them (`$.stage`).
_STAGE_ITEM: Final[dict[str, str]] = {
    SplitState.PARSE_PARTS: "a part",
    SplitState.CHECK_KEYS: "the write budget check",
    SplitState.WRITE_PARTITIONS: "a partition",
    SplitState.FINISH: "the finish step",
}
# Stages at or after the first write.
_WRITING_STAGES: Final[frozenset[str]] = frozenset({SplitState.WRITE_PARTITIONS, SplitState.FINISH})

# The execution statuses that end it without the definition's own ending.
EXECUTION_ERRORS: Final = {
    "TIMED_OUT": ("EXECUTION_TIMED_OUT", "timed out"),
    "ABORTED": ("EXECUTION_ABORTED", "was aborted"),
    "FAILED": ("EXECUTION_FAILED", "failed"),
}

PER_KEY_WRITES_PER_SECOND: Final = 1000
"""DynamoDB's write limit of one partition key (the results table's `symbol`)."""
FINISH_RESERVE_SECONDS: Final = 15 * 60
"""The execution time kept for `Finish` after the writes: its three attempts at the function's
5 minutes."""

MERGE_BUFFER_BYTES: Final = 256 * 1024 * 1024
"""What the report merge's read blocks take at most (two blocks per fragment), above the
smallest block."""
MAX_MERGE_BLOCK: Final = 1024 * 1024
MIN_MERGE_BLOCK: Final = 64 * 1024
_MERGE_READERS: Final = 8
_SUMMARY_READERS: Final = 16


class IncompleteSplitError(Exception):
    """A step's summary is missing: the execution cannot have succeeded."""


def failed_item(failure: dict[str, Any] | None, stage: str | None = None) -> tuple[str, str]:
    """("part 3", its last error) from a Step Functions Catch's `{"Error", "Cause"}`; without
    an item named in it, the stage's ("a partition"), else "a step"."""
    failure = failure or {}
    error = str(failure.get("Error", "States.ALL"))
    cause = str(failure.get("Cause") or "")
    message = cause
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        parsed = json.loads(cause)
        message = str(parsed.get("errorMessage", cause))
        error = str(parsed.get("errorType", error))
    found = _ITEM.search(message) or _ITEM.search(cause)
    what = f"{found.group(1)} {found.group(2)}" if found else _STAGE_ITEM.get(stage or "", "a step")
    text = f"{error}: {message}" if message else error
    return what, text[:500]


def merge_block_bytes(fragments: int) -> int:
    """The read block of each of `fragments` fragments: two per fragment within
    `MERGE_BUFFER_BYTES`, between 64 KiB and 1 MiB."""
    share = MERGE_BUFFER_BYTES // (2 * max(1, fragments))
    return max(MIN_MERGE_BLOCK, min(MAX_MERGE_BLOCK, share))


class ReportSink(Protocol):
    def add(self, line: int, reason: str, cells: list[str]) -> None: ...
    def close(self) -> str | None: ...
    def abort(self) -> None: ...


def merge_fragments(
    s3: S3Client,
    bucket: str,
    keys: list[str],
    report: ReportSink,
    *,
    block_bytes: int | None = None,
) -> str | None:
    """Merge the fragments (JSON lines `[line, reason, cells]`, each in line order) by line into
    `report`; its key, or None when it got no row.

    Each fragment is read in ranged GETs of `block_bytes` (default `merge_block_bytes`), the
    next block fetched while the current one is merged: memory is two blocks per fragment plus
    the line each one is at, and nothing is written to disk.
    """
    block = block_bytes or merge_block_bytes(len(keys))
    try:
        with ThreadPoolExecutor(_MERGE_READERS, thread_name_prefix="report-merge") as pool:
            streams = [
                read_fragment(_fragment_lines(_ranged(s3, bucket, key, block), pool))
                for key in keys
            ]
            # Lines are unique across fragments, so the tuples never compare past the line.
            for line, reason, cells in heapq.merge(*streams):
                report.add(line, reason, cells)
        return report.close()
    except BaseException:
        report.abort()
        raise


def _ranged(s3: S3Client, bucket: str, key: str, block: int) -> Callable[[int], tuple[bytes, int]]:
    """A reader of `key`'s block at an offset: (its bytes, the object's size)."""

    def read(offset: int) -> tuple[bytes, int]:
        try:
            response = s3.get_object(
                Bucket=bucket, Key=key, Range=f"bytes={offset}-{offset + block - 1}"
            )
        except ClientError as exc:
            if objects.error_code(exc) == "InvalidRange":  # an empty object
                return b"", 0
            raise
        data: bytes = response["Body"].read()
        content_range = str(response.get("ContentRange") or "")
        size = int(content_range.rsplit("/", 1)[1]) if "/" in content_range else offset + len(data)
        return data, size

    return read


def _fragment_lines(
    read: Callable[[int], tuple[bytes, int]], pool: ThreadPoolExecutor
) -> Iterator[str]:
    """The lines of one fragment (without their newline), block by block, one block ahead."""
    pending: Future[tuple[bytes, int]] | None = pool.submit(read, 0)
    offset = 0
    tail = b""
    while pending is not None:
        data, size = pending.result()
        offset += len(data)
        pending = pool.submit(read, offset) if data and offset < size else None
        if tail:
            data = tail + data
        # UTF-8 never has a newline byte inside a character: cutting at one is safe.
        cut = len(data) if pending is None else data.rfind(b"\n") + 1
        tail = data[cut:]
        if not cut:
            continue  # a line longer than the block: read on
        text = data[:cut].decode("utf-8")
        del data
        # Only "\n" ends a line (str.splitlines would also cut at U+2028 inside a cell).
        start = 0
        while (end := text.find("\n", start)) >= 0:
            yield text[start:end]
            start = end + 1
        if start < len(text):
            yield text[start:]


class SplitFinisher:
    def __init__(
        self, s3: S3Client, store: objects.ObjectStore, jobs: JobStore, events: JobEvents
    ) -> None:
        self._s3 = s3
        self._store = store
        self._jobs = jobs
        self._events = events

    # The state machine's FailJob and Finish

    def finish(
        self,
        *,
        job_id: str,
        key: str,
        etag: str,
        attempt: int,
        outcome: str,
        failure: dict[str, Any] | None = None,
        stage: str | None = None,
    ) -> dict[str, Any]:
        job = self._jobs.get(job_id)
        if job is None:
            return {"jobId": job_id, "outcome": "no-job"}
        redrive = False
        if job.is_final or job.etag != etag or job.split_attempt != attempt:
            redrive = (
                outcome == SUCCEEDED
                and job.status == JobStatus.FAILED
                and job.part_failed
                and job.etag == etag
                and job.split_attempt == attempt
            )
            if not redrive:
                return self._already_final(job, key, etag)
        if outcome != SUCCEEDED:
            return self._part_failed(job, attempt, failure, stage)
        return self._succeeded(job, key, etag, attempt, redrive)

    def _already_final(self, job: Job, key: str, etag: str) -> dict[str, Any]:
        if job.is_final:
            self._events.publish(job)
        if job.is_final and job.etag == etag and not job.part_failed:
            self._housekeeping(job.job_id, key, etag)
        return {"jobId": job.job_id, "outcome": "duplicate", "status": job.status}

    def _part_failed(
        self, job: Job, attempt: int, failure: dict[str, Any] | None, stage: str | None
    ) -> dict[str, Any]:
        what, message = failed_item(failure, stage)
        writes_began = self._writes_began(job, stage, named=what)
        counts = self._known_counts(job) if writes_began else None
        failed = what
        if counts is not None and what == _STAGE_ITEM[SplitState.WRITE_PARTITIONS]:
            # Step Functions named none: those without a summary failed or never ran.
            missing = [str(i) for i in range(counts[2]) if i not in counts[1]]
            if missing:
                shown = ", ".join(missing[:20]) + (", ..." if len(missing) > 20 else "")
                failed = f"{what} (partitions without a summary: {shown})"
        return self._fail(
            job,
            attempt,
            {"code": "PART_FAILED", "message": f"{failed} failed: {message}"},
            counts=counts,
            answer={"failed": what},
        )

    def _fail(
        self,
        job: Job,
        attempt: int,
        error: dict[str, Any],
        *,
        counts: tuple[dict[str, int], set[int], int] | None,
        answer: dict[str, Any],
    ) -> dict[str, Any]:
        """FAILED, redrivable (`partFailed`); with `counts` (`_known_counts`) when writes may
        have begun."""
        warnings = earlier_attempts(job.errors)
        rows = no_rows()
        if counts is not None:
            rows, written, partitions = counts
            warnings.append(
                {
                    "code": "ROWS_MAY_BE_STORED",
                    "message": (
                        f"{rows['accepted']} rows of the {len(written)} of {partitions} "
                        "partitions written before the failure are stored; the others may "
                        "have stored some of theirs"
                    ),
                }
            )
        finished = self._jobs.finish(
            job.job_id,
            job.etag,
            attempt=attempt,
            status=JobStatus.FAILED,
            rows=rows,
            errors=[error],
            warnings=warnings,
            report_key=None,
            now=utc_now(),
            parts_done=job.parts_done,
            split=True,
            part_failed=True,
        )
        if finished is not None:
            self._events.publish(finished)
        return {
            "jobId": job.job_id,
            "outcome": "failed" if finished else "superseded",
            "status": JobStatus.FAILED,
            **answer,
        }

    def _writes_began(self, job: Job, stage: str | None, *, named: str = "") -> bool:
        """Whether rows may be in the table: the failed stage says so; without one, what S3
        and the job show (a partition named or summarised, every part parsed)."""
        if stage in _WRITING_STAGES:
            return True
        if stage is not None and stage in _STAGE_ITEM:
            return False
        if named.startswith("partition "):
            return True
        if job.parts_total and job.parts_done >= job.parts_total:
            return True  # WritePartitions may have started
        partitions = self._partition_count(job.job_id)
        return any(
            summary is not None
            for summary in self._summaries(
                [objects.partition_summary_key(job.job_id, i) for i in range(partitions)]
            )
        )

    def _partition_count(self, job_id: str) -> int:
        manifest = self._store.get_json(objects.parts_manifest_key(job_id))
        return PartSpec.from_json(manifest[0]).partitions if manifest else 0

    def _known_counts(self, job: Job) -> tuple[dict[str, int], set[int], int]:
        """The counts of what the finished steps recorded: (rows, the partitions written, how
        many partitions). The parts' rejections (every part ran before a write) and each
        written partition's stored rows, duplicates and conflicts."""
        manifest = self._store.get_json(objects.parts_manifest_key(job.job_id))
        if not manifest:
            return no_rows(), set(), 0
        parts = [PartSpec.from_json(item) for item in manifest]
        partitions = parts[0].partitions
        part_summaries = self._part_summaries(job, parts, required=False)
        partition_summaries = [
            summary
            for summary in self._summaries(
                [objects.partition_summary_key(job.job_id, i) for i in range(partitions)]
            )
            if summary is not None
        ]
        written = {int(s["index"]) for s in partition_summaries}
        accepted = sum(int(s["accepted"]) for s in partition_summaries)
        duplicates = sum(int(s["duplicates"]) for s in partition_summaries)
        rejected = sum(int(s["rejected"]) for s in part_summaries) + sum(
            int(s["conflicts"]) for s in partition_summaries
        )
        rows = {
            "total": accepted + rejected + duplicates,
            "accepted": accepted,
            "rejected": rejected,
            "duplicates": duplicates,
        }
        return rows, written, partitions

    def _summaries(self, keys: list[str]) -> list[Any]:
        """The JSON objects at `keys` (None where there is none), read in parallel."""
        if len(keys) <= 1:
            return [self._store.get_json(key) for key in keys]
        with ThreadPoolExecutor(min(_SUMMARY_READERS, len(keys))) as pool:
            return list(pool.map(self._store.get_json, keys))

    def _part_summaries(
        self, job: Job, parts: list[PartSpec], *, required: bool
    ) -> list[dict[str, Any]]:
        """The summaries of the parts before the earliest fatal line (the single pass never read
        the others); raises `IncompleteSplitError` for a missing one when `required`."""
        fatal_line = int(job.split_fatal["line"]) if job.split_fatal else None
        read = [spec for spec in parts if fatal_line is None or spec.line < fatal_line]
        summaries = self._summaries(
            [objects.part_summary_key(job.job_id, spec.index) for spec in read]
        )
        found = []
        for spec, summary in zip(read, summaries, strict=True):
            if summary is None:
                if required:
                    raise IncompleteSplitError(f"part {spec.index}: no summary")
                continue
            found.append(summary)
        return found

    def _succeeded(
        self, job: Job, key: str, etag: str, attempt: int, redrive: bool
    ) -> dict[str, Any]:
        job_id = job.job_id
        manifest = self._store.get_json(objects.parts_manifest_key(job_id))
        parts = [PartSpec.from_json(item) for item in manifest]
        partitions = parts[0].partitions
        fatal = job.split_fatal
        fatal_line = int(fatal["line"]) if fatal else None
        part_summaries = self._part_summaries(job, parts, required=True)
        partition_summaries = []
        found = self._summaries(
            [objects.partition_summary_key(job_id, index) for index in range(partitions)]
        )
        for index, summary in enumerate(found):
            if summary is None:
                raise IncompleteSplitError(f"partition {index}: no summary")
            partition_summaries.append(summary)

        reasons: Counter[str] = Counter()
        first_line: dict[str, int] = {}
        for summary in part_summaries:
            reasons.update(summary["reasons"])
            for reason, line in summary["firstLine"].items():
                first_line[reason] = min(int(line), first_line.get(reason, int(line)))
        accepted = sum(int(s["accepted"]) for s in partition_summaries)
        duplicates = sum(int(s["duplicates"]) for s in partition_summaries)
        conflicts = sum(int(s["conflicts"]) for s in partition_summaries)
        if conflicts:
            reasons[Reason.CONFLICTING_DUPLICATE] += conflicts
            first_line[Reason.CONFLICTING_DUPLICATE] = min(
                int(s["firstConflict"]) for s in partition_summaries if s["conflicts"]
            )
        rejected = sum(reasons.values())
        rows = {
            "total": accepted + rejected + duplicates,
            "accepted": accepted,
            "rejected": rejected,
            "duplicates": duplicates,
        }
        extra = list(parts[0].header.extra_columns)
        extra_warning = (
            [{"code": "EXTRA_COLUMNS_IGNORED", "message": "ignored column(s): " + ", ".join(extra)}]
            if extra
            else []
        )
        warnings = earlier_attempts(job.errors)
        report_key: str | None = None
        if fatal is not None:
            if accepted:
                warnings.append(
                    {
                        "code": "ROWS_STORED_BEFORE_FAILURE",
                        "message": f"{accepted} rows before line {fatal_line} were stored",
                    }
                )
            warnings.extend(extra_warning)
            entry: dict[str, Any] = {"code": fatal["code"], "message": fatal["message"]}
            if fatal.get("line") is not None:
                entry["line"] = int(fatal["line"])
            errors = [entry]
            status = JobStatus.FAILED
        else:
            warnings.extend(extra_warning)
            errors = [
                {
                    "code": reason,
                    "message": f"{count} row(s) rejected",
                    "count": count,
                    "line": first_line[reason],
                }
                for reason, count in sorted(reasons.items())
            ]
            status = JobStatus.COMPLETED_WITH_ERRORS if rejected else JobStatus.COMPLETED
            status, errors = control_total(
                status, errors, expected_rows=job.expected_rows, total=rows["total"]
            )
            if rejected:
                fragments = [
                    objects.part_rejects_key(job_id, int(s["index"]))
                    for s in part_summaries
                    if s["rejected"]
                ] + [
                    objects.partition_conflicts_key(job_id, int(s["index"]))
                    for s in partition_summaries
                    if s["conflicts"]
                ]
                report_key = merge_fragments(
                    self._s3,
                    self._store.bucket,
                    fragments,
                    ReportWriter(self._s3, self._store.bucket, objects.report_key(job_id)),
                )
        if redrive:
            warnings.append(
                {
                    "code": "REDRIVEN_AFTER_PART_FAILED",
                    "message": "a part failed, and the redriven execution completed the job",
                }
            )
        finished = self._jobs.finish(
            job_id,
            etag,
            attempt=attempt,
            status=status,
            rows=rows,
            errors=errors,
            warnings=warnings,
            report_key=report_key,
            now=utc_now(),
            parts_done=len(parts),
            split=True,
            redrive=redrive,
        )
        if finished is None:
            return {"jobId": job_id, "outcome": "superseded"}
        self._events.publish(finished)
        self._housekeeping(job_id, key, etag)
        return {"jobId": job_id, "outcome": "processed", "status": status, "rows": rows}

    # CheckKeys: the write budget of the hottest symbol

    def check_keys(
        self,
        *,
        job_id: str,
        key: str,
        etag: str,
        attempt: int,
        started_at: datetime,
        timeout_seconds: float,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """`{"write": True}` when the writes may start; else the job is final (refused here,
        or already) and `{"write": False}` ends the execution before any write.

        The answer never names a symbol: the state machine logs it."""
        job = self._jobs.get(job_id)
        if job is None:
            return {"jobId": job_id, "write": False, "outcome": "no-job"}
        ours = job.etag == etag and job.split_attempt == attempt
        redrive = ours and job.status == JobStatus.FAILED and job.part_failed
        if not ours:
            return {**_superseded(job), "write": False}
        if job.is_final and not redrive:
            return {**self._already_final(job, key, etag), "write": False}
        manifest = self._store.get_json(objects.parts_manifest_key(job_id))
        parts = [PartSpec.from_json(item) for item in manifest]
        totals: Counter[str] = Counter()
        for summary in self._part_summaries(job, parts, required=True):
            totals.update({str(s): int(n) for s, n in (summary.get("symbolRows") or {}).items()})
        if not totals:
            return {"jobId": job_id, "write": True, "hottestRows": 0}
        symbol, hottest = totals.most_common(1)[0]
        now = now or utc_now()
        elapsed = (now - started_at).total_seconds()
        left = timeout_seconds - elapsed - FINISH_RESERVE_SECONDS
        needed = hottest / PER_KEY_WRITES_PER_SECOND
        if needed <= left:
            return {"jobId": job_id, "write": True, "hottestRows": hottest}
        error = {
            "code": "PARTITION_KEY_TOO_HOT",
            "message": (
                f"symbol {symbol} has {hottest} rows: at DynamoDB's "
                f"{PER_KEY_WRITES_PER_SECOND} writes/s per partition key they take "
                f"{_duration(needed)}, more than the {_duration(max(0.0, left))} the execution "
                f"has left of its {_duration(timeout_seconds)}; no row was stored (split the "
                "file by symbol)"
            ),
        }
        finished = self._jobs.finish(
            job_id,
            etag,
            attempt=attempt,
            status=JobStatus.FAILED,
            rows=no_rows(),
            errors=[error],
            warnings=earlier_attempts(job.errors),
            report_key=None,
            now=now,
            parts_done=job.parts_done,
            split=True,
            redrive=redrive,
        )
        if finished is None:
            return {"jobId": job_id, "write": False, "outcome": "superseded"}
        self._events.publish(finished)
        self._housekeeping(job_id, key, etag)
        return {
            "jobId": job_id,
            "write": False,
            "outcome": "refused",
            "error": "PARTITION_KEY_TOO_HOT",
            "hottestRows": hottest,
        }

    # Step Functions' own status change: the execution ended without the definition's ending

    def execution_ended(self, detail: dict[str, Any]) -> dict[str, Any]:
        """Fail the job of an execution that timed out, was aborted or failed, unless the
        execution finished it (then only its owed event). `detail` is the EventBridge event's.

        The execution's input (`detail.input`, a JSON string) names the job, its ETag and the
        attempt; when EventBridge left it out (over 248 KB), the execution's name is the job
        id and the job's own split attempt the one that started it (only one execution per
        job starts)."""
        status = str(detail.get("status", ""))
        arn = str(detail.get("executionArn", ""))
        if status not in EXECUTION_ERRORS:
            return {"outcome": "ignored", "status": status}
        started: dict[str, Any] = {}
        with contextlib.suppress(ValueError, TypeError):
            started = dict(json.loads(detail.get("input") or "{}"))
        job_id = str(started.get("jobId") or detail.get("name") or "")
        job = self._jobs.get(job_id) if job_id else None
        if job is None:
            return {"jobId": job_id, "outcome": "no-job"}
        etag = str(started.get("etag") or job.etag)
        attempt = int(started.get("attempt") or job.split_attempt)
        key = str(started.get("key") or job.object_key)
        if job.is_final:
            # Finished by its execution (or another): only the event it may still owe.
            return self._already_final(job, key, etag)
        if (
            job.status != JobStatus.PROCESSING
            or not job.split_attempt
            or job.etag != etag
            or job.split_attempt != attempt
        ):
            return _superseded(job)
        code, verb = EXECUTION_ERRORS[status]
        message = f"execution {arn} {verb}"
        error, cause = detail.get("error"), detail.get("cause")
        if error or cause:
            message += f": {error or ''}{': ' if error and cause else ''}{cause or ''}"
        return self._fail(
            job,
            attempt,
            {"code": code, "message": message[:1000]},
            counts=self._known_counts(job) if self._writes_began(job, None) else None,
            answer={"execution": arn},
        )

    def _housekeeping(self, job_id: str, key: str, etag: str) -> None:
        if not self._store.archive(job_id, key, etag):
            pass  # already archived by an earlier run, or replaced meanwhile
        self._store.delete_split(job_id)


def _superseded(job: Job) -> dict[str, Any]:
    return {"jobId": job.job_id, "outcome": "superseded", "status": job.status}


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def parse_time(value: str) -> datetime:
    """A Step Functions time (`$$.Execution.StartTime`: ISO 8601, UTC, ending in `Z`)."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
