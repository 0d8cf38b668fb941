"""How a split execution ends when it does not end well (issue 16, items 5 and 6): the Finish
function's room for the report merge, and Step Functions' own status changes failing the job."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Template

from .conftest import logical_id, resources


def _function(template: Template, name: str) -> tuple[str, dict[str, Any]]:
    function_id = logical_id(template, "AWS::Lambda::Function", f"{name}Function")
    return function_id, resources(template, "AWS::Lambda::Function")[function_id]["Properties"]


def _machine_id(template: Template) -> str:
    (machine_id,) = resources(template, "AWS::StepFunctions::StateMachine")
    return machine_id


def _rule(template: Template) -> tuple[str, dict[str, Any]]:
    rule_id = logical_id(template, "AWS::Events::Rule", "SplitExecutionEnded")
    return rule_id, resources(template, "AWS::Events::Rule")[rule_id]["Properties"]


@pytest.mark.parametrize("env", ["dev", "prod", "regulated"])
def test_fails_r23_an_execution_that_ends_unfinished_invokes_finish_split(
    synthesized: Any, env: str
) -> None:
    # Given the rule on the state machine's status changes
    template = synthesized.template(env)
    rule_id, rule = _rule(template)
    finish_id, _ = _function(template, "FinishSplit")
    # Then it matches Step Functions' own events of this state machine that end an execution
    # without its definition's ending, on the default bus
    assert rule["EventPattern"] == {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {
            "status": ["FAILED", "TIMED_OUT", "ABORTED"],
            "stateMachineArn": [{"Ref": _machine_id(template)}],
        },
    }
    assert "EventBusName" not in rule
    assert rule["State"] == "ENABLED"
    # And it invokes finish_split, which only this rule may invoke that way
    assert [t["Arn"] for t in rule["Targets"]] == [{"Fn::GetAtt": [finish_id, "Arn"]}]
    permissions = [
        p["Properties"]
        for p in resources(template, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [finish_id, "Arn"]}
    ]
    assert permissions == [
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [finish_id, "Arn"]},
            "Principal": "events.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]},
        }
    ]


def test_fails_r23_finish_split_retries_async_events_then_sends_them_to_the_failure_queue(
    prod: Template,
) -> None:
    # Given finish_split's asynchronous invoke configuration
    finish_id, _ = _function(prod, "FinishSplit")
    (config,) = [
        c["Properties"]
        for c in resources(prod, "AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": finish_id}
    ]
    queue_id = logical_id(prod, "AWS::SQS::Queue", "IngestFailureQueue")
    # Then a status change it fails on is retried twice, then kept in the processor's failure
    # queue (whose depth pages), as the processor's failed events are
    assert config["MaximumRetryAttempts"] == 2
    assert config["DestinationConfig"] == {
        "OnFailure": {"Destination": {"Fn::GetAtt": [queue_id, "Arn"]}}
    }
    role_id = _function(prod, "FinishSplit")[1]["Role"]["Fn::GetAtt"][0]
    statements = [
        s
        for policy in resources(prod, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if "sqs:SendMessage" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert [s["Resource"] for s in statements] == [{"Fn::GetAtt": [queue_id, "Arn"]}]


@pytest.mark.parametrize("env", ["dev", "prod", "regulated"])
def test_r23_r13_finish_split_streams_its_merge_within_the_function_defaults(
    synthesized: Any, env: str
) -> None:
    # Given the finish function / Then it keeps R13's settings and Lambda's default /tmp: the
    # report merge streams from S3 and writes no byte to disk
    _, props = _function(synthesized.template(env), "FinishSplit")
    assert props["Timeout"] == 300
    assert props["MemorySize"] == 3008
    assert "EphemeralStorage" not in props


def _split_parts(stack: Any) -> tuple[Any, Any]:
    from aws_cdk import aws_lambda as lambda_

    from financial_pipeline import Storage
    from financial_pipeline.function import FunctionOptions

    storage = Storage(stack, "Storage")
    options = FunctionOptions(code=lambda_.Code.from_inline("def handler(event, context): pass"))
    return storage, options


def test_r23_split_processing_alone_needs_a_failure_queue(stack: Any) -> None:
    # Given SplitProcessing composed with neither a failure queue nor an Ingest
    from financial_pipeline import SplitProcessing

    storage, options = _split_parts(stack)
    SplitProcessing(stack, "Split", storage=storage, functions=options, max_concurrency=1)
    # Then synthesis fails and says what to give it
    with pytest.raises(RuntimeError, match=r"SplitProcessing has no failure queue"):
        Template.from_stack(stack)


def test_r23_split_processing_sends_its_failures_to_the_queue_it_is_given(stack: Any) -> None:
    from aws_cdk import aws_sqs as sqs

    from financial_pipeline import SplitProcessing

    storage, options = _split_parts(stack)
    queue = sqs.Queue(stack, "Failures", enforce_ssl=True)
    SplitProcessing(
        stack, "Split", storage=storage, functions=options, max_concurrency=1, failure_queue=queue
    )
    template = Template.from_stack(stack)
    (queue_id,) = resources(template, "AWS::SQS::Queue")
    (config,) = resources(template, "AWS::Lambda::EventInvokeConfig").values()
    assert config["Properties"]["DestinationConfig"] == {
        "OnFailure": {"Destination": {"Fn::GetAtt": [queue_id, "Arn"]}}
    }
    assert config["Properties"]["MaximumRetryAttempts"] == 2


def test_r23_ingest_given_the_split_wires_its_processor_sweeper_and_failures(stack: Any) -> None:
    # Given an Ingest composed with a SplitProcessing, as FinancialPipeline does
    from financial_pipeline import Ingest, SplitProcessing

    storage, options = _split_parts(stack)
    split = SplitProcessing(
        stack,
        "Split",
        storage=storage,
        functions=options,
        max_concurrency=1,
        threshold_bytes=64 * 1024**2,
        part_bytes=4 * 1024**2,
    )
    ingest = Ingest(stack, "Ingest", storage=storage, functions=options, split=split)
    template = Template.from_stack(stack)
    # Then the processor knows the state machine and the sizes, the sweeper the timeout
    functions = resources(template, "AWS::Lambda::Function")
    processor = functions[stack.resolve(ingest.processor.node.default_child.logical_id)]
    variables = processor["Properties"]["Environment"]["Variables"]
    assert variables["SPLIT_THRESHOLD_BYTES"] == str(64 * 1024**2)
    assert variables["PART_BYTES"] == str(4 * 1024**2)
    assert "STATE_MACHINE_ARN" in variables
    sweeper = functions[stack.resolve(ingest.sweeper.node.default_child.logical_id)]
    assert "SPLIT_TIMEOUT_SECONDS" in sweeper["Properties"]["Environment"]["Variables"]
    # And the split's failures share the ingest's one queue
    assert split.failure_queue is ingest.failure_queue
    assert len(resources(template, "AWS::SQS::Queue")) == 1
