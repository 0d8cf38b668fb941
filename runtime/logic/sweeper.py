"""Scheduled sweeper: no job stays non-final forever, and no uploaded file is dropped.

- PENDING_UPLOAD past `expiresAt` (plus a grace period for uploads that started just before the
  policy expired):
  - no object under its key: the job becomes EXPIRED (`UPLOAD_EXPIRED`);
  - the object is there (its notification was lost): the processor is re-driven with a
    synthetic S3 event. A job whose file exists is never expired: a re-drive may sit in
    Lambda's asynchronous queue for a while, and expiring the job meanwhile would turn the
    file, when the event finally runs, into a "second upload". While the job stays pending it
    is re-driven again, once per `PROCESSOR_TIMEOUT_SECONDS x (PROCESSOR_MAX_RETRIES + 1)`, up
    to `MAX_UPLOAD_REDRIVES` times; after that it becomes FAILED (`UPLOAD_NOT_PROCESSED`) and
    its file moves to quarantine, which the job names in a `FILE_QUARANTINED` warning.
- PROCESSING of a split file (its state machine execution runs the job, `splitAttempt` set): left
  alone while the execution may still run (`SPLIT_TIMEOUT_SECONDS` plus Lambda's window for the
  finalizer); past that the execution has ended without finishing the job, so a re-drive would
  only find it already started: the job becomes FAILED (`PROCESSING_STUCK`) and its file is
  archived.
- PROCESSING not updated for `PROCESSOR_TIMEOUT_SECONDS x (PROCESSOR_MAX_RETRIES + 1)`: Lambda
  has given up on it. The first time it is re-driven, the second time it becomes FAILED with the
  reason (`PROCESSING_STUCK`) and its file is archived to `processed/`.
Every change is conditional on the state the sweeper read, so a job that moved meanwhile is left
alone.

Job events (R27): each job the sweeper makes final (EXPIRED, FAILED) publishes its event, and
every run also publishes the events that final jobs still owe (`eventPending`, found through the
`ByPendingEvent` index) once they are older than `EVENT_PUBLISH_GRACE_SECONDS`: the function that
finished such a job, and all its retries, failed to publish, so this is what makes delivery
never-zero. A publish that fails does not stop the sweep: the other jobs are handled, then the
run raises (`EventPublishError`), so the failure shows as the sweeper's error and the next run
tries again.

This module must stay light: it imports neither the processor nor the CSV parser, the duplicate
index or the results writer (the sweeper's cold start; a test checks it).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from runtime.contract import JobStatus
from runtime.dal.jobs import Job, iso
from runtime.dal.objects import ObjectRef, upload_key
from runtime.logic.events import EventPublishError
from runtime.logic.notifications import redrive_event
from runtime.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

    from runtime.dal.jobs import JobStore
    from runtime.dal.objects import ObjectStore
    from runtime.logic.events import JobEvents
    from runtime.settings import Settings

UPLOAD_GRACE = timedelta(minutes=5)
MAX_UPLOAD_REDRIVES = 3


class Sweeper:
    def __init__(
        self,
        settings: Settings,
        jobs: JobStore,
        objects: ObjectStore,
        lambda_client: LambdaClient,
        events: JobEvents,
    ) -> None:
        self._settings = settings
        self._jobs = jobs
        self._objects = objects
        self._lambda = lambda_client
        self._events = events
        self._unpublished: list[str] = []
        # How long Lambda may take with one event: every attempt, each up to the timeout.
        self._attempts_window = timedelta(
            seconds=settings.processor_timeout_seconds * (settings.processor_max_retries + 1)
        )
        self.summary = {
            "expired": 0,
            "redriven": 0,
            "failed": 0,
            "quarantined": 0,
            "eventsPublished": 0,
            "eventsFailed": 0,
        }

    def _publish(self, job: Job) -> None:
        """Publish the job's owed event; a failure is counted and the sweep goes on."""
        try:
            if self._events.publish(job):
                self.summary["eventsPublished"] += 1
        except EventPublishError:
            self.summary["eventsFailed"] += 1
            self._unpublished.append(job.job_id)

    def _redrive(self, job: Job, key: str, etag: str) -> None:
        event = redrive_event(ObjectRef(self._objects.bucket, key, etag))
        self._lambda.invoke(
            FunctionName=self._settings.processor_function_name,
            InvocationType="Event",
            Payload=json.dumps(event).encode(),
        )
        self.summary["redriven"] += 1
        logger.info("job re-driven", extra={"jobId": job.job_id})

    def expire_uploads(self, now: datetime) -> None:
        # PENDING_UPLOAD jobs keep their creation time in updatedAt.
        cutoff = iso(now - timedelta(seconds=self._settings.upload_url_ttl_seconds) - UPLOAD_GRACE)
        for candidate in self._jobs.by_status(JobStatus.PENDING_UPLOAD, cutoff):
            job = self._jobs.get(candidate.job_id)
            if job is None or job.status != JobStatus.PENDING_UPLOAD:
                continue
            if job.expires_at and job.expires_at > iso(now - UPLOAD_GRACE):
                continue
            key = upload_key(job.job_id)
            head = self._objects.head(key)
            if head is None:
                expired = self._jobs.expire(job.job_id, now)
                if expired is not None:
                    self.summary["expired"] += 1
                    logger.info("job expired", extra={"jobId": job.job_id})
                    self._publish(expired)
                continue
            # The file arrived but its notification did not (or its re-drive has not run yet).
            if job.upload_redriven_at and job.upload_redriven_at > iso(now - self._attempts_window):
                continue
            if job.upload_redrives < MAX_UPLOAD_REDRIVES:
                if self._jobs.mark_upload_redriven(job.job_id, job.upload_redrives, now):
                    self._redrive(job, key, head.etag)
                continue
            self._fail_unprocessed_upload(job, key, head.etag, now)

    def _fail_unprocessed_upload(self, job: Job, key: str, etag: str, now: datetime) -> None:
        message = f"the file arrived but was not processed after {job.upload_redrives} re-drive(s)"
        failed = self._jobs.fail_pending(job.job_id, "UPLOAD_NOT_PROCESSED", message, now)
        if failed is None:
            return
        self.summary["failed"] += 1
        logger.warning("pending job with a file failed", extra={"jobId": job.job_id})
        moved = self._objects.quarantine(job.job_id, key, etag)
        if moved is not None:
            self.summary["quarantined"] += 1
            self._jobs.add_warning(
                job.job_id,
                "FILE_QUARANTINED",
                f"the file (ETag {etag}) was not processed; it was moved to {moved}",
                now,
                details={"key": moved},
            )
            # The event says where the file went.
            failed = self._jobs.get(job.job_id) or failed
        self._publish(failed)

    def settle_stuck(self, now: datetime) -> None:
        cutoff = iso(now - self._attempts_window)
        for candidate in self._jobs.by_status(JobStatus.PROCESSING, cutoff):
            job = self._jobs.get(candidate.job_id)
            if job is None or job.status != JobStatus.PROCESSING or job.updated_at >= cutoff:
                continue
            if job.split_attempt:
                self._settle_split(job, now)
                continue
            if not job.redriven and job.etag and job.object_key:
                if self._jobs.mark_redriven(job.job_id, job.updated_at, now):
                    self._redrive(job, job.object_key, job.etag)
                continue
            last = job.errors[-1].get("code", "") if job.errors else ""
            message = f"processing did not finish after {job.attempt} attempt(s)"
            if last:
                message += f"; last error: {last}"
            failed = self._jobs.fail_stuck(
                job.job_id, job.updated_at, "PROCESSING_STUCK", message, now
            )
            if failed is not None:
                self.summary["failed"] += 1
                logger.warning("stuck job failed", extra={"jobId": job.job_id})
                self._archive(job)
                self._publish(failed)

    def _settle_split(self, job: Job, now: datetime) -> None:
        """A split job is finished by its execution; only one that outlived it is failed."""
        window = timedelta(seconds=self._settings.split_timeout_seconds) + self._attempts_window
        if job.updated_at >= iso(now - window):
            return
        message = (
            f"the split execution of attempt {job.split_attempt} ended without finishing the job "
            f"({job.parts_done} of {job.parts_total} part(s) parsed)"
        )
        failed = self._jobs.fail_stuck(job.job_id, job.updated_at, "PROCESSING_STUCK", message, now)
        if failed is not None:
            self.summary["failed"] += 1
            logger.warning("split job outlived its execution", extra={"jobId": job.job_id})
            self._archive(job)
            self._publish(failed)

    def _archive(self, job: Job) -> None:
        """Move the file of a job failed as stuck out of incoming/, as the processor does."""
        if not job.object_key or not job.etag:
            return
        try:
            self._objects.archive(job.job_id, job.object_key, job.etag)
        except ClientError:
            # The job is already FAILED, so no later sweep finds it again; one file that
            # cannot be moved must not stop the sweep of the others.
            logger.exception("file of the failed job not archived", extra={"jobId": job.job_id})

    def publish_owed(self, now: datetime) -> None:
        """Publish the events that final jobs still owe after the grace period."""
        cutoff = iso(now - timedelta(seconds=self._settings.event_publish_grace_seconds))
        for job_id in self._jobs.pending_events(cutoff):
            job = self._jobs.get(job_id)
            if job is not None and job.updated_at < cutoff:
                self._publish(job)

    def run(self, now: datetime) -> dict[str, int]:
        """One sweep; raises `EventPublishError` at the end when an event could not be sent."""
        self.expire_uploads(now)
        self.settle_stuck(now)
        self.publish_owed(now)
        if self._unpublished:
            raise EventPublishError(
                f"{len(self._unpublished)} job event(s) not published: "
                + ", ".join(self._unpublished[:20])
            )
        return self.summary
