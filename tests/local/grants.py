"""Edits of a synthesized template's IAM grants, for the tests that prove the local run refuses
what AWS would (R34, issue 17 item 4), and what the local evaluator decides of a role.

A grant is named by the role's owner (a function's ``Handler``, or `STATE_MACHINE`), an action
and, optionally, the resource it is on (``resource``: a logical id or a path under it, e.g.
``"PipelineStorageUploadBucket.../split/*"``). Removing it leaves every other action and
resource of the role's policies as they were; moving it grants the action on another resource
instead.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from local import policy as iam_policy
from local.authz import SUPPLIED_KEYS
from local.cfn import Template
from local.roles import TemplateIam

__all__ = [
    "STATE_MACHINE",
    "allows",
    "arn_of",
    "fast_split",
    "function_id",
    "logical_id",
    "objects_of",
    "role_of",
    "with_grant_moved",
    "without_grant",
]

STATE_MACHINE = "states"
"""The owner name of the state machine's role."""


def _resources(template: dict[str, Any]) -> dict[str, Any]:
    resources: dict[str, Any] = template["Resources"]
    return resources


def function_id(template: dict[str, Any], handler: str) -> str:
    """The logical id of the function whose ``Handler`` is ``handler``."""
    (found,) = (
        logical_id
        for logical_id, spec in _resources(template).items()
        if spec["Type"] == "AWS::Lambda::Function" and spec["Properties"].get("Handler") == handler
    )
    return found


def logical_id(template: dict[str, Any], prefix: str, kind: str) -> str:
    """The one resource of type ``kind`` whose logical id starts with ``prefix``."""
    (found,) = (
        name
        for name, spec in _resources(template).items()
        if spec["Type"] == kind and name.startswith(prefix)
    )
    return found


def role_of(template: dict[str, Any], owner: str) -> str:
    """The logical id of the execution role of ``owner`` (a handler, or `STATE_MACHINE`)."""
    resources = _resources(template)
    if owner == STATE_MACHINE:
        (machine,) = (
            spec
            for spec in resources.values()
            if spec["Type"] == "AWS::StepFunctions::StateMachine"
        )
        role: str = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
        return role
    role = resources[function_id(template, owner)]["Properties"]["Role"]["Fn::GetAtt"][0]
    return role


