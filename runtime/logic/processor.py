"""Processor: an object created under `incoming/` -> validated rows in the results table.

Idempotent per (bucket, key, ETag): the job records the ETag it claimed; a repeated event for a
finished job only completes the housekeeping (the move to `processed/`), a retry of a PROCESSING
job with the same ETag starts over and rewrites the same items. A file that no job will process
(no job for its key, or another file than the one the job took, while it runs or after it ended)
is moved to quarantine, never deleted, and the job, when there is one, says so in a
`FILE_QUARANTINED` warning with the key (`runtime.dal.objects`).

Memory is flat whatever the file size: the object is streamed, the writes in flight are bounded,
and the duplicate index holds at most `DEDUP_INDEX_MAX_KEYS` keys; a file with more distinct keys
is read a second time and settled from spill files under `SPILL_DIR` (`runtime.logic.dedup`:
24 bytes of disk per row after the index filled up, removed when the attempt ends, success or
not).

A file above `SPLIT_THRESHOLD_BYTES` is not parsed here (R23): the processor hands it to the
split path (`runtime.logic.split.start`), which plans its parts, writes the manifests under
`split/{jobId}/`, records the attempt that splits it on the job and starts the state machine
execution named after the job. A repeated event for that job re-issues the same StartExecution
(idempotent) and claims nothing, so one execution runs per job and only it may finish the job.

Data errors (encoding, header, quoting, size) end the job FAILED and return normally: retrying
would not help. Infrastructure errors leave a trail on the job and raise, so Lambda retries the
event and, after the last retry, sends it to the failure destination.

Integrity (R28): the object's SHA-256 is computed from the chunks the parse (or the planner)
reads and recorded on the final job. When the upload declared one, it is checked before any row
is stored: a different file fails the job `CHECKSUM_MISMATCH`, with nothing stored and no report.
A declared row count that differs from the file's is a `CONTROL_TOTAL_MISMATCH` error
(`runtime.logic.integrity`).

Job events (R27): whoever finishes the job publishes its event (`runtime.logic.events`) before
the file is archived; a publish that fails raises, and the retry, which finds the job final,
publishes the event the job still owes and archives the file. Any S3 event for a final job does
the same.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from runtime.contract import ROW_COUNTS, JobStatus, Metric
from runtime.dal import objects
from runtime.dal.jobs import Job, JobStore, earlier_attempts, no_rows, utc_now
from runtime.dal.report import ReportWriter
from runtime.dal.results_writer import BatchWriter
from runtime.errors import TimeoutRiskError
from runtime.logic.csv_parser import CsvFileError, CsvParser, FileReason
from runtime.logic.csv_rules import MARKET_DATA
from runtime.logic.dedup import SpillIndex, partitions_for, remove_stale
from runtime.logic.events import EventPublishError, JobEvents
from runtime.logic.integrity import (
    CHECKSUM_MISMATCH,
    DigestingChunks,
    checksum_error,
    control_total,
)
from runtime.logic.split.start import SplitStart
from runtime.observability import logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

    from runtime.settings import Settings


@dataclass(slots=True)
class Claim:
    """One attempt at one object, after the job was claimed for it."""

    job_id: str
    ref: objects.ObjectRef
    etag: str
    attempt: int
    started: float
    warnings: list[dict[str, Any]]
    # What POST /upload declared of the file (R28), from the job.
    expected_sha256: str = ""
    expected_rows: int | None = None


def _extra_columns(parser: CsvParser) -> list[dict[str, Any]]:
    if not parser.extra_columns:
        return []
    return [
        {
            "code": "EXTRA_COLUMNS_IGNORED",
            "message": "ignored column(s): " + ", ".join(parser.extra_columns),
        }
    ]


def _replaced() -> CsvFileError:
    return CsvFileError("OBJECT_REPLACED", "the file was replaced or deleted before it was read")


class Processor:
    def __init__(
        self,
        settings: Settings,
        s3: S3Client,
        dynamodb: DynamoDBClient,
        context: LambdaContext | None,
        stepfunctions: SFNClient | None = None,
        *,
        events: EventBridgeClient | None = None,
    ) -> None:
        self._settings = settings
        self._s3 = s3
        self._dynamodb = dynamodb
        self._context = context
        self._jobs = JobStore(dynamodb, settings.jobs_table)
        self._events = (
            JobEvents(events, settings.event_bus_arn, self._jobs) if events is not None else None
        )
        self._objects = objects.ObjectStore(s3, settings.bucket)
        self._split_start = SplitStart(settings, self._objects, self._jobs, stepfunctions)
        timeout_ms = settings.processor_timeout_seconds * 1000
        # Room to drain the writes in flight, abort the report and record the trail.
        self._margin_ms = max(5_000, min(20_000, timeout_ms // 10))

    # -- one object ------------------------------------------------------------------------

    def handle(self, ref: objects.ObjectRef) -> dict[str, Any]:
        job_id = objects.job_id_of_upload(ref.key)
        if ref.bucket != self._objects.bucket or job_id is None:
            logger.warning("ignored object", extra={"bucket": ref.bucket, "key": ref.key})
            return {"key": ref.key, "outcome": "ignored"}
        logger.append_keys(jobId=job_id)
        head = self._objects.head(ref.key)
        if head is None:
            logger.info("object already moved or deleted", extra={"key": ref.key})
            # A retry after a publish that failed once the file was archived.
            gone = self._jobs.get(job_id)
            if gone is not None:
                self._publish(gone)
            return {"jobId": job_id, "outcome": "gone"}
        etag = head.etag
        if ref.etag and ref.etag != etag:
            logger.info("stale event: the object was replaced", extra={"etag": ref.etag})
            return {"jobId": job_id, "outcome": "stale"}

        job = self._jobs.get(job_id)
        if job is None:
            moved = self._objects.quarantine(job_id, ref.key, etag)
            logger.warning("object without a job: quarantined", extra={"quarantineKey": moved})
            return {"jobId": job_id, "outcome": "orphan", "quarantineKey": moved}
        if job.is_final:
            # A retry or a repeated event: first the event the job may still owe.
            self._publish(job)
            if job.etag == etag:
                if not self._objects.archive(job_id, ref.key, etag):
                    logger.info("file of the finished job already moved")
                return {"jobId": job_id, "outcome": "duplicate", "status": job.status}
            return self._quarantine_other_file(job, ref.key, etag, "after the job ended")
        if job.status == JobStatus.PROCESSING and job.etag != etag:
            return self._quarantine_other_file(job, ref.key, etag, "while the first was processed")
        if job.status == JobStatus.PROCESSING and job.split_attempt:
            # Planned already: start (again) the one execution of that attempt.
            self._split_start.start_execution(job_id, ref.bucket, ref.key, etag, job.split_attempt)
            return {"jobId": job_id, "outcome": "split", "parts": job.parts_total}

        attempt = self._jobs.claim(job_id, etag, ref.key, utc_now())
        if attempt is None:
            logger.info("job taken by another object or finished meanwhile")
            return {"jobId": job_id, "outcome": "not-claimed"}
        claim = Claim(
            job_id,
            ref,
            etag,
            attempt,
            time.monotonic(),
            earlier_attempts(job.errors),
            expected_sha256=job.expected_sha256,
            expected_rows=job.expected_rows,
        )
        try:
            return self._run(claim, head.size)
        except EventPublishError:
            raise  # the job is final; only its event is owed, which the retry publishes
        except Exception as exc:
            code = getattr(exc, "code", None) or type(exc).__name__
            if isinstance(exc, ClientError):
                code = objects.error_code(exc) or code
            logger.exception("attempt failed", extra={"attempt": attempt})
            try:
                self._jobs.record_attempt_error(
                    job_id, etag, attempt=attempt, code=str(code), message=str(exc), now=utc_now()
                )
            except Exception:
                logger.exception("could not record the failed attempt on the job")
            raise

    def _quarantine_other_file(self, job: Job, key: str, etag: str, when: str) -> dict[str, Any]:
        """A file the job will never process: keep it in quarantine and say so on the job."""
        moved = self._objects.quarantine(job.job_id, key, etag)
        if moved is None:
            logger.info("the other file was moved or replaced meanwhile", extra={"etag": etag})
            return {"jobId": job.job_id, "outcome": "gone"}
        self._jobs.add_warning(
            job.job_id,
            "FILE_QUARANTINED",
            f"another file (ETag {etag}) arrived {when}; it was not processed and was moved "
            f"to {moved}",
            utc_now(),
            details={"key": moved},
        )
        logger.warning("second upload quarantined", extra={"quarantineKey": moved})
        return {
            "jobId": job.job_id,
            "outcome": "second-upload",
            "status": job.status,
            "quarantineKey": moved,
        }

    def _check_time(self, _records: int = 0) -> None:
        if self._context is None:
            return
        if self._context.get_remaining_time_in_millis() < self._margin_ms:
            raise TimeoutRiskError(
                "stopped before the function timeout; the retry starts the file over"
            )

    def _run(self, claim: Claim, size: int) -> dict[str, Any]:
        if size > self._settings.max_upload_bytes:
            error = CsvFileError(
                FileReason.FILE_TOO_LARGE,
                f"{size} bytes is over the {self._settings.max_upload_bytes}-byte limit",
            )
            return self._fail(claim, error, None)
        if self._split_start.wanted(size):
            split = self._split(claim, size)
            if split is not None:
                return split
            logger.info("the planner leaves this file to the single pass")

        verified: str | None = None
        if claim.expected_sha256:
            # Checked before any row is stored, so one more streamed read of the object; files on
            # the single pass are below the split threshold, so that read is small.
            source = self._open(claim)
            if source is None:
                return self._fail(claim, _replaced(), None)
            verified = DigestingChunks(source).finish(self._check_time)
            if verified != claim.expected_sha256:
                return self._fail_checksum(claim, verified)

        ref = claim.ref
        report = ReportWriter(self._s3, ref.bucket, objects.report_key(claim.job_id))
        writer = BatchWriter(
            self._dynamodb,
            self._settings.results_table,
            claim.job_id,
            self._settings.write_concurrency,
        )
        max_keys = self._settings.dedup_index_max_keys
        remove_stale(self._settings.spill_dir)
        spill = SpillIndex(self._settings.spill_dir, partitions_for(size, max_keys))
        try:
            opened = self._open(claim)
            if opened is None:
                return self._fail(claim, _replaced(), None)
            chunks = DigestingChunks(opened)
            parser = CsvParser(
                chunks,
                MARKET_DATA,
                on_reject=report.add,
                on_progress=self._check_time,
                max_keys=max_keys,
                spill=spill,
            )
            try:
                for row in parser:
                    writer.add(row)
                # The first pass read the object up to its end or to a deferred failure.
                sha256 = verified or chunks.finish(self._check_time)
                if parser.switched_at is not None:
                    # More distinct keys than the index budget: settle the rest in a second pass.
                    logger.info(
                        "second pass",
                        extra={"line": parser.switched_at, "partitions": spill.partitions},
                    )
                    again = self._open(claim)
                    if again is None:
                        writer.flush()
                        report.abort()
                        return self._fail(claim, _replaced(), parser, sha256)
                    parser = CsvParser(
                        again,
                        MARKET_DATA,
                        on_reject=report.add,
                        on_progress=self._check_time,
                        resume=parser,
                    )
                    for row in parser:
                        writer.add(row)
            except CsvFileError as error:
                # Rows accepted before the fatal line are stored, so the counts match the table
                # whatever the batch boundaries; the job says so in a warning.
                writer.flush()
                report.abort()
                if writer.written:
                    claim.warnings.append(
                        {
                            "code": "ROWS_STORED_BEFORE_FAILURE",
                            "message": f"{writer.written} rows before line {error.line} "
                            "were stored",
                        }
                    )
                # The rest of the object is read for its digest only.
                return self._fail(claim, error, parser, verified or chunks.finish(self._check_time))
            writer.flush()
            self._check_time()
            report_key = report.close()
        except BaseException:
            report.abort()
            raise
        finally:
            writer.close()
            spill.close()

        claim.warnings.extend(_extra_columns(parser))
        errors = [
            {
                "code": reason,
                "message": f"{count} row(s) rejected",
                "count": count,
                "line": parser.first_line[reason],
            }
            for reason, count in sorted(parser.reasons.items())
        ]
        status = JobStatus.COMPLETED_WITH_ERRORS if parser.rejected else JobStatus.COMPLETED
        status, errors = control_total(
            status, errors, expected_rows=claim.expected_rows, total=parser.total
        )
        return self._finish(claim, status, parser, errors, report_key, sha256=sha256)

    def _split(self, claim: Claim, size: int) -> dict[str, Any] | None:
        """Plan the parts and start the execution; None when the single pass should run."""
        chunks = self._open(claim)
        if chunks is None:
            return self._fail(claim, _replaced(), None)
        plan = self._split_start.plan(chunks, size, on_chunk=self._check_time)
        if plan is None:
            return None
        if claim.expected_sha256 and plan.sha256 != claim.expected_sha256:
            # Before any manifest is written or the execution started: nothing is stored.
            return self._fail_checksum(claim, plan.sha256)
        return self._split_start.start(
            claim.job_id, claim.ref, claim.etag, attempt=claim.attempt, plan=plan, size=size
        )

    def _open(self, claim: Claim) -> Iterator[bytes] | None:
        """The object's body as chunks, or None when it was replaced or deleted meanwhile."""
        return self._objects.read(claim.ref.key, claim.etag)

    def _fail(
        self,
        claim: Claim,
        error: CsvFileError,
        parser: CsvParser | None,
        sha256: str | None = None,
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {"code": error.code, "message": error.message}
        if error.line is not None:
            entry["line"] = error.line
        if parser is not None:
            claim.warnings.extend(_extra_columns(parser))
        outcome = self._finish(claim, JobStatus.FAILED, parser, [entry], None, sha256=sha256)
        outcome["reason"] = error.code
        return outcome

    def _fail_checksum(self, claim: Claim, actual: str) -> dict[str, Any]:
        """Not the file the sender declared: FAILED, no row stored, no report (R28)."""
        logger.warning("checksum mismatch", extra={"sha256": actual})
        entry = checksum_error(claim.expected_sha256, actual)
        outcome = self._finish(claim, JobStatus.FAILED, None, [entry], None, sha256=actual)
        outcome["reason"] = CHECKSUM_MISMATCH
        return outcome

    def _publish(self, job: Job) -> None:
        if not job.event_pending:
            return
        if self._events is None:
            raise RuntimeError("the processor was built without an EventBridge client")
        self._events.publish(job)

    def _finish(
        self,
        claim: Claim,
        status: JobStatus,
        parser: CsvParser | None,
        errors: list[dict[str, Any]],
        report_key: str | None,
        *,
        sha256: str | None = None,
    ) -> dict[str, Any]:
        rows = self._rows(parser)
        finished = self._jobs.finish(
            claim.job_id,
            claim.etag,
            attempt=claim.attempt,
            status=status,
            rows=rows,
            errors=errors,
            warnings=claim.warnings,
            report_key=report_key,
            now=utc_now(),
            sha256=sha256,
        )
        if finished is None:
            logger.warning("a newer attempt owns the job; this one stops here")
            return {"jobId": claim.job_id, "outcome": "superseded"}
        self._publish(finished)
        if (not errors or errors[0]["code"] != "OBJECT_REPLACED") and not self._objects.archive(
            claim.job_id, claim.ref.key, claim.etag
        ):
            logger.info("the processed file was moved or replaced before it was archived")
        self._emit(rows, claim.started)
        logger.info("job finished", extra={"status": status, "rows": rows, "errors": errors})
        return {"jobId": claim.job_id, "outcome": "processed", "status": status, "rows": rows}

    @staticmethod
    def _rows(parser: CsvParser | None) -> dict[str, int]:
        if parser is None:
            return no_rows()
        return {name: int(getattr(parser, name)) for name in ROW_COUNTS}

    @staticmethod
    def _emit(rows: dict[str, int], started: float) -> None:
        metrics.add_metric(name=Metric.ROWS_ACCEPTED, unit=MetricUnit.Count, value=rows["accepted"])
        metrics.add_metric(name=Metric.ROWS_REJECTED, unit=MetricUnit.Count, value=rows["rejected"])
        metrics.add_metric(
            name=Metric.ROWS_DUPLICATE, unit=MetricUnit.Count, value=rows["duplicates"]
        )
        metrics.add_metric(
            name=Metric.JOB_DURATION,
            unit=MetricUnit.Milliseconds,
            value=(time.monotonic() - started) * 1000,
        )
