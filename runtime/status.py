"""`GET /status/{jobId}`: the job's state, row counts, errors and a short-lived report link."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response

from runtime import clients
from runtime.errors import BadRequestError, NotFoundError
from runtime.http import json_response, make_app, resolve
from runtime.jobs import FINAL_STATUSES, Job, JobStore
from runtime.observability import expect_no_metrics, logger, metrics, tracer
from runtime.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

app = make_app()
expect_no_metrics()  # no application metric is recorded here


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
    rows = {"total": 0, "accepted": 0, "rejected": 0, "duplicates": 0}
    rows.update(job.rows)
    body: dict[str, Any] = {
        "jobId": job.job_id,
        "status": job.status,
        "fileName": job.file_name,
        "createdAt": job.created_at,
        "updatedAt": job.updated_at,
        "expiresAt": job.expires_at,
        "rows": rows,
        "errors": job.errors,
        "warnings": job.warnings,
    }
    if report_url:
        body["reportUrl"] = report_url
    return body


@app.get("/status/<job_id>")
def get_status(job_id: str) -> Response[str]:
    raw = (app.current_event.path_parameters or {}).get("jobId", job_id)
    settings = get_settings()
    job = JobStore(clients.dynamodb(), settings.jobs_table).get(parse_job_id(raw))
    if job is None:
        raise NotFoundError("no job with this id", code="JOB_NOT_FOUND")
    report_url = None
    if job.report_key and job.status in FINAL_STATUSES:
        report_url = clients.s3().generate_presigned_url(
            "get_object",
            Params={
                "Bucket": settings.bucket,
                "Key": job.report_key,
                "ResponseContentDisposition": f'attachment; filename="report-{job.job_id}.csv"',
            },
            ExpiresIn=settings.report_url_ttl_seconds,
        )
    return json_response(200, status_body(job, report_url))


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
