"""A synthesized CloudFormation template, with intrinsic functions resolved to local values.

The local pipeline has no CloudFormation service: physical names come from the template when it
gives them and are derived from the logical id otherwise, as CloudFormation would.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"

_ARN_REGION = re.compile(r"arn:aws[a-z-]*:[a-z0-9-]+:([a-z]{2}(?:-[a-z]+)+-\d+):")


def template_region(body: dict[str, Any]) -> str:
    """The region a synthesized template is for: the one its literal ARNs name (a stack with
    an explicit env writes it into them), else `DEFAULT_REGION`. Several: the most named."""
    found: dict[str, int] = {}
    for region in _ARN_REGION.findall(json.dumps(body)):
        found[region] = found.get(region, 0) + 1
    return max(found, key=lambda r: found[r]) if found else DEFAULT_REGION


def assembly_environment(template: Path) -> tuple[str | None, str | None]:
    """The (account, region) the cloud assembly beside ``template`` (its ``manifest.json``)
    says the template's stack deploys to; None for what it leaves unknown (an environment-
    agnostic stack, or no manifest)."""
    manifest = template.parent / "manifest.json"
    try:
        artifacts = json.loads(manifest.read_text(encoding="utf-8")).get("artifacts", {})
    except (OSError, json.JSONDecodeError):
        return None, None
    for artifact in artifacts.values():
        properties = artifact.get("properties") or {}
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        if properties.get("templateFile") != template.name:
            continue
        match = _ENVIRONMENT.fullmatch(artifact.get("environment", ""))
        if match is None:
            return None, None
        account, region = match.groups()
        return (
            None if account.startswith("unknown-") else account,
            None if region.startswith("unknown-") else region,
        )
    return None, None


_ENVIRONMENT = re.compile(r"aws://([^/]+)/([^/]+)")


# Ref of these types returns a name (or URL) that the local pipeline must know before it exists.
_NAMED = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::DynamoDB::GlobalTable": "TableName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Events::Rule": "Name",
    "AWS::Events::EventBus": "Name",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::IAM::Role": "RoleName",
}


class TemplateError(ValueError):
    """The template uses something the local pipeline cannot resolve."""


@dataclass
class Resource:
    logical_id: str
    type: str
    properties: dict[str, Any]


@dataclass
class Template:
    body: dict[str, Any]
    stack_name: str
    region: str = DEFAULT_REGION
    account_id: str = ACCOUNT_ID
    sqs_endpoint: str = "http://localhost"
    queue_urls: dict[str, str] = field(default_factory=dict)  # as the backend reports them
    _names: dict[str, str] = field(default_factory=dict)

    @property
    def resources(self) -> dict[str, Resource]:
        return {
            logical_id: Resource(logical_id, spec["Type"], spec.get("Properties") or {})
            for logical_id, spec in self.body.get("Resources", {}).items()
        }

    def of_type(self, *types: str) -> Iterator[Resource]:
        for resource in self.resources.values():
            if resource.type in types:
                yield resource

    def resource(self, logical_id: str) -> Resource:
        try:
            return self.resources[logical_id]
        except KeyError:
            raise TemplateError(f"no resource {logical_id!r} in the template") from None

    # Physical names

    def physical_name(self, logical_id: str) -> str:
        if logical_id in self._names:
            return self._names[logical_id]
        res = self.resource(logical_id)
        name_prop = _NAMED.get(res.type)
        explicit = res.properties.get(name_prop) if name_prop else None
        name = str(self.resolve(explicit)) if explicit is not None else self._generated_name(res)
        self._names[logical_id] = name
        return name

    def _generated_name(self, res: Resource) -> str:
        digest = hashlib.sha256(f"{self.stack_name}/{res.logical_id}".encode()).hexdigest()
        suffix = digest[:12].upper()
        if res.type == "AWS::S3::Bucket":
            return f"{self.stack_name}-{res.logical_id}-{suffix}".lower()[:63]
        if res.type == "AWS::SQS::Queue" and res.properties.get("FifoQueue"):
            return f"{self.stack_name}-{res.logical_id}-{suffix}"[:75] + ".fifo"
        return f"{self.stack_name}-{res.logical_id}-{suffix}"[:64]

    def arn(self, logical_id: str) -> str:
        res = self.resource(logical_id)
        name = self.physical_name(logical_id)
        prefix = f"arn:aws:{{}}:{self.region}:{self.account_id}"
        match res.type:
            case "AWS::S3::Bucket":
                return f"arn:aws:s3:::{name}"
            case "AWS::DynamoDB::Table" | "AWS::DynamoDB::GlobalTable":
                return prefix.format("dynamodb") + f":table/{name}"
            case "AWS::SQS::Queue":
                return prefix.format("sqs") + f":{name}"
            case "AWS::Lambda::Function":
                return prefix.format("lambda") + f":function:{name}"
            case "AWS::SNS::Topic":
                return prefix.format("sns") + f":{name}"
            case "AWS::Events::Rule":
                return prefix.format("events") + f":rule/{name}"
            case "AWS::Events::EventBus":
                return prefix.format("events") + f":event-bus/{name}"
            case "AWS::StepFunctions::StateMachine":
                return prefix.format("states") + f":stateMachine:{name}"
            case "AWS::IAM::Role":
                return f"arn:aws:iam::{self.account_id}:role/{name}"
            case "AWS::KMS::Key":
                # A key's id is a UUID that KMS picks; a stable one stands in for it.
                digest = hashlib.sha256(f"{self.stack_name}/{logical_id}".encode()).hexdigest()
                key_id = (
                    f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
                )
                return prefix.format("kms") + f":key/{key_id}"
            case _:
                return prefix.format(res.type.split("::")[1].lower()) + f":{logical_id}"

    def queue_url(self, logical_id: str) -> str:
        if logical_id in self.queue_urls:
            return self.queue_urls[logical_id]
        name = self.physical_name(logical_id)
        return f"{self.sqs_endpoint}/{self.account_id}/{name}"

    # Intrinsic functions

    def ref(self, name: str) -> str:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack_name,
            "AWS::StackId": (
                f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/local"
            ),
            "AWS::NoValue": "",
        }
        if name in pseudo:
            return pseudo[name]
        params = self.body.get("Parameters", {})
        if name in params:
            return str(params[name].get("Default", ""))
        res = self.resource(name)
        match res.type:
            case "AWS::SQS::Queue":
                return self.queue_url(name)
            case "AWS::SNS::Topic" | "AWS::StepFunctions::StateMachine":
                return self.arn(name)
            case _ if res.type in _NAMED:
                return self.physical_name(name)
            case _:
                return name

    def get_att(self, logical_id: str, attribute: str) -> str:
        res = self.resource(logical_id)
        match attribute:
            case "Arn":
                return self.arn(logical_id)
            case "QueueName" | "TopicName" | "Name":
                return self.physical_name(logical_id)
            case "QueueUrl":
                return self.queue_url(logical_id)
            case "RootResourceId":
                return f"{logical_id}.root"
            case "DomainName" | "RegionalDomainName" if res.type == "AWS::S3::Bucket":
                return f"{self.physical_name(logical_id)}.s3.{self.region}.amazonaws.com"
            case _:
                return f"{logical_id}.{attribute}"

    def resolve(self, value: Any) -> Any:
        """Resolve intrinsic functions inside ``value`` (strings, lists, dicts)."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), *_ = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                target, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
                return self.get_att(target, attribute)
            if key == "Fn::Join":
                sep, parts = arg
                return str(sep).join(str(self.resolve(part)) for part in self.resolve(parts))
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(sep)
            if key == "Fn::If":
                condition, when_true, when_false = arg
                chosen = when_true if self._condition(condition) else when_false
                return self.resolve(chosen)
            if key == "Fn::ImportValue":
                raise TemplateError(f"cross-stack import {arg!r} cannot run locally")
        return {key: self.resolve(item) for key, item in value.items()}

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name:
                target, attribute = name.split(".", 1)
                return self.get_att(target, attribute)
            return self.ref(name)

        return re.sub(r"\$\{([^!}][^}]*)\}", replace, str(text))

    def _condition(self, name: str) -> bool:
        spec = self.body.get("Conditions", {}).get(name)
        if spec is None:
            raise TemplateError(f"unknown condition {name!r}")
        return bool(self._evaluate(spec))

    def _evaluate(self, spec: Any) -> Any:
        if isinstance(spec, dict) and len(spec) == 1:
            (key, arg), *_ = spec.items()
            if key == "Fn::Equals":
                left, right = (self._evaluate(a) for a in arg)
                return left == right
            if key == "Fn::Not":
                return not self._evaluate(arg[0])
            if key == "Fn::And":
                return all(self._evaluate(a) for a in arg)
            if key == "Fn::Or":
                return any(self._evaluate(a) for a in arg)
            if key == "Condition":
                return self._condition(arg)
        return self.resolve(spec)

    def find_refs(self, value: Any) -> Iterator[str]:
        """Logical ids that ``value`` refers to through Ref or Fn::GetAtt."""
        if isinstance(value, list):
            for item in value:
                yield from self.find_refs(item)
        elif isinstance(value, dict):
            if "Ref" in value and isinstance(value["Ref"], str):
                if value["Ref"] in self.body.get("Resources", {}):
                    yield value["Ref"]
            elif "Fn::GetAtt" in value:
                arg = value["Fn::GetAtt"]
                yield arg.split(".", 1)[0] if isinstance(arg, str) else arg[0]
            else:
                for item in value.values():
                    yield from self.find_refs(item)
