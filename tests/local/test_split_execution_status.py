"""R23 / R29 locally: Step Functions' own status changes of the split state machine reach the
template's rule target as EventBridge would deliver them, so an execution stopped (or timed out)
from outside the definition fails its job within seconds, not after the sweeper's 12 hours."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from local_api import Api, make_rows, render_csv, unique_symbol
from split_template import has_state_machine

from local.endpoint import LocalAws
from local.events import execution_status_rules_from_template, pattern_matches
from local.pipeline import LocalPipeline
from local.synth import SynthesizedStack


@pytest.fixture(scope="module")
def split_pipeline(
    synthesized: SynthesizedStack, local_aws: LocalAws
) -> Iterator[tuple[LocalPipeline, Api]]:
    assert has_state_machine(synthesized.template), "the dev template has no split path"
    with LocalPipeline(
        synthesized.template,
        stack_name=synthesized.stack_name,
        region=synthesized.region,
        port=0,
        retry_delays=(0.1, 0.2),
        schedule_period_seconds=3600,
        aws=local_aws,
    ) as local:
        client = Api(local.url)
        yield local, client
        client.session.close()


def _threshold(template: dict[str, Any]) -> int:
    processor = next(
        spec
        for spec in template["Resources"].values()
        if spec["Type"] == "AWS::Lambda::Function"
        and spec["Properties"].get("Handler") == "runtime.handlers.processor.handler"
    )
    return int(processor["Properties"]["Environment"]["Variables"]["SPLIT_THRESHOLD_BYTES"])


def test_r29_the_templates_execution_status_rule_is_served_locally(
    split_pipeline: tuple[LocalPipeline, Api],
) -> None:
    # Given the local pipeline of the template / Then its rule on the state machine's status
    # changes has a poller, for the template's state machine and the finish function
    local, _ = split_pipeline
    (rule,) = execution_status_rules_from_template(local.template)
    (poller,) = local.execution_status_pollers
    assert poller.rule == rule
    assert local.functions[rule.function_logical_id].handler == (
        "runtime.handlers.finish_split.handler"
    )
    assert rule.statuses == ["FAILED", "TIMED_OUT", "ABORTED"]
    (machine,) = (
        logical_id
        for logical_id, spec in local.template.body["Resources"].items()
        if spec["Type"] == "AWS::StepFunctions::StateMachine"
    )
    assert rule.state_machine_arns == [local.template.arn(machine)]


def test_r29_status_change_patterns_match_as_eventbridge_does() -> None:
    pattern = {"source": ["aws.states"], "detail": {"status": ["ABORTED", "TIMED_OUT"]}}
    assert pattern_matches(pattern, {"source": "aws.states", "detail": {"status": "ABORTED"}})
    assert not pattern_matches(pattern, {"source": "aws.states", "detail": {"status": "FAILED"}})
    assert not pattern_matches(pattern, {"source": "aws.s3", "detail": {"status": "ABORTED"}})
    # An operator the local run does not implement never matches
    assert not pattern_matches({"source": [{"prefix": "aws."}]}, {"source": "aws.states"})


def test_fails_r23_r29_an_aborted_execution_fails_its_job_within_seconds(
    split_pipeline: tuple[LocalPipeline, Api],
) -> None:
    local, api = split_pipeline
    # Given a file above the split threshold, whose execution is running
    threshold = _threshold(local.template.body)
    data = render_csv(make_rows(unique_symbol(), threshold // 40 + 2_000))
    assert len(data) > threshold
    job_id = api.upload(data)
    sfn = local.clients.stepfunctions
    (poller,) = local.execution_status_pollers
    machine = poller.rule.state_machine_arns[0]
    execution_arn = f"{machine.replace(':stateMachine:', ':execution:')}:{job_id}"
    deadline = time.monotonic() + 300
    while True:
        try:
            if sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING":
                break
        except sfn.exceptions.ExecutionDoesNotExist:
            pass
        assert time.monotonic() < deadline, "the execution never started"
        time.sleep(0.1)

    # When an operator stops it (a timeout ends it the same way: no Catch sees either)
    sfn.stop_execution(executionArn=execution_arn, error="Operator", cause="stopped by a test")
    stopped = time.monotonic()
    job = api.wait(job_id, timeout=60)

    # Then the job is FAILED within seconds, naming the execution
    assert time.monotonic() - stopped < 30
    assert job["status"] == "FAILED", job
    assert job["errors"][0]["code"] == "EXECUTION_ABORTED"
    assert execution_arn in job["errors"][0]["message"]
    # And the event came as EventBridge sends it: the execution's input, as a JSON string
    (event,) = [e for e in poller.delivered if e["detail"]["name"] == job_id]
    assert event["source"] == "aws.states"
    assert event["detail-type"] == "Step Functions Execution Status Change"
    assert event["detail"]["status"] == "ABORTED"
    assert f'"jobId": "{job_id}"' in event["detail"]["input"] or job_id in event["detail"]["input"]
