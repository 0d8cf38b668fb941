"""Sweeper: run on a schedule, settles jobs that would otherwise stay non-final and publishes
the job events still owed (`runtime.logic.sweeper`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from runtime import clients
from runtime.contract import Metric
from runtime.dal.jobs import JobStore, utc_now
from runtime.dal.objects import ObjectStore
from runtime.logic.events import JobEvents
from runtime.logic.sweeper import Sweeper
from runtime.observability import logger, metrics, tracer
from runtime.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    del event  # the schedule's event carries nothing the sweep needs
    settings = get_settings()
    metrics.set_default_dimensions(environment=settings.environment)
    # A zero for each, so every run has a datapoint even when it published nothing.
    for name in (Metric.EVENTS_PUBLISHED, Metric.EVENTS_FAILED):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=0)
    jobs = JobStore(clients.dynamodb(), settings.jobs_table)
    sweeper = Sweeper(
        settings,
        jobs,
        ObjectStore(clients.s3(), settings.bucket),
        clients.lambda_(),
        JobEvents(clients.events(), settings.event_bus_arn, jobs),
    )
    summary = sweeper.run(utc_now())
    logger.info("sweep done", extra=summary)
    return dict(summary)
