"""`POST /upload`: validate the request, create the job and hand out its presigned POST.

The policy pins the exact key and caps the size with `content-length-range`; the client's file
name is job metadata only and never part of a key. A body that is not a JSON object (empty,
not JSON, nested too deep for the parser) is a 400 `BAD_REQUEST_BODY`, the code API Gateway's
own response type gives a body that fails its model. A declared `contentLength` above the cap is
a 400 (`FILE_TOO_LARGE`): the request is well-formed but describes a file the pipeline refuses,
and 400 is also what API Gateway's body model answers for the same case.

What the sender may declare of its file (R28), each optional: `sha256`, 64 hex digits (stored
lowercase as the job's `expectedSha256`; the presigned POST then also makes S3 check it), and
`expectedRows`, the data rows it counted (a JSON integer >= 0: a boolean, a float or a string is
refused, as the body model refuses them). A bad value is a 400 naming the field.
"""

from __future__ import annotations

import json
import re
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
# The largest integer every JSON parser keeps exact; far above the rows of a 5 GiB file, and
# within what DynamoDB stores as a number.
MAX_EXPECTED_ROWS = 2**53 - 1
_SHA256 = re.compile(r"[0-9a-fA-F]{64}").fullmatch


@dataclass(frozen=True, slots=True)
class UploadRequest:
    file_name: str
    sha256: str | None = None
    """Lowercase hex, when declared."""
    expected_rows: int | None = None


def _declared_sha256(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _SHA256(value):
        raise BadRequestError(
            "sha256 must be the file's SHA-256 as 64 hexadecimal digits", code="INVALID_SHA256"
        )
    return value.lower()


def _declared_rows(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_EXPECTED_ROWS:
        raise BadRequestError(
            f"expectedRows must be an integer from 0 to {MAX_EXPECTED_ROWS}",
            code="INVALID_EXPECTED_ROWS",
        )
    return value


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
    return UploadRequest(
        file_name,
        sha256=_declared_sha256(data.get("sha256")),
        expected_rows=_declared_rows(data.get("expectedRows")),
    )


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
        expected_sha256=request.sha256,
        expected_rows=request.expected_rows,
    )
    upload = objects.presigned_upload(
        job_id, settings.max_upload_bytes, settings.upload_url_ttl_seconds, sha256=request.sha256
    )
    return {"jobId": job_id, "upload": upload, "expiresAt": iso(expires_at)}
