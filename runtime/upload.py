"""`POST /upload`: create a job and hand out a presigned POST for `incoming/{jobId}.csv`.

The policy pins the exact key and caps the size with `content-length-range`; the client's file
name is job metadata only and never part of a key. A declared `contentLength` above the cap is a
400 (`FILE_TOO_LARGE`): the request itself is well-formed JSON but describes a file the pipeline
refuses, and 400 is also what API Gateway's body model answers for the same case.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response

from runtime import clients
from runtime.errors import BadRequestError
from runtime.http import json_response, make_app, resolve
from runtime.jobs import JobStore, iso, utc_now
from runtime.observability import expect_no_metrics, logger, metrics, tracer
from runtime.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

MAX_FILE_NAME = 255
app = make_app()
expect_no_metrics()  # no application metric is recorded here


def parse_request(body: str | None, max_bytes: int) -> tuple[str, int | None]:
    """Validate the body; returns (fileName, contentLength or None)."""
    if not body:
        raise BadRequestError("the request body is required", code="INVALID_BODY")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BadRequestError("the body is not valid JSON", code="INVALID_BODY") from exc
    if not isinstance(data, dict):
        raise BadRequestError("the body must be a JSON object", code="INVALID_BODY")
    file_name = data.get("fileName")
    if not isinstance(file_name, str) or not file_name.strip():
        raise BadRequestError("fileName must be a non-empty string", code="INVALID_FILE_NAME")
    if len(file_name) > MAX_FILE_NAME or any(
        ord(char) < 32 or ord(char) == 127 for char in file_name
    ):
        raise BadRequestError(
            f"fileName must be at most {MAX_FILE_NAME} printable characters",
            code="INVALID_FILE_NAME",
        )
    if data.get("fileType") != "csv":
        raise BadRequestError('fileType must be "csv"', code="INVALID_FILE_TYPE")
    length = data.get("contentLength")
    if length is not None:
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise BadRequestError(
                "contentLength must be a positive integer", code="INVALID_CONTENT_LENGTH"
            )
        if length > max_bytes:
            raise BadRequestError(
                f"contentLength {length} is over the {max_bytes}-byte limit",
                code="FILE_TOO_LARGE",
            )
    return file_name, length


@app.post("/upload")
def create_upload() -> Response[str]:
    settings = get_settings()
    file_name, _length = parse_request(app.current_event.decoded_body, settings.max_upload_bytes)
    job_id = str(uuid.uuid4())
    now = utc_now()
    expires_at = now + timedelta(seconds=settings.upload_url_ttl_seconds)
    ttl = int((now + timedelta(days=settings.job_ttl_days)).timestamp())
    JobStore(clients.dynamodb(), settings.jobs_table).create(
        job_id, file_name, now, expires_at, ttl
    )
    key = f"incoming/{job_id}.csv"
    post: Any = clients.s3().generate_presigned_post(
        Bucket=settings.bucket,
        Key=key,
        Conditions=[["content-length-range", 1, settings.max_upload_bytes]],
        ExpiresIn=settings.upload_url_ttl_seconds,
    )
    logger.info("job created", extra={"jobId": job_id})
    return json_response(
        201,
        {
            "jobId": job_id,
            "upload": {"url": post["url"], "fields": post["fields"]},
            "expiresAt": iso(expires_at),
        },
    )


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
