"""`POST /upload` (R1, R4, R25): a new job owned by its caller, and its presigned POST
(`runtime.logic.upload`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response

from runtime import clients
from runtime.dal.jobs import JobStore
from runtime.dal.objects import ObjectStore
from runtime.http import json_response, make_app, resolve
from runtime.logic.owner import caller_of
from runtime.logic.upload import parse_request, start_upload
from runtime.observability import logger, tracer
from runtime.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

app = make_app()


@app.post("/upload")
def create_upload() -> Response[str]:
    settings = get_settings()
    request = parse_request(app.current_event.decoded_body, settings.max_upload_bytes)
    jobs = JobStore(clients.dynamodb(), settings.jobs_table)
    objects = ObjectStore(clients.s3(), settings.bucket)
    created = start_upload(request, settings, jobs, objects, caller_of(app.current_event))
    logger.info("job created", extra={"jobId": created["jobId"]})
    return json_response(201, created)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
