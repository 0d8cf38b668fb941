"""`GET /status/{jobId}` (R2, R25): the job's state and counts, for its owner only
(`runtime.logic.status`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response

from runtime import clients
from runtime.dal.jobs import JobStore
from runtime.dal.objects import ObjectStore
from runtime.http import json_response, make_app, resolve
from runtime.logic.owner import caller_of
from runtime.logic.status import job_status
from runtime.observability import logger, tracer
from runtime.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

app = make_app()


@app.get("/status/<job_id>")
def get_status(job_id: str) -> Response[str]:
    # The decoded path parameter, not the router's match, which `runtime.http` re-quotes.
    raw = (app.current_event.path_parameters or {}).get("jobId", job_id)
    settings = get_settings()
    jobs = JobStore(clients.dynamodb(), settings.jobs_table)
    objects = ObjectStore(clients.s3(), settings.bucket)
    caller = caller_of(app.current_event)
    body = job_status(raw, caller, jobs, objects, settings.report_url_ttl_seconds)
    return json_response(200, body)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
