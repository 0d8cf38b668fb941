"""R23 / R29 locally: a file above the split threshold goes through the template's state machine
on moto's Step Functions engine, whose Lambda tasks reach the local functions through the one
endpoint; changing the definition in the template changes what runs."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from local_api import Api, make_rows, render_csv, unique_symbol
from split_template import has_state_machine, with_split

from local.endpoint import LocalAws
from local.pipeline import LocalPipeline
from local.synth import SynthesizedStack


def _pipeline(
    synthesized: SynthesizedStack, local_aws: LocalAws, template: dict[str, Any]
) -> LocalPipeline:
    return LocalPipeline(
        template,
        stack_name=synthesized.stack_name,
        region=synthesized.region,
        port=0,
        retry_delays=(0.1, 0.2),
        schedule_period_seconds=3600,
        aws=local_aws,
    )


def _threshold(template: dict[str, Any]) -> int:
    processor = next(
        spec
        for spec in template["Resources"].values()
        if spec["Type"] == "AWS::Lambda::Function"
        and spec["Properties"].get("Handler") == "runtime.handlers.processor.handler"
    )
    return int(processor["Properties"]["Environment"]["Variables"]["SPLIT_THRESHOLD_BYTES"])


@pytest.fixture(scope="module")
def split_pipeline(
    synthesized: SynthesizedStack, local_aws: LocalAws
) -> Iterator[tuple[LocalPipeline, Api]]:
    """The dev template's state machine when it has one, else the contract's, added here."""
    template = synthesized.template
    if not has_state_machine(template):
        template = with_split(template, threshold=200_000, part_bytes=64_000)
    with _pipeline(synthesized, local_aws, template) as local:
        client = Api(local.url)
        yield local, client
        client.session.close()


def test_r23_r29_a_file_above_the_threshold_completes_through_the_state_machine(
    split_pipeline: tuple[LocalPipeline, Api],
) -> None:
    local, split_api = split_pipeline
    # Given a file above the template's threshold, with a repeat and a conflict of its first row
    # at the end (in another part)
    threshold = _threshold(local.template.body)
    symbol = unique_symbol()
    count = threshold // 40 + 2_000
    rows = make_rows(symbol, count)
    data = render_csv(rows)
    first = data.split(b"\n")[1]
    cells = first.split(b",")
    conflicting = b",".join([cells[0], b"777", *cells[2:]])
    data += first + b"\n" + conflicting + b"\n"
    assert len(data) > threshold

    # When it is uploaded through the local pipeline
    job = split_api.wait(split_api.upload(data), timeout=600)

    # Then the execution completed the job with exact counts, and /results reads every row
    assert job["status"] == "COMPLETED_WITH_ERRORS", job
    assert job["rows"] == {"total": count + 2, "accepted": count, "rejected": 1, "duplicates": 1}
    assert job["errors"][0]["code"] == "CONFLICTING_DUPLICATE"
    assert job["errors"][0]["line"] == count + 3
    items, _ = split_api.all_rows(symbol, limit=1000)
    assert len(items) == count
    assert [i["timestamp"] for i in items] == [row[3] for row in rows]
    # And the parts and partitions ran in the local functions, called by moto's engine
    assert local.lambdas is not None
    by_handler = {
        spec.handler: local.lambdas.invocations.get(logical_id, 0)
        for logical_id, spec in local.functions.items()
    }
    assert by_handler["runtime.handlers.parse_part.handler"] > 1
    assert by_handler["runtime.handlers.write_partition.handler"] >= 1
    # (CheckKeys, then Finish)
    assert by_handler["runtime.handlers.finish_split.handler"] == 2


def _edited(template: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """A copy of `template` with `old` replaced by `new` in the state machine's definition."""
    body = copy.deepcopy(template)
    machine = next(
        spec
        for spec in body["Resources"].values()
        if spec["Type"] == "AWS::StepFunctions::StateMachine"
    )
    pieces = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    edited = [p.replace(old, new) if isinstance(p, str) else p for p in pieces]
    assert edited != pieces, f"{old!r} is not in the definition"
    machine["Properties"]["DefinitionString"]["Fn::Join"][1] = edited
    return body


def test_r29_the_definition_in_the_template_is_what_runs_locally(
    synthesized: SynthesizedStack, local_aws: LocalAws
) -> None:
    # Given the template with its Finish step edited to report a failure named in the template
    template = synthesized.template
    if not has_state_machine(template):
        template = with_split(template, threshold=50_000, part_bytes=20_000)
    failure = json.dumps(
        {"Error": "Edited", "Cause": json.dumps({"errorMessage": "part 7: edited template"})}
    )
    template = _edited(template, '"outcome":"SUCCEEDED"', f'"outcome":"FAILED","failure":{failure}')
    threshold = _threshold(template)
    with _pipeline(synthesized, local_aws, template) as local:
        api = Api(local.url)

        # When a file above its threshold is uploaded
        data = render_csv(make_rows(unique_symbol(), threshold // 40 + 1000))
        assert len(data) > threshold
        job = api.wait(api.upload(data), timeout=600)
        api.session.close()

    # Then the edited step ran: the job failed as the edited template said
    assert job["status"] == "FAILED"
    assert job["errors"][0]["code"] == "PART_FAILED"
    assert "part 7 failed" in job["errors"][0]["message"]
    assert "edited template" in job["errors"][0]["message"]
