"""R23 / R29 locally: partitions that fail through their retries fail the job, saying rows may
be stored. A module of its own: its pipeline runs a template edited for the test, and only one
pipeline at a time uses the shared local endpoint."""

from __future__ import annotations

import copy
from typing import Any

from local_api import Api, make_rows, render_csv, unique_symbol

from local.endpoint import LocalAws
from local.pipeline import LocalPipeline
from local.synth import SynthesizedStack


def _threshold(template: dict[str, Any]) -> int:
    processor = next(
        spec
        for spec in template["Resources"].values()
        if spec["Type"] == "AWS::Lambda::Function"
        and spec["Properties"].get("Handler") == "runtime.handlers.processor.handler"
    )
    return int(processor["Properties"]["Environment"]["Variables"]["SPLIT_THRESHOLD_BYTES"])


def test_fails_r23_r29_partitions_that_fail_through_their_retries_fail_the_job(
    synthesized: SynthesizedStack, local_aws: LocalAws
) -> None:
    """On AWS the WritePartitions map fails (`States.ExceedToleratedFailureThreshold`) and its
    catch names the stage; moto's engine (5.x) lets a Distributed Map whose STANDARD children
    failed succeed, so here `Finish` finds the partitions' summaries missing and fails through
    its retries: its catch (none before issue 16) fails the job instead of leaving it
    PROCESSING. Either way: FAILED, a partition named, rows may be stored."""
    # Given the template's state machine with its partitions pointed at another bucket, so that
    # every partition fails through its retries
    template = copy.deepcopy(synthesized.template)
    (machine,) = (
        spec
        for spec in template["Resources"].values()
        if spec["Type"] == "AWS::StepFunctions::StateMachine"
    )
    pieces = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    old = '"bucket.$":"$.bucket","partition.$"'
    assert any(isinstance(p, str) and old in p for p in pieces)
    machine["Properties"]["DefinitionString"]["Fn::Join"][1] = [
        p.replace(old, '"bucket":"not-the-pipelines","partition.$"') if isinstance(p, str) else p
        for p in pieces
    ]
    with LocalPipeline(
        template,
        stack_name=synthesized.stack_name,
        region=synthesized.region,
        port=0,
        retry_delays=(0.1, 0.2),
        schedule_period_seconds=3600,
        aws=local_aws,
    ) as local:
        api = Api(local.url)
        threshold = _threshold(template)

        # When a file above the threshold is uploaded
        data = render_csv(make_rows(unique_symbol(), threshold // 40 + 1_000))
        job = api.wait(api.upload(data), timeout=600)
        api.session.close()

    # Then the job is FAILED by a catch, naming a partition, and says rows may be stored
    assert job["status"] == "FAILED", job
    assert job["errors"][0]["code"] == "PART_FAILED"
    assert "partition" in job["errors"][0]["message"]
    assert "ROWS_MAY_BE_STORED" in [w["code"] for w in job["warnings"]]
