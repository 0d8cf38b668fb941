"""The dev template with the split path added as the contract describes it (three functions and
a Distributed Map state machine), for the local tests while the construct does not synthesize it
yet, and to prove that the template's definition is what runs locally."""

from __future__ import annotations

import copy
import json
from typing import Any

from runtime.contract import Handler, SplitState

MACHINE = "SplitStateMachine"
FUNCTIONS = {
    "ParsePartFn": Handler.PARSE_PART,
    "WritePartitionFn": Handler.WRITE_PARTITION,
    "FinishSplitFn": Handler.FINISH_SPLIT,
}
_RETRY = [
    {
        "ErrorEquals": ["States.ALL"],
        "IntervalSeconds": 1,
        "MaxAttempts": 2,
        "BackoffRate": 2,
    }
]


def has_state_machine(template: dict[str, Any]) -> bool:
    return any(
        spec["Type"] == "AWS::StepFunctions::StateMachine"
        for spec in template["Resources"].values()
    )


def _map(name: str, items_key: str, selector: dict[str, str], function: str, after: str) -> Any:
    return {
        "Type": "Map",
        "ItemReader": {
            "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": {"InputType": "JSON"},
            "Parameters": {"Bucket.$": "$.bucket", "Key.$": f"$.{items_key}"},
        },
        "ItemSelector": selector,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": name,
            "States": {name: {"Type": "Task", "Resource": function, "Retry": _RETRY, "End": True}},
        },
        "MaxConcurrency": 4,
        "ResultPath": None,
        "Catch": [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": SplitState.FAIL_JOB}
        ],
        "Next": after,
    }


def definition(arns: dict[str, str], finish_payload: dict[str, Any] | None = None) -> str:
    job = {"jobId.$": "$.jobId", "bucket.$": "$.bucket", "key.$": "$.key", "etag.$": "$.etag"}
    states = {
        SplitState.PARSE_PARTS: _map(
            SplitState.PARSE_PART,
            "partsKey",
            {**job, "part.$": "$$.Map.Item.Value"},
            arns["ParsePartFn"],
            SplitState.WRITE_PARTITIONS,
        ),
        SplitState.WRITE_PARTITIONS: _map(
            SplitState.WRITE_PARTITION,
            "partitionsKey",
            {"jobId.$": "$.jobId", "bucket.$": "$.bucket", "partition.$": "$$.Map.Item.Value"},
            arns["WritePartitionFn"],
            SplitState.FINISH,
        ),
        SplitState.FINISH: {
            "Type": "Task",
            "Resource": arns["FinishSplitFn"],
            "Parameters": finish_payload
            or {**job, "attempt.$": "$.attempt", "outcome": "SUCCEEDED"},
            "End": True,
        },
        SplitState.FAIL_JOB: {
            "Type": "Task",
            "Resource": arns["FinishSplitFn"],
            "Parameters": {
                **job,
                "attempt.$": "$.attempt",
                "outcome": "FAILED",
                "failure.$": "$.failure",
            },
            "Next": "Failed",
        },
        "Failed": {"Type": "Fail", "Error": "PART_FAILED"},
    }
    return json.dumps({"StartAt": SplitState.PARSE_PARTS, "States": states}, separators=(",", ":"))


def with_split(
    template: dict[str, Any],
    *,
    threshold: int,
    part_bytes: int,
    finish_payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A copy of `template` with the split functions and state machine. The definition is an
    `Fn::Join` around `Fn::GetAtt` of the functions, as CDK writes it, so the local backend
    resolves it like CloudFormation would."""
    body = copy.deepcopy(template)
    resources = body["Resources"]
    processor_id = next(
        logical_id
        for logical_id, spec in resources.items()
        if spec["Type"] == "AWS::Lambda::Function"
        and spec["Properties"].get("Handler") == Handler.PROCESSOR
    )
    processor = resources[processor_id]
    for logical_id, handler in FUNCTIONS.items():
        spec = copy.deepcopy(processor)
        props = spec["Properties"]
        props["Handler"] = str(handler)
        props.pop("ReservedConcurrentExecutions", None)
        if "FunctionName" in props:
            props["FunctionName"] = {"Fn::Join": ["-", [props["FunctionName"], logical_id]]}
        resources[logical_id] = spec
    marker = "@@ARN:"
    text = definition(
        {logical_id: f"{marker}{logical_id}@@" for logical_id in FUNCTIONS}, finish_payload
    )
    pieces: list[Any] = []
    for chunk in text.split("@@"):
        if chunk.startswith("ARN:"):
            pieces.append({"Fn::GetAtt": [chunk.removeprefix("ARN:"), "Arn"]})
        else:
            pieces.append(chunk)
    resources[MACHINE] = {
        "Type": "AWS::StepFunctions::StateMachine",
        "Properties": {
            "DefinitionString": {"Fn::Join": ["", pieces]},
            "RoleArn": {"Fn::GetAtt": [processor["Properties"]["Role"]["Fn::GetAtt"][0], "Arn"]},
        },
    }
    for spec in resources.values():
        if spec["Type"] == "AWS::Lambda::Function" and "Handler" in spec["Properties"]:
            variables = spec["Properties"].setdefault("Environment", {}).setdefault("Variables", {})
            variables["SPLIT_THRESHOLD_BYTES"] = str(threshold)
            variables["PART_BYTES"] = str(part_bytes)
            variables["STATE_MACHINE_ARN"] = {"Ref": MACHINE}
    return body
