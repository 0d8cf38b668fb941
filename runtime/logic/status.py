"""`GET /status/{jobId}`: the job's state, row counts, errors, warnings, digests and report link.

Only the job's owner sees it (R25): for anyone else the answer is the very `JOB_NOT_FOUND` of an
unknown id, after the same single read, so the answer does not reveal that the job exists.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from runtime.contract import FINAL_STATUSES, JobStatus
from runtime.dal.jobs import public_fields
from runtime.errors import BadRequestError, NotFoundError
from runtime.logic.owner import may_read

if TYPE_CHECKING:
    from runtime.dal.jobs import Job, JobStore
    from runtime.dal.objects import ObjectStore
    from runtime.logic.owner import Caller


def parse_job_id(raw: str) -> str:
    """A job id is a UUID in its canonical lowercase, hyphenated form."""
    try:
        parsed = uuid.UUID(raw)
    except (ValueError, TypeError, AttributeError) as exc:
        raise BadRequestError("jobId must be a UUID", code="INVALID_JOB_ID") from exc
    if str(parsed) != raw.lower():
        raise BadRequestError("jobId must be a UUID", code="INVALID_JOB_ID")
    return str(parsed)


def status_body(job: Job, report_url: str | None) -> dict[str, Any]:
    """The job's public fields (`public_fields`, as its event carries them), with its upload's
    expiry, progress while it runs, what the upload declared, and the report link."""
    body = public_fields(job)
    body["expiresAt"] = job.expires_at
    if job.status == JobStatus.PROCESSING:
        # R24: one part for a file the single pass reads, the planned parts for a split one.
        body["progress"] = {
            "partsTotal": max(1, job.parts_total),
            "partsDone": job.parts_done,
            "rowsProcessed": job.rows_processed,
        }
    # R28: what the upload declared (the file's digest is a public field).
    if job.expected_sha256:
        body["expectedSha256"] = job.expected_sha256
    if job.expected_rows is not None:
        body["expectedRows"] = job.expected_rows
    if report_url:
        body["reportUrl"] = report_url
    return body


def job_status(
    raw_job_id: str,
    caller: Caller,
    jobs: JobStore,
    objects: ObjectStore,
    report_url_ttl_seconds: int,
) -> dict[str, Any]:
    """The 200 body for a job that ``caller`` may read; a report link only once it has ended."""
    job = jobs.get(parse_job_id(raw_job_id))
    if job is None or not may_read(job.owner, caller, job_caller=job.owner_caller):
        raise NotFoundError("no job with this id", code="JOB_NOT_FOUND")
    report_url = None
    if job.report_key and job.status in FINAL_STATUSES:
        report_url = objects.report_url(job.job_id, job.report_key, report_url_ttl_seconds)
    return status_body(job, report_url)
