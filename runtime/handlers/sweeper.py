"""Sweeper: run on a schedule, settles jobs that would otherwise stay non-final
(`runtime.logic.sweeper`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime import clients
from runtime.dal.jobs import JobStore, utc_now
from runtime.dal.objects import ObjectStore
from runtime.logic.sweeper import Sweeper
from runtime.observability import logger, tracer
from runtime.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    del event  # the schedule's event carries nothing the sweep needs
    settings = get_settings()
    sweeper = Sweeper(
        settings,
        JobStore(clients.dynamodb(), settings.jobs_table),
        ObjectStore(clients.s3(), settings.bucket),
        clients.lambda_(),
    )
    summary = sweeper.run(utc_now())
    logger.info("sweep done", extra=summary)
    return dict(summary)
