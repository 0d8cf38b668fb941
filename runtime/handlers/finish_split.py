"""Last step of the split path (R23), on success or failure: finish the job."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime import clients
from runtime.logic.split.steps import run_finish
from runtime.observability import logger, metrics, tracer
from runtime.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    metrics.set_default_dimensions(environment=settings.environment)
    logger.append_keys(jobId=event.get("jobId"))
    return run_finish(event, settings, clients.s3(), clients.dynamodb())
