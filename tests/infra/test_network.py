"""The VPC endpoints of the hardened profile (R26): each admits only the pipeline's functions
calling the pipeline's own resources, and every call those functions are granted."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

from .conftest import REGION, resources

ENDPOINT_SERVICES = {
    "s3": "s3",
    "dynamodb": "dynamodb",
    "lambda": "lambda",
    "xray": "xray",
    "events": "events",
    "states": "states",
}
"""Service name suffix of each endpoint -> the IAM prefix of the actions it carries."""
CALLED_BY_THE_SERVICE = {
    "logs": "Lambda ships the functions' logs",
    "ec2": "Lambda manages the functions' network interfaces",
    "kms": "S3, DynamoDB and Step Functions use the key on the caller's behalf",
    "sqs": "Lambda sends a failed event to the on-failure destination",
}
"""Services the function roles are granted that no call from inside the VPC reaches."""
DYNAMODB_STREAMS = {"dynamodb:GetRecords", "dynamodb:GetShardIterator"}
"""In CDK's table read grants, but served by DynamoDB Streams' own endpoint, not this one."""
XRAY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def _text(value: Any) -> str:
    """A CloudFormation value as one string: ``${Id.Attr}`` and ``${Id}`` for references."""
    if isinstance(value, str):
        return value
    if "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        return f"${{{logical_id}.{attribute}}}"
    if "Ref" in value:
        return f"${{{value['Ref']}}}"
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_text(part) for part in parts)
    raise AssertionError(f"unexpected value {value!r}")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _endpoints(template: Template) -> dict[str, dict[str, Any]]:
    """Endpoint properties by service (``s3``, ``dynamodb``, ``lambda``...)."""
    found = {}
    for endpoint in resources(template, "AWS::EC2::VPCEndpoint").values():
        service = _text(endpoint["Properties"]["ServiceName"]).rsplit(".", 1)[-1]
        found[service] = endpoint["Properties"]
    return found


def _vpc_roles(template: Template) -> set[str]:
    """Logical ids of the roles of the functions that run in the VPC."""
    return {
        function["Properties"]["Role"]["Fn::GetAtt"][0]
        for function in resources(template, "AWS::Lambda::Function").values()
        if "VpcConfig" in function["Properties"]
    }


def _granted(template: Template) -> list[tuple[str, str, str]]:
    """(role, action, resource) of every allow statement of the VPC functions' roles."""
    roles = _vpc_roles(template)
    granted = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        attached = {role["Ref"] for role in policy["Properties"].get("Roles", [])} & roles
        for role in attached:
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                assert statement["Effect"] == "Allow"
                for action in _list(statement["Action"]):
                    for resource in _list(statement["Resource"]):
                        granted.append((role, action, _text(resource)))
    return granted


def _admits(statements: list[dict[str, Any]], action: str, resource: str) -> bool:
    for statement in statements:
        actions = _list(statement["Action"])
        if any(fnmatch.fnmatchcase(action, pattern) for pattern in actions) and any(
            fnmatch.fnmatchcase(resource, _text(pattern))
            for pattern in _list(statement["Resource"])
        ):
            return True
    return False


