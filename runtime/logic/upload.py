"""`POST /upload`: validate the request, create the job and hand out its presigned POST.

The policy pins the exact key and caps the size with `content-length-range`; the client's file
name is job metadata only and never part of a key. A body that is not a JSON object (empty,
not JSON, nested too deep for the parser) is a 400 `BAD_REQUEST_BODY`, the code API Gateway's
own response type gives a body that fails its model. A declared `contentLength` above the cap is
a 400 (`FILE_TOO_LARGE`): the request is well-formed but describes a file the pipeline refuses,
and 400 is also what API Gateway's body model answers for the same case.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from runtime.dal.jobs import iso, utc_now
from runtime.errors import BadRequestError

if TYPE_CHECKING:
    from runtime.dal.jobs import JobStore
    from runtime.dal.objects import ObjectStore
    from runtime.logic.owner import Caller
    from runtime.settings import Settings

MAX_FILE_NAME = 255
BAD_BODY = "BAD_REQUEST_BODY"


@dataclass(frozen=True, slots=True)
class UploadRequest:
    file_name: str


def parse_request(body: str | None, max_bytes: int) -> UploadRequest:
    """The validated body of `POST /upload`; a `BadRequestError` names the first problem."""
    if not body:
        raise BadRequestError("the request body is required", code=BAD_BODY)
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BadRequestError("the body is not valid JSON", code=BAD_BODY) from exc
    if not isinstance(data, dict):
        raise BadRequestError("the body must be a JSON object", code=BAD_BODY)
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
    return UploadRequest(file_name)


def start_upload(
    request: UploadRequest,
    settings: Settings,
    jobs: JobStore,
    objects: ObjectStore,
    caller: Caller,
) -> dict[str, Any]:
    """Create a PENDING_UPLOAD job owned by ``caller`` (R25); the 201 body with its presigned
    POST."""
    job_id = str(uuid.uuid4())
    now = utc_now()
    expires_at = now + timedelta(seconds=settings.upload_url_ttl_seconds)
    ttl = int((now + timedelta(days=settings.job_ttl_days)).timestamp())
    jobs.create(
        job_id,
        request.file_name,
        now,
        expires_at,
        ttl,
        owner=caller.owner,
        owner_caller=caller.caller,
    )
    upload = objects.presigned_upload(
        job_id, settings.max_upload_bytes, settings.upload_url_ttl_seconds
    )
    return {"jobId": job_id, "upload": upload, "expiresAt": iso(expires_at)}
