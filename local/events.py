"""The template's event sources, run as threads: S3 notifications and EventBridge schedules.

An S3 -> Lambda notification is realized as S3 -> SQS (the local backend configures the bucket to
send to a queue), and a poller invokes the function asynchronously with each event, as S3 does.
A schedule rule invokes its target function every period with the rule's input or a
``Scheduled Event``.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from local.backend import Notification
from local.cfn import Template
from local.lambdas import FunctionSpec, LambdaService

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

log = logging.getLogger("local.events")

_RATE = re.compile(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)")


def schedule_seconds(expression: str) -> float | None:
    """Period of an EventBridge ``rate(...)`` expression; ``None`` for cron, run every minute."""
    found = _RATE.fullmatch(expression.strip())
    if found is None:
        return None
    unit = {"minute": 60, "hour": 3600, "day": 86400}[found.group(2).rstrip("s")]
    return int(found.group(1)) * float(unit)


@dataclass(frozen=True)
class Schedule:
    function_logical_id: str
    expression: str
    period_seconds: float
    rule_arn: str
    payload: dict[str, Any] | None


def schedules_from_template(template: Template) -> list[Schedule]:
    """Every enabled schedule rule's Lambda targets."""
    found = []
    for rule in template.of_type("AWS::Events::Rule"):
        props = rule.properties
        expression = props.get("ScheduleExpression")
        if not expression or props.get("State") == "DISABLED":
            continue
        for target in props.get("Targets") or []:
            for ref in template.find_refs(target.get("Arn")):
                if template.resource(ref).type != "AWS::Lambda::Function":
                    continue
                payload = json.loads(target["Input"]) if "Input" in target else None
                found.append(
                    Schedule(
                        function_logical_id=ref,
                        expression=str(expression),
                        period_seconds=schedule_seconds(str(expression)) or 60.0,
                        rule_arn=template.arn(rule.logical_id),
                        payload=payload,
                    )
                )
    return found


class S3EventPoller:
    """Invokes the notification's function with every S3 event its queue receives.

    ``duplicate()`` is asked per event: when true the event is delivered twice, as S3's
    at-least-once delivery may.
    """

    def __init__(
        self,
        notification: Notification,
        function: FunctionSpec,
        *,
        sqs: SQSClient,
        lambdas: LambdaService,
        duplicate: Callable[[], bool] = lambda: False,
    ) -> None:
        self.notification = notification
        self.function = function
        self._sqs = sqs
        self._lambdas = lambdas
        self._duplicate = duplicate

    def run(self, stop: threading.Event) -> None:
        queue_url = self._sqs.get_queue_url(QueueName=self.notification.queue_name)["QueueUrl"]
        while not stop.is_set():
            try:
                messages = self._sqs.receive_message(
                    QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
                ).get("Messages", [])
            except Exception:
                if stop.is_set():
                    return  # the backend went away first
                log.exception("S3 event poll failed")
                time.sleep(0.5)
                continue
            for message in messages:
                event = json.loads(message.get("Body", "{}"))
                # Lambda targets of S3 never receive the s3:TestEvent that queues receive.
                if event.get("Event") != "s3:TestEvent" and self._wanted(event):
                    for _ in range(2 if self._duplicate() else 1):
                        self._lambdas.invoke_async(self.function, event)
                self._sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    def _wanted(self, event: dict[str, Any]) -> bool:
        records = event.get("Records") or []
        return any(
            self.notification.matches(unquote_plus(record["s3"]["object"]["key"]))
            for record in records
        )


class ScheduleRunner:
    """Invokes the schedule's function every ``period_seconds`` (default: the rule's rate)."""

    def __init__(
        self,
        schedule: Schedule,
        function: FunctionSpec,
        *,
        lambdas: LambdaService,
        account_id: str,
        region: str,
        period_seconds: float | None = None,
    ) -> None:
        self.schedule = schedule
        self.function = function
        self.period_seconds = period_seconds or schedule.period_seconds
        self._lambdas = lambdas
        self._account_id = account_id
        self._region = region

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.period_seconds):
            self._lambdas.invoke_async(self.function, self.event())

    def event(self) -> dict[str, Any]:
        """The rule's constant input, or the event EventBridge sends for a schedule."""
        return self.schedule.payload or {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self._account_id,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self._region,
            "resources": [self.schedule.rule_arn],
            "detail": {},
        }