def test_fails_r26_every_vpc_endpoint_admits_only_the_pipelines_function_roles(
    regulated: Template,
) -> None:
    # Given the VPC's endpoints, and the roles of the functions that run in the VPC
    endpoints = _endpoints(regulated)
    roles = sorted(f"${{{role}.Arn}}" for role in _vpc_roles(regulated))
    assert set(endpoints) == set(ENDPOINT_SERVICES)
    for service, endpoint in endpoints.items():
        # Then each has a policy (without one an endpoint admits any call to any account's
        # resources), and each statement admits those roles' sessions alone
        assert "PolicyDocument" in endpoint, service
        for statement in endpoint["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            # (a gateway endpoint's policy cannot name a role as its principal: the roles
            # are a condition on every statement, the same for both kinds of endpoint)
            assert statement["Principal"] == {"AWS": "*"}
            principals = statement["Condition"]["ArnEquals"]["aws:PrincipalArn"]
            assert sorted(_text(arn) for arn in principals) == roles, service


def test_fails_r26_vpc_endpoints_admit_only_this_pipelines_resources(regulated: Template) -> None:
    # Given each endpoint's statements
    endpoints = _endpoints(regulated)
    admitted = {
        service: {
            (action, _text(resource))
            for statement in endpoint.get("PolicyDocument", {"Statement": []})["Statement"]
            for action in _list(statement["Action"])
            for resource in _list(statement["Resource"])
        }
        for service, endpoint in endpoints.items()
    }
    bucket = _arn(regulated, "AWS::S3::Bucket", "UploadBucket")
    jobs = _arn(regulated, "AWS::DynamoDB::GlobalTable", "JobsTable")
    results = _arn(regulated, "AWS::DynamoDB::GlobalTable", "ResultsTable")
    processor = _arn(regulated, "AWS::Lambda::Function", "Processor")
    state_machine = _logical(regulated, "AWS::StepFunctions::StateMachine", "StateMachine")
    machine = f"${{{state_machine}}}"
    bus = f"arn:aws:events:{REGION}:${{AWS::AccountId}}:event-bus/default"

    # Then every resource is one of the pipeline's, through the endpoint of its service
    resources_of = {
        service: {resource for _, resource in found} for service, found in admitted.items()
    }
    assert resources_of["s3"] == {bucket, bucket + "/*"}
    assert resources_of["dynamodb"] == {jobs, jobs + "/index/*", results, results + "/index/*"}
    assert resources_of["lambda"] == {processor, processor + ":*"}
    assert resources_of["states"] == {machine}
    assert resources_of["events"] == {bus}
    # X-Ray's trace actions name no resource: the endpoint admits those two actions alone
    assert admitted["xray"] == {(action, "*") for action in XRAY_ACTIONS}
    # And each endpoint carries its own service's actions only, no wildcard
    for service, found in admitted.items():
        for action, _ in found:
            assert action.split(":")[0] == ENDPOINT_SERVICES[service]
            assert "*" not in action, action


def test_r26_vpc_endpoints_admit_every_call_the_functions_are_granted(regulated: Template) -> None:
    # Given every grant of the roles of the functions in the VPC
    endpoints = _endpoints(regulated)
    # (an endpoint without a policy admits everything)
    everything = [{"Action": "*", "Resource": "*"}]
    by_prefix = {
        prefix: endpoints[service].get("PolicyDocument", {"Statement": everything})["Statement"]
        for service, prefix in ENDPOINT_SERVICES.items()
    }
    blocked = []
    for role, action, resource in _granted(regulated):
        prefix = action.split(":")[0]
        if prefix in CALLED_BY_THE_SERVICE or action in DYNAMODB_STREAMS:
            continue
        # Then the call reaches a service the VPC has an endpoint for...
        assert prefix in by_prefix, f"{role} is granted {action}: the VPC has no endpoint for it"
        # ...and that endpoint admits it: an endpoint policy that refuses a granted call
        # fails it on AWS with AccessDenied
        if not _admits(by_prefix[prefix], action, resource):
            blocked.append((role, action, resource))
    assert blocked == []


@pytest.mark.parametrize("service", sorted(ENDPOINT_SERVICES))
def test_r26_each_endpoint_is_used_by_some_function(regulated: Template, service: str) -> None:
    # Every endpoint costs money or a route: some function is granted a call through it
    prefix = ENDPOINT_SERVICES[service]
    assert any(action.startswith(prefix + ":") for _, action, _ in _granted(regulated))


def _logical(template: Template, type_: str, fragment: str) -> str:
    ids = [key for key in resources(template, type_) if fragment in key]
    assert len(ids) == 1, (type_, fragment, ids)
    return ids[0]


def _arn(template: Template, type_: str, fragment: str) -> str:
    return f"${{{_logical(template, type_, fragment)}.Arn}}"


def test_r26_endpoint_policies_fit_their_size_limit(regulated: Template) -> None:
    # An endpoint policy is at most 20,480 characters; the synthesized ones, with each role
    # ARN spelled out, stay far below (a role ARN is under 100 characters)
    for service, endpoint in _endpoints(regulated).items():
        rendered = json.dumps(endpoint.get("PolicyDocument", {}))
        assert len(rendered) < 20_480 // 2, service
