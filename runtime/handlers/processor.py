"""Processor (R9, R12): S3 `ObjectCreated` under `incoming/`, or the sweeper's re-drive of one,
-> `runtime.logic.processor.Processor` for each created object."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from runtime import clients
from runtime.contract import Metric
from runtime.logic.notifications import created_objects
from runtime.logic.processor import Processor
from runtime.observability import logger, metrics, tracer
from runtime.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.remove_keys(["jobId"])
    settings = get_settings()
    metrics.set_default_dimensions(environment=settings.environment)
    processor = Processor(
        settings,
        clients.s3(),
        clients.dynamodb(),
        context,
        clients.stepfunctions(),
        events=clients.events(),
    )
    refs = created_objects(event)
    # Recorded for every event, test events and repeats included (0 or more objects), so an
    # invocation that finishes no job still says what it was given.
    metrics.add_metric(name=Metric.OBJECTS_NOTIFIED, unit=MetricUnit.Count, value=len(refs))
    return {"results": [processor.handle(ref) for ref in refs]}
