"""The job events of the local run (R27): a rule on the bus the template's functions publish to,
forwarding every job event to a local queue that ``fpipe events`` reads.

The functions publish to moto's EventBridge through the local endpoint, as they publish to
EventBridge in AWS. What a deployment's consumer would add with ``on_job_finished`` the local run
adds itself, so it works whatever rules the template holds: one queue and one rule, created when
missing, with the pattern of the contract (`runtime.contract`, the file the construct reads too).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from local.cfn import Template, TemplateError
from runtime.contract import EVENT_SOURCE, Env, JobEventType

if TYPE_CHECKING:
    from local.backend import Clients

__all__ = [
    "DEFAULT_BUS",
    "JOB_EVENTS_PATTERN",
    "JOB_EVENTS_QUEUE",
    "JOB_EVENTS_RULE",
    "JobEventsQueue",
    "event_bus_of",
    "provision_job_events",
]

log = logging.getLogger("local.job_events")

JOB_EVENTS_QUEUE: Final = "fpipe-local-job-events"
JOB_EVENTS_RULE: Final = "fpipe-local-job-events"
DEFAULT_BUS: Final = "default"
JOB_EVENTS_PATTERN: Final[dict[str, Any]] = {
    "source": [EVENT_SOURCE],
    "detail-type": [str(kind) for kind in JobEventType],
}
"""What `financial_pipeline.job_events.job_events_pattern()` renders (a test compares them)."""
_TARGET_ID: Final = "fpipe-local-queue"


@dataclass(frozen=True)
class JobEventsQueue:
    """Where the local run's job events land."""

    queue_url: str
    queue_arn: str
    event_bus: str
    rule_name: str = JOB_EVENTS_RULE

    def to_json(self) -> dict[str, str]:
        return {"queueUrl": self.queue_url, "eventBus": self.event_bus, "rule": self.rule_name}


def event_bus_of(template: Template) -> str | None:
    """The name of the bus the template's functions publish to (their ``EVENT_BUS_ARN``, a
    name or an ARN), or None when no function publishes job events."""
    buses = {
        _bus_name(str(template.resolve(variables[Env.EVENT_BUS_ARN])))
        for function in template.of_type("AWS::Lambda::Function")
        if Env.EVENT_BUS_ARN in (variables := _variables(function.properties))
    }
    if len(buses) > 1:
        raise TemplateError(f"the functions publish job events to several buses: {sorted(buses)}")
    return buses.pop() if buses else None


def provision_job_events(template: Template, clients: Clients) -> JobEventsQueue | None:
    """Create the queue and the rule (kept when they exist); None when nothing publishes."""
    bus = event_bus_of(template)
    if bus is None:
        return None
    if bus != DEFAULT_BUS:
        # An imported bus is not in the template; the account's default bus always exists.
        try:
            clients.events.create_event_bus(Name=bus)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceAlreadyExistsException":
                raise
    url = clients.sqs.create_queue(QueueName=JOB_EVENTS_QUEUE)["QueueUrl"]
    arn = clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    clients.events.put_rule(
        Name=JOB_EVENTS_RULE,
        EventBusName=bus,
        EventPattern=json.dumps(JOB_EVENTS_PATTERN),
        State="ENABLED",
        Description="The local run's job events, read by fpipe events",
    )
    clients.events.put_targets(
        Rule=JOB_EVENTS_RULE, EventBusName=bus, Targets=[{"Id": _TARGET_ID, "Arn": arn}]
    )
    log.info("job events on bus %s go to %s", bus, url)
    return JobEventsQueue(queue_url=url, queue_arn=arn, event_bus=bus)


def _variables(properties: dict[str, Any]) -> dict[str, Any]:
    variables: dict[str, Any] = (properties.get("Environment") or {}).get("Variables") or {}
    return variables


def _bus_name(name_or_arn: str) -> str:
    # arn:aws:events:<region>:<account>:event-bus/<name>
    return name_or_arn.rsplit(":event-bus/", 1)[-1]
