"""Job events (R27): the bus, who may publish to it, the outbox index, and the consumer's rule."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Template

import app as app_module
from financial_pipeline import (
    FinancialPipeline,
    JobEventType,
    JobStatus,
    LambdaOptions,
    job_events_pattern,
)
from financial_pipeline.contract import EVENT_SOURCE, JOBS_EVENT_INDEX, Env
from infra.config import EnvironmentConfig
from local.job_events import JOB_EVENTS_PATTERN

from .conftest import REGION, cdk_context, logical_id, resources

PUBLISHERS = ("Processor", "FinishSplit", "Sweeper")
OTHERS = ("Upload", "Status", "Results", "ParsePart", "WritePartition")
DEFAULT_BUS_ARN = {
    "Fn::Join": [
        "",
        [
            f"arn:aws:events:{REGION}:",
            {"Ref": "AWS::AccountId"},
            ":event-bus/default",
        ],
    ]
}


def _variables(template: Template, name: str) -> dict[str, Any]:
    function_id = logical_id(template, "AWS::Lambda::Function", f"{name}Function")
    function = resources(template, "AWS::Lambda::Function")[function_id]
    variables: dict[str, Any] = function["Properties"]["Environment"]["Variables"]
    return variables


def _put_events_grants(template: Template) -> dict[str, list[Any]]:
    """Role logical id -> the resources of every statement that allows events:PutEvents."""
    found: dict[str, list[Any]] = {}
    for policy in resources(template, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"]
            actions = [actions] if isinstance(actions, str) else actions
            if any(a in ("events:PutEvents", "events:*", "*") for a in actions):
                for role in policy["Properties"]["Roles"]:
                    found.setdefault(role["Ref"], []).append(statement["Resource"])
    return found


def _rule(template: Template, construct_id: str) -> str:
    """The logical id of the rule ``construct_id`` of the pipeline: the id, then CDK's hash."""
    pattern = re.compile(rf"^Pipeline{construct_id}[0-9A-F]{{8}}$")
    (found,) = [key for key in resources(template, "AWS::Events::Rule") if pattern.match(key)]
    return found


def _role(template: Template, name: str) -> str:
    return logical_id(template, "AWS::IAM::Role", f"{name}Role")


def _assert_publishers_only(template: Template, bus_arn: Any) -> None:
    # Then events:PutEvents is granted to the three functions that finish jobs and no one else,
    # each on that one bus
    grants = _put_events_grants(template)
    assert set(grants) == {_role(template, name) for name in PUBLISHERS}
    for resources_granted in grants.values():
        assert resources_granted == [bus_arn]
    # And those three are told the bus, the others are not
    for name in PUBLISHERS:
        assert _variables(template, name)[Env.EVENT_BUS_ARN] == bus_arn
    for name in OTHERS:
        assert Env.EVENT_BUS_ARN not in _variables(template, name)


def test_r27_r19_default_bus_put_events_only_for_the_functions_that_finish_jobs(
    dev: Template,
) -> None:
    # Given the dev stack, which names no bus / Then the account's default bus is used
    _assert_publishers_only(dev, DEFAULT_BUS_ARN)
    assert resources(dev, "AWS::Events::EventBus") == {}


@pytest.fixture(scope="module")
def own_bus(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """A pipeline given a bus of the stack, and a consumer's queue subscribed twice."""
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("bus")), context=cdk_context())
    stack = cdk.Stack(app, "OwnBus", env=cdk.Environment(region=REGION))
    bus = events.EventBus(stack, "Bus", event_bus_name="back-office")
    pipeline = FinancialPipeline(
        stack,
        "Pipeline",
        environment_name="dev",
        event_bus=bus,
        lambda_options=LambdaOptions(bundle_dependencies=False),
    )
    queue = sqs.Queue(stack, "Consumer", enforce_ssl=True)
    pipeline.on_job_finished(targets.SqsQueue(queue))
    pipeline.on_job_finished(targets.SqsQueue(queue), statuses=[JobStatus.FAILED])
    return Template.from_stack(stack)


def test_r27_r19_a_given_bus_is_the_only_one_the_functions_may_publish_to(
    own_bus: Template,
) -> None:
    # Given a pipeline built with a bus of its own stack
    bus = logical_id(own_bus, "AWS::Events::EventBus", "Bus")
    # Then that bus, by ARN, is the one granted and named
    _assert_publishers_only(own_bus, {"Fn::GetAtt": [bus, "Arn"]})


