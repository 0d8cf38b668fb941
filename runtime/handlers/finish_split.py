"""Last step of the split path (R23), on success or failure: finish the job and publish its
event (R27)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

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
    result = run_finish(event, settings, clients.s3(), clients.dynamodb(), clients.events())
    # 1 when this run finished the job, 0 for a repeat.
    metrics.add_metric(
        name="SplitJobsFinished",
        unit=MetricUnit.Count,
        value=1 if result.get("outcome") == "processed" else 0,
    )
    return result