def arn_of(logical_id: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def objects_of(bucket: str, pattern: str) -> dict[str, Any]:
    """The ARN of ``pattern`` (e.g. ``split/*``) in the bucket of logical id ``bucket``."""
    return {"Fn::Join": ["", [arn_of(bucket), "/" + pattern]]}


def _listed(value: Any) -> list[Any]:
    return [value] if isinstance(value, (str, dict)) else list(value)


def _on(resource: Any, target: str) -> bool:
    """Whether the CloudFormation value ``resource`` names ``target``: a logical id (as any of
    its ``Ref``/``GetAtt``) or ``logical id/path`` (its ARN joined with that path)."""
    name, _, path = target.partition("/")
    text = json.dumps(resource, sort_keys=True)
    if f'"{name}"' not in text:
        return False
    return not path or text.endswith(json.dumps("/" + path) + "]]}")


def _policies(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [
        spec
        for spec in _resources(template).values()
        if spec["Type"] == "AWS::IAM::Policy" and {"Ref": role} in spec["Properties"]["Roles"]
    ]


def without_grant(
    template: dict[str, Any], owner: str, action: str, resource: str | None = None
) -> dict[str, Any]:
    """``template`` with ``action`` no longer granted to ``owner``'s role: on any resource, or
    only on ``resource`` (a logical id, or ``logical id/path``; the action stays on the
    statement's other resources). Fails when the role had no such grant."""
    changed = copy.deepcopy(template)
    role = role_of(changed, owner)
    removed = 0
    for spec in _policies(changed, role):
        document = spec["Properties"]["PolicyDocument"]
        kept: list[dict[str, Any]] = []
        for statement in document["Statement"]:
            actions = _listed(statement["Action"])
            if statement.get("Effect") != "Allow" or action not in actions:
                kept.append(statement)
                continue
            resources = _listed(statement["Resource"])
            remaining = [r for r in resources if resource is not None and not _on(r, resource)]
            if len(remaining) == len(resources):
                kept.append(statement)
                continue
            removed += 1
            others = [a for a in actions if a != action]
            if others:
                kept.append({**statement, "Action": others})
            if remaining:
                kept.append({**statement, "Action": action, "Resource": remaining})
        document["Statement"] = kept
    where = f" on {resource}" if resource else ""
    assert removed, f"{action}{where} is granted nowhere to {owner}'s role {role}"
    return changed


def with_grant_moved(
    template: dict[str, Any],
    owner: str,
    action: str,
    wrong_resource: Any,
    resource: str | None = None,
) -> dict[str, Any]:
    """``template`` with ``action`` of ``owner``'s role (on ``resource``, or everywhere) taken
    away and granted on ``wrong_resource`` (a CloudFormation value of an ARN) instead: the
    grant written, on the wrong resource."""
    changed = without_grant(template, owner, action, resource)
    (first, *_) = _policies(changed, role_of(changed, owner))
    first["Properties"]["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": action, "Resource": wrong_resource}
    )
    return changed


def allows(
    template: dict[str, Any],
    owner: str,
    action: str,
    resource_arn: str,
    *,
    stack_name: str,
    region: str,
) -> bool:
    """Whether the local evaluator lets ``owner``'s role do ``action`` on ``resource_arn``
    (its identity policies and the resource's policies in ``template``)."""
    iam = TemplateIam(Template(template, stack_name=stack_name, region=region))
    role = role_of(template, owner)
    principal = iam.session_principal(role, iam.session_name(role))
    request = iam_policy.Request(
        principal, action, resource_arn, {"aws:PrincipalArn": principal.arn}
    )
    decision = iam_policy.Evaluator(SUPPLIED_KEYS).evaluate(
        request, iam.identity_policies[role], iam.resource_policies(resource_arn)
    )
    return decision.allowed


def fast_split(
    template: dict[str, Any], *, threshold: int = 20_000, part_bytes: int = 8_000
) -> dict[str, Any]:
    """``template`` at test speed, its policy unchanged: files above ``threshold`` bytes split
    into parts of ``part_bytes``; the state machine's retries keep their number but wait 1 s
    each; the sweeper's windows are a second (a job Lambda gave up on is settled by the next
    sweep, as it is after the windows on AWS)."""
    changed = copy.deepcopy(template)
    for spec in _resources(changed).values():
        if spec["Type"] != "AWS::Lambda::Function" or "Handler" not in spec["Properties"]:
            continue
        variables = spec["Properties"].get("Environment", {}).get("Variables")
        if variables is None:
            continue
        if "SPLIT_THRESHOLD_BYTES" in variables:
            variables["SPLIT_THRESHOLD_BYTES"] = str(threshold)
            variables["PART_BYTES"] = str(part_bytes)
        if spec["Properties"]["Handler"] == "runtime.handlers.sweeper.handler":
            variables["PROCESSOR_TIMEOUT_SECONDS"] = "1"
            variables["SPLIT_TIMEOUT_SECONDS"] = "1"
    for spec in _resources(changed).values():
        if spec["Type"] != "AWS::StepFunctions::StateMachine":
            continue
        pieces = spec["Properties"]["DefinitionString"]["Fn::Join"][1]
        edited = [
            piece.replace('"IntervalSeconds":2', '"IntervalSeconds":1').replace(
                '"BackoffRate":2', '"BackoffRate":1'
            )
            if isinstance(piece, str)
            else piece
            for piece in pieces
        ]
        assert edited != pieces, "the state machine's retries are not where they were"
        spec["Properties"]["DefinitionString"]["Fn::Join"][1] = edited
    return changed
