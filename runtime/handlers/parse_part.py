"""Map 1 of the split path (R23): parse one part of a large file."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from runtime import clients
from runtime.contract import Metric
from runtime.logic.split.steps import run_part
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
    result = run_part(event, settings, clients.s3(), clients.dynamodb())
    # Records of the part, before the partitions decide duplicates.
    metrics.add_metric(
        name=Metric.ROWS_PARSED, unit=MetricUnit.Count, value=int(result.get("records", 0))
    )
    return result
