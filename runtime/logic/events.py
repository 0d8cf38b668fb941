"""Job events (R27): one EventBridge event for every job that reaches a final status.

Delivery is at least once and never zero times, through an outbox on the job item: the update
that makes a job final also sets `eventPending` (`runtime.dal.jobs`), so the event is owed from
that moment whatever happens to the function. The function then publishes it here and clears
the flag. A publish that fails (a ClientError after boto3's standard retries, or an entry that
EventBridge refused) emits `JobEventsFailed`, logs the entry's error code and raises
`EventPublishError`, so the invocation fails and its retry (Lambda's, or the state machine's for
the split finisher), which finds the job final with the flag still set, publishes it. The sweeper
publishes whatever every retry left owed. Every copy of one job's event carries the same
`eventId` (`{jobId}:{status}`), so consumers can drop repeats.

The detail is built from the job record alone: the same job gives the same detail, whichever
function publishes it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError

from runtime.contract import (
    EVENT_SOURCE,
    Metric,
    event_type_for,
)
from runtime.dal.jobs import public_fields, utc_now
from runtime.errors import RetryableError
from runtime.observability import logger, metrics

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

    from runtime.dal.jobs import Job, JobStore

# EventBridge takes at most 256 KiB per entry. A job's errors are bounded (one per rejection
# reason, one per failed attempt), but its warnings are not: every further file POSTed with the
# same presigned form adds a FILE_QUARANTINED warning. Past this budget the lists are cut.
MAX_DETAIL_BYTES = 200_000


class EventPublishError(RetryableError):
    """EventBridge did not take the job's event: the invocation fails so that it is retried."""

    code = "EVENT_PUBLISH_FAILED"


def event_id(job: Job) -> str:
    """The same for every copy of one job's event: what a consumer deduplicates on."""
    return f"{job.job_id}:{job.status}"


def event_detail(job: Job) -> dict[str, Any]:
    """The event's detail, from the job record: its public fields (`public_fields`, as `/status`
    answers them) and the contract's own; optional ones only when the job has them."""
    detail: dict[str, Any] = {"eventId": event_id(job), **public_fields(job)}
    if job.report_key:
        detail["reportKey"] = job.report_key
    if job.owner:
        detail["owner"] = job.owner
    return _within_budget(detail)


def _within_budget(detail: dict[str, Any]) -> dict[str, Any]:
    """Cut the errors and warnings lists (keeping their first entries) until the detail fits one
    entry, and say so: an oversized entry would be refused on every retry, forever."""
    if len(json.dumps(detail)) <= MAX_DETAIL_BYTES:
        return detail
    dropped = {"errors": 0, "warnings": 0}
    while len(json.dumps(detail)) > MAX_DETAIL_BYTES:
        name = max(("errors", "warnings"), key=lambda key: len(json.dumps(detail[key])))
        entries = detail[name]
        if not entries:
            break
        keep = len(entries) // 2
        dropped[name] += len(entries) - keep
        detail = {**detail, name: entries[:keep]}
    detail["truncated"] = dropped
    return detail


def event_entry(job: Job, bus_name: str) -> PutEventsRequestEntryTypeDef:
    return {
        "Source": EVENT_SOURCE,
        "DetailType": str(event_type_for(job.status)),
        "Detail": json.dumps(event_detail(job), separators=(",", ":")),
        "EventBusName": bus_name,
        "Resources": [],
    }


class JobEvents:
    """Publishes the event a final job owes, then clears the job's outbox flag."""

    def __init__(self, client: EventBridgeClient, bus_name: str, jobs: JobStore) -> None:
        self._client = client
        self._bus = bus_name
        self._jobs = jobs

    def publish(self, job: Job) -> bool:
        """Publish the job's event if it still owes one; True when an event was sent.

        Raises `EventPublishError` when EventBridge did not take it (the flag stays set).
        """
        if not job.is_final or not job.event_pending:
            return False
        entry = event_entry(job, self._bus)
        extra = {"jobId": job.job_id, "status": job.status, "eventId": event_id(job)}
        try:
            response = self._client.put_events(Entries=[entry])
        except (ClientError, BotoCoreError) as exc:
            code = (
                str(exc.response.get("Error", {}).get("Code", ""))
                if isinstance(exc, ClientError)
                else type(exc).__name__
            )
            self._failed(extra, code, str(exc))
            raise EventPublishError(f"job event not published: {code}: {exc}") from exc
        if response.get("FailedEntryCount", 0):
            entries = response.get("Entries") or [{}]
            code = str(entries[0].get("ErrorCode", "unknown"))
            message = str(entries[0].get("ErrorMessage", ""))
            self._failed(extra, code, message)
            raise EventPublishError(f"job event refused by EventBridge: {code}: {message}")
        metrics.add_metric(name=Metric.EVENTS_PUBLISHED, unit=MetricUnit.Count, value=1)
        logger.info("job event published", extra=extra)
        try:
            self._jobs.event_published(job.job_id, job.event_pending, utc_now())
        except (ClientError, BotoCoreError):
            # The event is out; a flag left set only costs a repeat with the same eventId,
            # which is not worth failing a job that is done.
            logger.exception("job event published but its flag not cleared", extra=extra)
        return True

    @staticmethod
    def _failed(extra: dict[str, Any], code: str, message: str) -> None:
        metrics.add_metric(name=Metric.EVENTS_FAILED, unit=MetricUnit.Count, value=1)
        logger.error(
            "job event not published",
            extra={**extra, "errorCode": code, "errorMessage": message[:500]},
        )
