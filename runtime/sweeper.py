"""Scheduled sweeper: no job stays non-final forever.

- PENDING_UPLOAD past `expiresAt` (plus a grace period for uploads that started just before the
  policy expired): if the object is there after all (a lost notification) the processor is
  re-driven, otherwise the job becomes EXPIRED.
- PROCESSING not updated for `PROCESSOR_TIMEOUT_SECONDS x (PROCESSOR_MAX_RETRIES + 1)`: Lambda
  has given up on it. The first time it is re-driven (an asynchronous invocation of the processor
  with a synthetic S3 event), the second time it becomes FAILED with the reason.
Every change is conditional on the state the sweeper read, so a job that moved meanwhile is left
alone.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from runtime import clients
from runtime.jobs import Job, JobStore, Status, iso, utc_now
from runtime.observability import expect_no_metrics, logger, metrics, tracer
from runtime.processor import redrive_event
from runtime.settings import Settings, get_settings

if TYPE_CHECKING:
    from datetime import datetime

    from aws_lambda_powertools.utilities.typing import LambdaContext

UPLOAD_GRACE = timedelta(minutes=5)
expect_no_metrics()  # the sweeper logs what it changes; it records no metric


class Sweeper:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._jobs = JobStore(clients.dynamodb(), settings.jobs_table)
        self.summary = {"expired": 0, "redriven": 0, "failed": 0}

    def _redrive(self, job: Job, key: str, etag: str) -> None:
        clients.lambda_().invoke(
            FunctionName=self._settings.require(
                self._settings.processor_function_name, "PROCESSOR_FUNCTION_NAME"
            ),
            InvocationType="Event",
            Payload=json.dumps(redrive_event(self._settings.bucket, key, etag)).encode(),
        )
        self.summary["redriven"] += 1
        logger.info("job re-driven", extra={"jobId": job.job_id})

    def _object_etag(self, key: str) -> str | None:
        try:
            head = clients.s3().head_object(Bucket=self._settings.bucket, Key=key)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        return head["ETag"].strip('"')

    def expire_uploads(self, now: datetime) -> None:
        # PENDING_UPLOAD jobs never change after creation, so updatedAt = createdAt.
        cutoff = iso(now - timedelta(seconds=self._settings.upload_url_ttl_seconds) - UPLOAD_GRACE)
        for candidate in self._jobs.by_status(Status.PENDING_UPLOAD, cutoff):
            job = self._jobs.get(candidate.job_id)
            if job is None or job.status != Status.PENDING_UPLOAD:
                continue
            if job.expires_at and job.expires_at > iso(now - UPLOAD_GRACE):
                continue
            key = f"incoming/{job.job_id}.csv"
            etag = self._object_etag(key)
            if etag is not None and not job.redriven:
                # The file arrived but its notification did not: process it now.
                if self._jobs.mark_pending_redriven(job.job_id, now):
                    self._redrive(job, key, etag)
                continue
            if self._jobs.expire(job.job_id, now):
                self.summary["expired"] += 1
                logger.info("job expired", extra={"jobId": job.job_id})

    def settle_stuck(self, now: datetime) -> None:
        settings = self._settings
        stuck_after = settings.processor_timeout_seconds * (settings.processor_max_retries + 1)
        cutoff = iso(now - timedelta(seconds=stuck_after))
        for candidate in self._jobs.by_status(Status.PROCESSING, cutoff):
            job = self._jobs.get(candidate.job_id)
            if job is None or job.status != Status.PROCESSING or job.updated_at >= cutoff:
                continue
            if not job.redriven and job.etag and job.object_key:
                if self._jobs.mark_redriven(job.job_id, job.updated_at, now):
                    self._redrive(job, job.object_key, job.etag)
                continue
            last = job.errors[-1].get("code", "") if job.errors else ""
            message = f"processing did not finish after {job.attempt} attempt(s)"
            if last:
                message += f"; last error: {last}"
            if self._jobs.fail_stuck(job.job_id, job.updated_at, "PROCESSING_STUCK", message, now):
                self.summary["failed"] += 1
                logger.warning("stuck job failed", extra={"jobId": job.job_id})
                self._archive(job)

    def _archive(self, job: Job) -> None:
        """Move the file of a failed job out of incoming/ (processed/ expires after 30 days)."""
        s3 = clients.s3()
        bucket = self._settings.bucket
        try:
            s3.copy_object(
                Bucket=bucket,
                Key=f"processed/{job.job_id}.csv",
                CopySource={"Bucket": bucket, "Key": job.object_key},
                CopySourceIfMatch=job.etag,
            )
        except ClientError:
            logger.info("file of the failed job not archived", extra={"jobId": job.job_id})
            return
        s3.delete_object(Bucket=bucket, Key=job.object_key)

    def run(self) -> dict[str, int]:
        now = utc_now()
        self.expire_uploads(now)
        self.settle_stuck(now)
        return self.summary


def sweep(settings: Settings | None = None) -> dict[str, int]:
    summary = Sweeper(settings or get_settings()).run()
    logger.info("sweep done", extra=summary)
    return summary


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    del event
    return dict(sweep())
