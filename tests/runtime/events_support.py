"""Job events as a consumer sees them (R27): a rule on the functions' bus, matching the
pipeline's source, delivers to an SQS queue in moto, and the tests read the real event JSON back.
Faults are injected into PutEvents with botocore event hooks on the runtime's EventBridge client.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from runtime_support import function_environment

from runtime.contract import EVENT_SOURCE, METRIC_EVENTS_FAILED, METRIC_EVENTS_PUBLISHED


@dataclass
class EventTap:
    """Every job event delivered to the test's queue, in arrival order."""

    sqs: Any
    queue_url: str
    seen: list[dict[str, Any]] = field(default_factory=list)

    def events(self, job_id: str | None = None) -> list[dict[str, Any]]:
        """What arrived so far (moto delivers during PutEvents), for one job or all."""
        while True:
            answer = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            )
            messages = answer.get("Messages", [])
            if not messages:
                break
            for message in messages:
                self.seen.append(json.loads(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        return [e for e in self.seen if job_id is None or e["detail"]["jobId"] == job_id]


@pytest.fixture
def job_events(aws_endpoint: str) -> Iterator[EventTap]:
    """A queue subscribed to the pipeline's events on the functions' bus, for one test."""
    import boto3

    name = f"job-events-{uuid.uuid4().hex[:12]}"
    sqs = boto3.client("sqs")
    events = boto3.client("events")
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events.put_rule(
        Name=name,
        EventBusName=function_environment()["EVENT_BUS_ARN"],
        EventPattern=json.dumps({"source": [EVENT_SOURCE]}),
    )
    events.put_targets(
        Rule=name,
        EventBusName=function_environment()["EVENT_BUS_ARN"],
        Targets=[{"Id": "queue", "Arn": queue_arn}],
    )
    try:
        yield EventTap(sqs, queue_url)
    finally:
        events.remove_targets(
            Rule=name, EventBusName=function_environment()["EVENT_BUS_ARN"], Ids=["queue"]
        )
        events.delete_rule(Name=name, EventBusName=function_environment()["EVENT_BUS_ARN"])
        sqs.delete_queue(QueueUrl=queue_url)


@dataclass
class PutEventsFaults:
    """Makes the runtime's PutEvents fail: a service error after boto3's retries
    (`fail_with_error`), or an entry that EventBridge refused (`refuse_entries`); `times` calls,
    or every call when None."""

    client: Any
    calls: int = 0
    _handlers: list[Any] = field(default_factory=list)

    def _install(self, answer: Any, times: int | None) -> None:
        def hook(**_: Any) -> Any:
            self.calls += 1
            if times is not None and self.calls > times:
                return None  # sent for real
            return answer()

        self.client.meta.events.register("before-call.events.PutEvents", hook)
        self._handlers.append(hook)

    def fail_with_error(self, times: int | None = None) -> None:
        def answer() -> Any:
            http = SimpleNamespace(status_code=500, headers={}, raw=None)
            parsed = {
                "Error": {"Code": "InternalException", "Message": "try later"},
                "ResponseMetadata": {"HTTPStatusCode": 500},
            }
            return http, parsed

        self._install(answer, times)

    def refuse_entries(self, times: int | None = None) -> None:
        def answer() -> Any:
            http = SimpleNamespace(status_code=200, headers={}, raw=None)
            parsed = {
                "FailedEntryCount": 1,
                "Entries": [{"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"}],
                "ResponseMetadata": {"HTTPStatusCode": 200},
            }
            return http, parsed

        self._install(answer, times)

    def clear(self) -> None:
        for hook in self._handlers:
            self.client.meta.events.unregister("before-call.events.PutEvents", hook)
        self._handlers.clear()


@pytest.fixture
def put_events_faults(aws_endpoint: str) -> Iterator[PutEventsFaults]:
    from runtime import clients

    faults = PutEventsFaults(clients.events())
    yield faults
    faults.clear()


def emitted_counts(printed: str) -> dict[str, float]:
    """The sums of the job-event metrics in the EMF lines a handler printed (Powertools)."""
    totals = {METRIC_EVENTS_PUBLISHED: 0.0, METRIC_EVENTS_FAILED: 0.0}
    for line in printed.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for name in totals:
            value = blob.get(name)
            if value is not None:
                totals[name] += sum(value) if isinstance(value, list) else value
    return totals
