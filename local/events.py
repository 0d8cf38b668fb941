"""The template's event sources, run as threads: S3 notifications, EventBridge schedules and
Step Functions' execution status changes.

An S3 -> Lambda notification is realized as S3 -> SQS (the local backend configures the bucket to
send to a queue), and a poller invokes the function asynchronously with each event, as S3 does.
A schedule rule invokes its target function every period with the rule's input or a
``Scheduled Event``. A rule on ``aws.states`` "Step Functions Execution Status Change" events
(moto's Step Functions sends none) is served by polling the state machines it names for
executions that ended in a status it matches, and invoking its target asynchronously with the
event Step Functions would send, input included.
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
    from mypy_boto3_stepfunctions import SFNClient

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


EXECUTION_STATUS_SOURCE = "aws.states"
EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change"
_ENDED_STATUSES = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


@dataclass(frozen=True)
class ExecutionStatusRule:
    """A rule on Step Functions' execution status changes, and its Lambda target."""

    function_logical_id: str
    rule_arn: str
    pattern: dict[str, Any]

    @property
    def state_machine_arns(self) -> list[str]:
        return [str(arn) for arn in (self.pattern.get("detail") or {}).get("stateMachineArn", [])]

    @property
    def statuses(self) -> list[str]:
        wanted = (self.pattern.get("detail") or {}).get("status")
        return [str(s) for s in wanted] if wanted else list(_ENDED_STATUSES)


def execution_status_rules_from_template(template: Template) -> list[ExecutionStatusRule]:
    """Every enabled rule matching Step Functions' execution status changes, per Lambda target.

    Only rules that name their state machines (``detail.stateMachineArn``) are served: the
    poller asks those for their executions."""
    found = []
    for rule in template.of_type("AWS::Events::Rule"):
        props = rule.properties
        if props.get("State") == "DISABLED" or "EventPattern" not in props:
            continue
        pattern = template.resolve(props["EventPattern"])
        if EXECUTION_STATUS_SOURCE not in (pattern.get("source") or []) or (
            EXECUTION_STATUS_CHANGE not in (pattern.get("detail-type") or [])
        ):
            continue
        for target in props.get("Targets") or []:
            for ref in template.find_refs(target.get("Arn")):
                if template.resource(ref).type != "AWS::Lambda::Function":
                    continue
                found.append(
                    ExecutionStatusRule(
                        function_logical_id=ref,
                        rule_arn=template.arn(rule.logical_id),
                        pattern=pattern,
                    )
                )
    return [rule for rule in found if rule.state_machine_arns]


def pattern_matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """EventBridge matching for the patterns these rules use: each field's value is one of the
    listed literals, nested objects match field by field. Any other operator (prefix,
    anything-but...) matches nothing here, so that a rule is never served more than AWS would."""
    for name, wanted in pattern.items():
        value = event.get(name)
        if isinstance(wanted, dict):
            if not isinstance(value, dict) or not pattern_matches(wanted, value):
                return False
        elif isinstance(wanted, list):
            if any(isinstance(item, (dict, list)) for item in wanted) or value not in wanted:
                return False
        else:
            return False
    return True


class ExecutionStatusPoller:
    """Delivers the status changes of executions that ended (after the poller started) to the
    rule's function, as EventBridge does: asynchronously, once per execution and ending (a
    redriven execution that ends again is a new change)."""

    def __init__(
        self,
        rule: ExecutionStatusRule,
        function: FunctionSpec,
        *,
        stepfunctions: SFNClient,
        lambdas: LambdaService,
        account_id: str,
        region: str,
        interval_seconds: float = 1.0,
    ) -> None:
        self.rule = rule
        self.function = function
        self.interval_seconds = interval_seconds
        self._sfn = stepfunctions
        self._lambdas = lambdas
        self._account_id = account_id
        self._region = region
        self._since = datetime.now(UTC)
        self._seen: set[tuple[str, str, str]] = set()
        self.delivered: list[dict[str, Any]] = []

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval_seconds):
            try:
                self.poll()
            except Exception:
                if stop.is_set():
                    return  # the backend went away first
                log.exception("execution status poll failed")

    def poll(self) -> int:
        """Deliver what ended since the last poll; how many events went out."""
        sent = 0
        statuses = set(self.rule.statuses)
        for machine in self.rule.state_machine_arns:
            # One listing per state machine, its statuses picked here: a poll costs one call
            # to the shared endpoint (per 100 executions), not one per status.
            pages = self._sfn.get_paginator("list_executions").paginate(stateMachineArn=machine)
            for page in pages:
                for execution in page.get("executions", []):
                    if execution["status"] in statuses:
                        sent += self._deliver(execution)
        return sent

    def _deliver(self, execution: Any) -> int:
        stopped = execution.get("stopDate")
        if stopped is None or stopped < self._since:
            return 0
        key = (execution["executionArn"], execution["status"], stopped.isoformat())
        if key in self._seen:
            return 0
        self._seen.add(key)
        described = self._sfn.describe_execution(executionArn=execution["executionArn"])
        event = self.event(described)
        if not pattern_matches(self.rule.pattern, event):
            return 0
        self.delivered.append(event)
        self._lambdas.invoke_async(self.function, event)
        return 1

    def event(self, described: Any) -> dict[str, Any]:
        """The event Step Functions sends EventBridge for an execution's status change."""
        stopped = described.get("stopDate")
        output = described.get("output")
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": EXECUTION_STATUS_CHANGE,
            "source": EXECUTION_STATUS_SOURCE,
            "account": self._account_id,
            "time": (stopped or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self._region,
            "resources": [described["executionArn"]],
            "detail": {
                "executionArn": described["executionArn"],
                "stateMachineArn": described["stateMachineArn"],
                "name": described.get("name"),
                "status": described["status"],
                "startDate": _epoch_ms(described.get("startDate")),
                "stopDate": _epoch_ms(stopped),
                "input": described.get("input"),
                "output": output,
                "inputDetails": {"included": True},
                "outputDetails": {"included": True} if output is not None else None,
                "error": described.get("error"),
                "cause": described.get("cause"),
            },
        }


def _epoch_ms(moment: datetime | None) -> int | None:
    return int(moment.timestamp() * 1000) if moment is not None else None