def test_r27_job_event_index_is_sparse_and_keys_only(dev: Template) -> None:
    # Given the jobs table
    table_id = logical_id(dev, "AWS::DynamoDB::GlobalTable", "JobsTable")
    props = resources(dev, "AWS::DynamoDB::GlobalTable")[table_id]["Properties"]
    (index,) = [i for i in props["GlobalSecondaryIndexes"] if i["IndexName"] == JOBS_EVENT_INDEX]
    # Then the outbox index is keyed on the pending flag and the update time, keys only
    assert index["KeySchema"] == [
        {"AttributeName": "eventPending", "KeyType": "HASH"},
        {"AttributeName": "updatedAt", "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert {"AttributeName": "eventPending", "AttributeType": "S"} in props["AttributeDefinitions"]


def test_r27_on_job_finished_subscribes_a_queue_to_every_job_event(own_bus: Template) -> None:
    # Given the first consumer rule
    bus = logical_id(own_bus, "AWS::Events::EventBus", "Bus")
    queue = logical_id(own_bus, "AWS::SQS::Queue", "Consumer")
    rule_id = _rule(own_bus, "OnJobFinished")
    rule = resources(own_bus, "AWS::Events::Rule")[rule_id]["Properties"]
    # Then it listens on the pipeline's bus for the pipeline's three detail-types
    assert rule["EventBusName"] == {"Ref": bus}
    assert rule["EventPattern"] == {
        "source": [EVENT_SOURCE],
        "detail-type": ["Job Completed", "Job Failed", "Job Expired"],
    }
    assert rule["State"] == "ENABLED"
    # And sends them to the queue, which lets EventBridge send from that rule only
    assert [t["Arn"] for t in rule["Targets"]] == [{"Fn::GetAtt": [queue, "Arn"]}]
    # (one statement per rule that targets it)
    senders = [
        s["Condition"]["ArnEquals"]["aws:SourceArn"]
        for policy in resources(own_bus, "AWS::SQS::QueuePolicy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Principal") == {"Service": "events.amazonaws.com"}
    ]
    second = _rule(own_bus, "OnJobFinished2")
    assert sorted(map(str, senders)) == sorted(
        str({"Fn::GetAtt": [r, "Arn"]}) for r in (rule_id, second)
    )


def test_r27_on_job_finished_with_statuses_narrows_type_and_status(own_bus: Template) -> None:
    # Given the second consumer rule, for failed jobs only, made without an id
    rule_id = _rule(own_bus, "OnJobFinished2")
    rule = resources(own_bus, "AWS::Events::Rule")[rule_id]["Properties"]
    # Then it got the next id and matches only the Job Failed events of FAILED jobs
    assert rule["EventPattern"] == {
        "source": [EVENT_SOURCE],
        "detail-type": ["Job Failed"],
        "detail": {"status": ["FAILED"]},
    }


def test_r27_pattern_of_completed_statuses_keeps_one_detail_type() -> None:
    # Given both completed statuses
    pattern = job_events_pattern(statuses=["COMPLETED", JobStatus.COMPLETED_WITH_ERRORS])
    # Then their one detail-type is named once
    assert pattern.detail_type == ["Job Completed"]
    assert pattern.detail == {"status": ["COMPLETED", "COMPLETED_WITH_ERRORS"]}
    assert pattern.source == [EVENT_SOURCE]


def test_r27_pattern_by_detail_type_only() -> None:
    pattern = job_events_pattern(detail_types=[JobEventType.EXPIRED])
    assert pattern.detail_type == ["Job Expired"]
    assert pattern.detail is None


def test_r27_the_local_runs_rule_uses_the_constructs_pattern() -> None:
    # Given the pattern the local run subscribes its queue with (local/job_events.py)
    # Then it is the one the construct renders for every job event
    stack = cdk.Stack(cdk.App(), "Pattern")
    events.Rule(stack, "Rule", event_pattern=job_events_pattern())
    rendered = Template.from_stack(stack).to_json()["Resources"]
    (props,) = [r["Properties"] for r in rendered.values() if r["Type"] == "AWS::Events::Rule"]
    assert props["EventPattern"] == JOB_EVENTS_PATTERN


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"statuses": ["PROCESSING"]}, r"statuses must be one or more of .*'PROCESSING'"),
        ({"statuses": []}, r"statuses must be one or more of"),
        ({"detail_types": ["Job Done"]}, r"detail_types must be one or more of .*'Job Done'"),
        (
            {"statuses": ["FAILED"], "detail_types": ["Job Completed"]},
            r"statuses \['FAILED'\] are never published with detail_types \['Job Completed'\]",
        ),
    ],
)
def test_fails_r27_a_pattern_that_cannot_match_a_job_event(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        job_events_pattern(**kwargs)


def test_fails_r27_on_job_finished_refuses_a_bad_status_before_making_a_rule(
    stack: cdk.Stack,
) -> None:
    # Given a pipeline / When a rule for a non-final status is asked
    pipeline = FinancialPipeline(
        stack,
        "Pipeline",
        environment_name="dev",
        lambda_options=LambdaOptions(bundle_dependencies=False),
    )
    queue = sqs.Queue(stack, "Queue")
    with pytest.raises(ValueError, match="statuses must be"):
        pipeline.on_job_finished(targets.SqsQueue(queue), statuses=["PENDING_UPLOAD"])
    # Then no rule was added, and the next one still gets the first id
    rule = pipeline.on_job_finished(targets.SqsQueue(queue))
    assert rule.node.id == "OnJobFinished"


def test_r27_cdk_json_may_name_an_existing_bus(tmp_path: Path) -> None:
    # Given cdk.json's dev environment with an existing bus's ARN
    context = cdk_context()
    arn = f"arn:aws:events:{REGION}:111122223333:event-bus/back-office"
    context["environments"] = {"dev": {**context["environments"]["dev"], "eventBus": arn}}
    app = cdk.App(outdir=str(tmp_path), context={**context, "env": "dev"})
    (stack,) = app_module.build_app(app, bundle_dependencies=False)
    # When synthesized / Then the functions publish to that bus and may publish there only
    template = Template.from_stack(stack)
    _assert_publishers_only(template, arn)


@pytest.mark.parametrize("value", ["", "arn:aws:sqs:eu-west-1:111122223333:q", 7, "a b"])
def test_fails_r27_cdk_json_with_a_bad_event_bus(value: Any) -> None:
    raw = {"team": "t", "costCenter": "c", "eventBus": value}
    with pytest.raises(ValueError, match="eventBus must be an event bus name or ARN"):
        EnvironmentConfig.from_context("dev", raw)
