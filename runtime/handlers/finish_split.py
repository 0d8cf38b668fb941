"""The split path's own steps after parsing (R23): `CheckKeys` (the write budget of the hottest
symbol), `Finish` (success) and `FailJob` (a step that failed after its retries), invoked by the
state machine; and Step Functions' "Execution Status Change" events of that state machine
(TIMED_OUT / ABORTED / FAILED, from an EventBridge rule, asynchronously), which fail the job an
execution left unfinished. Each finishes a job at most once and publishes its event (R27)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from runtime import clients
from runtime.contract import Metric, SplitState
from runtime.logic.split.steps import (
    is_execution_status_change,
    run_check_keys,
    run_execution_ended,
    run_finish,
)
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
    s3, dynamodb, events = clients.s3(), clients.dynamodb(), clients.events()
    if is_execution_status_change(event):
        detail = event.get("detail") or {}
        logger.append_keys(jobId=detail.get("name"), executionStatus=detail.get("status"))
        result = run_execution_ended(event, settings, s3, dynamodb, events)
        # 1 when an ended execution left its job unfinished and this failed it.
        metrics.add_metric(
            name=Metric.SPLIT_EXECUTIONS_ENDED_UNFINISHED,
            unit=MetricUnit.Count,
            value=1 if result.get("outcome") == "failed" else 0,
        )
        logger.info("split execution ended", extra={"result": result})
        return result
    logger.append_keys(jobId=event.get("jobId"))
    if event.get("step") == SplitState.CHECK_KEYS:
        result = run_check_keys(event, settings, s3, dynamodb, events)
        # 1 when the hottest symbol could not be written in time and the job was refused.
        metrics.add_metric(
            name=Metric.SPLIT_JOBS_REFUSED_HOT_KEY,
            unit=MetricUnit.Count,
            value=1 if result.get("outcome") == "refused" else 0,
        )
        return result
    result = run_finish(event, settings, s3, dynamodb, events)
    # 1 when this run finished the job, 0 for a repeat.
    metrics.add_metric(
        name=Metric.SPLIT_JOBS_FINISHED,
        unit=MetricUnit.Count,
        value=1 if result.get("outcome") == "processed" else 0,
    )
    return result
