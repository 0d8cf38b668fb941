"""The template's IAM, as the local endpoint enforces it (R34): who may sign, and which policies
decide their calls.

- Each function's execution role (``AWS::Lambda::Function`` ``Role`` -> ``AWS::IAM::Role``) gets
  local session credentials, minted per run and deterministic within it (an HMAC of the run's
  seed and the role's ARN); the function's workers get them in their environment
  (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``) as Lambda hands a
  function its role's session credentials.
- moto's Step Functions engine signs every call with the access key ``ak`` (secret ``sk``): those
  calls are the state machine role's (the template's one state machine; with several, a call is
  allowed when any of their roles allows it).
- Identity policies: the ``AWS::IAM::Policy`` and ``AWS::IAM::ManagedPolicy`` resources attached
  to the role, its inline ``Policies``, and the AWS managed policies its ``ManagedPolicyArns``
  name (the few the templates use are embedded in `AWS_MANAGED_POLICIES`; any other is a policy
  that denies, naming itself).
- Resource policies: bucket, queue, topic and event bus policies, every ``AWS::Lambda::Permission``
  as a statement of its function's policy (as Lambda's ``AddPermission`` writes it: a service
  principal with ``ArnLike AWS:SourceArn`` / ``StringEquals AWS:SourceAccount``), and KMS key
  policies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from local.cfn import Template, TemplateError
from local.policy import Policy, Principal

__all__ = [
    "AWS_MANAGED_POLICIES",
    "ENGINE_ACCESS_KEY",
    "ENGINE_SECRET_KEY",
    "RoleCredentials",
    "TemplateIam",
]

ENGINE_ACCESS_KEY = "ak"
ENGINE_SECRET_KEY = "sk"  # noqa: S105 - moto.stepfunctions.parser.asl.utils.boto_client

_LOGS = {
    "Effect": "Allow",
    "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
    "Resource": "*",
}
AWS_MANAGED_POLICIES: dict[str, dict[str, Any]] = {
    "service-role/AWSLambdaBasicExecutionRole": {"Version": "2012-10-17", "Statement": [_LOGS]},
    "service-role/AWSLambdaVPCAccessExecutionRole": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "ec2:CreateNetworkInterface",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeSubnets",
                    "ec2:DeleteNetworkInterface",
                    "ec2:AssignPrivateIpAddresses",
                    "ec2:UnassignPrivateIpAddresses",
                ],
                "Resource": "*",
            }
        ],
    },
    "AWSXRayDaemonWriteAccess": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "xray:PutTraceSegments",
                    "xray:PutTelemetryRecords",
                    "xray:GetSamplingRules",
                    "xray:GetSamplingTargets",
                    "xray:GetSamplingStatisticSummaries",
                ],
                "Resource": "*",
            }
        ],
    },
}
"""The AWS managed policies the templates name, by the path after ``arn:aws:iam::aws:policy/``
(as AWS publishes them)."""

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


@dataclass(frozen=True, slots=True)
class RoleCredentials:
    """The local session credentials of one role."""

    role_logical_id: str
    role_arn: str
    access_key: str
    secret_key: str
    session_token: str

    def environment(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }


def _mint(seed: bytes, role_arn: str) -> tuple[str, str, str]:
    digest = hmac.new(seed, role_arn.encode(), hashlib.sha256).digest()
    key = "ASIA" + "".join(_ALPHABET[b % 32] for b in digest[:16])
    secret = base64.b64encode(hmac.new(seed, b"secret:" + digest, hashlib.sha256).digest())
    token = base64.b64encode(hmac.new(seed, b"token:" + digest, hashlib.sha256).digest() * 3)
    return key, secret.decode()[:40], token.decode()


@dataclass
class TemplateIam:
    """The roles, their credentials and the policies of one template."""

    template: Template
    seed: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def __post_init__(self) -> None:
        t = self.template
        self.function_roles: dict[str, str] = {}  # function logical id -> role logical id
        for function in t.of_type("AWS::Lambda::Function"):
            roles = [
                ref
                for ref in t.find_refs(function.properties.get("Role"))
                if t.resource(ref).type == "AWS::IAM::Role"
            ]
            if roles:
                self.function_roles[function.logical_id] = roles[0]
        self.machine_roles: dict[str, str] = {}  # state machine logical id -> role logical id
        for machine in t.of_type("AWS::StepFunctions::StateMachine"):
            roles = [
                ref
                for ref in t.find_refs(machine.properties.get("RoleArn"))
                if t.resource(ref).type == "AWS::IAM::Role"
            ]
            if roles:
                self.machine_roles[machine.logical_id] = roles[0]
        self.credentials: dict[str, RoleCredentials] = {}  # by role logical id
        for role in sorted({*self.function_roles.values(), *self.machine_roles.values()}):
            arn = t.arn(role)
            key, secret, token = _mint(self.seed, arn)
            self.credentials[role] = RoleCredentials(role, arn, key, secret, token)
        self.by_access_key = {c.access_key: c for c in self.credentials.values()}
        self.identity_policies = {role: self._identity_policies(role) for role in self.credentials}
        self._resource_policies: dict[str, list[Policy]] | None = None

    # Who signs

    def function_credentials(self, function_logical_id: str) -> RoleCredentials | None:
        role = self.function_roles.get(function_logical_id)
        return self.credentials[role] if role is not None else None

    def engine_roles(self) -> list[RoleCredentials]:
        """The roles moto's engine (key ``ak``) calls as: the state machines' roles."""
        return [self.credentials[role] for role in dict.fromkeys(self.machine_roles.values())]

    def session_principal(self, role_logical_id: str, session: str) -> Principal:
        return Principal.role(self.template.arn(role_logical_id), session_name=session)

    def session_name(self, role_logical_id: str) -> str:
        """The session name AWS gives the role's sessions: the function's name (Lambda), the
        state machine's name (Step Functions)."""
        for function, role in self.function_roles.items():
            if role == role_logical_id:
                return self.template.physical_name(function)
        for machine, role in self.machine_roles.items():
            if role == role_logical_id:
                return self.template.physical_name(machine)
        return role_logical_id

    # Identity policies

    def _identity_policies(self, role: str) -> list[Policy]:
        t = self.template
        role_name = t.physical_name(role)
        found: list[Policy] = []
        properties = t.resource(role).properties
        for inline in properties.get("Policies") or []:
            name = str(t.resolve(inline.get("PolicyName", "inline")))
            found.append(Policy(t.resolve(inline.get("PolicyDocument")), f"{role}/{name}"))
        for value in properties.get("ManagedPolicyArns") or []:
            found.append(self._managed(value))
        for attached in t.of_type("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            targets = attached.properties.get("Roles") or []
            names = {str(t.resolve(target)) for target in targets}
            if role in set(t.find_refs(targets)) or role_name in names:
                found.append(
                    Policy(t.resolve(attached.properties["PolicyDocument"]), attached.logical_id)
                )
        return found

    def _managed(self, value: Any) -> Policy:
        t = self.template
        for ref in t.find_refs(value):
            resource = t.resource(ref)
            if resource.type == "AWS::IAM::ManagedPolicy":
                return Policy(t.resolve(resource.properties["PolicyDocument"]), ref)
        arn = str(t.resolve(value))
        _, _, path = arn.partition(":iam::aws:policy/")
        if path in AWS_MANAGED_POLICIES:
            return Policy(AWS_MANAGED_POLICIES[path], arn)
        policy = Policy({"Version": "2012-10-17", "Statement": []}, arn)
        policy.problem = f"the managed policy {arn} is not known to the local run"
        return policy

    # Resource policies

    def resource_policies(self, resource_arn: str) -> list[Policy]:
        """The resource policies that apply to ``resource_arn`` (an object's are its bucket's;
        a qualified function's its function's)."""
        if self._resource_policies is None:
            self._resource_policies = self._collect_resource_policies()
        if resource_arn.startswith("arn:aws:s3:::"):
            resource_arn = resource_arn.split("/", 1)[0]
        elif ":lambda:" in resource_arn and ":function:" in resource_arn:
            resource_arn = ":".join(resource_arn.split(":")[:7])
        return self._resource_policies.get(resource_arn, [])

    def _collect_resource_policies(self) -> dict[str, list[Policy]]:
        t = self.template
        found: dict[str, list[Policy]] = {}

        def add(arn: str, document: Any, name: str) -> None:
            found.setdefault(arn, []).append(Policy(document, name))

        for policy in t.of_type("AWS::S3::BucketPolicy"):
            bucket = str(t.resolve(policy.properties["Bucket"]))
            add(
                f"arn:aws:s3:::{bucket}",
                t.resolve(policy.properties["PolicyDocument"]),
                policy.logical_id,
            )
        for policy in t.of_type("AWS::SQS::QueuePolicy"):
            document = t.resolve(policy.properties["PolicyDocument"])
            for queue in policy.properties.get("Queues") or []:
                url = str(t.resolve(queue))
                add(self._queue_arn(url), document, policy.logical_id)
        for policy in t.of_type("AWS::SNS::TopicPolicy"):
            document = t.resolve(policy.properties["PolicyDocument"])
            for topic in policy.properties.get("Topics") or []:
                add(str(t.resolve(topic)), document, policy.logical_id)
        for policy in t.of_type("AWS::Events::EventBusPolicy"):
            add(*self._bus_policy(policy.logical_id, policy.properties))
        for key in t.of_type("AWS::KMS::Key"):
            if key.properties.get("KeyPolicy"):
                add(t.arn(key.logical_id), t.resolve(key.properties["KeyPolicy"]), key.logical_id)
        by_function: dict[str, list[dict[str, Any]]] = {}
        for permission in t.of_type("AWS::Lambda::Permission"):
            arn, statement = self._permission_statement(
                permission.logical_id, permission.properties
            )
            by_function.setdefault(arn, []).append(statement)
        for arn, statements in by_function.items():
            add(
                arn, {"Version": "2012-10-17", "Statement": statements}, f"function policy of {arn}"
            )
        return found

    def _queue_arn(self, url: str) -> str:
        if url.startswith("arn:"):
            return url
        name = url.rstrip("/").rsplit("/", 1)[-1]
        return f"arn:aws:sqs:{self.template.region}:{self.template.account_id}:{name}"

    def _function_arn(self, value: Any) -> str:
        name = str(self.template.resolve(value))
        if name.startswith("arn:"):
            return ":".join(name.split(":")[:7])
        return f"arn:aws:lambda:{self.template.region}:{self.template.account_id}:function:{name}"

    def _permission_statement(
        self, logical_id: str, properties: Mapping[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        """``AWS::Lambda::Permission`` as the function-policy statement Lambda writes for it."""
        t = self.template
        arn = self._function_arn(properties["FunctionName"])
        principal = str(t.resolve(properties["Principal"]))
        if principal == "*":
            principal_element: Any = "*"
        elif principal.endswith(".amazonaws.com") or principal.endswith(".amazonaws.com.cn"):
            principal_element = {"Service": principal}
        elif principal.isdigit():
            principal_element = {"AWS": f"arn:aws:iam::{principal}:root"}
        else:
            principal_element = {"AWS": principal}
        statement: dict[str, Any] = {
            "Sid": logical_id,
            "Effect": "Allow",
            "Principal": principal_element,
            "Action": str(t.resolve(properties["Action"])),
            "Resource": arn,
        }
        condition: dict[str, dict[str, str]] = {}
        if properties.get("SourceArn") is not None:
            condition["ArnLike"] = {"AWS:SourceArn": str(t.resolve(properties["SourceArn"]))}
        if properties.get("SourceAccount") is not None:
            condition["StringEquals"] = {
                "AWS:SourceAccount": str(t.resolve(properties["SourceAccount"]))
            }
        if properties.get("PrincipalOrgID") is not None:
            condition.setdefault("StringEquals", {})["aws:PrincipalOrgID"] = str(
                t.resolve(properties["PrincipalOrgID"])
            )
        if condition:
            statement["Condition"] = condition
        return arn, statement

    def _bus_policy(self, logical_id: str, properties: Mapping[str, Any]) -> tuple[str, Any, str]:
        t = self.template
        bus = str(t.resolve(properties.get("EventBusName") or "default"))
        arn = (
            bus
            if bus.startswith("arn:")
            else (f"arn:aws:events:{t.region}:{t.account_id}:event-bus/{bus}")
        )
        if properties.get("Statement") is not None:
            statement = t.resolve(properties["Statement"])
            if "Sid" not in statement and properties.get("StatementId"):
                statement = {"Sid": str(t.resolve(properties["StatementId"])), **statement}
            return arn, {"Version": "2012-10-17", "Statement": [statement]}, logical_id
        if properties.get("Action") is not None:
            principal = str(t.resolve(properties.get("Principal", "*")))
            statement = {
                "Sid": str(t.resolve(properties.get("StatementId", logical_id))),
                "Effect": "Allow",
                "Principal": "*" if principal == "*" else {"AWS": f"arn:aws:iam::{principal}:root"},
                "Action": str(t.resolve(properties["Action"])),
                "Resource": arn,
            }
            return arn, {"Version": "2012-10-17", "Statement": [statement]}, logical_id
        raise TemplateError(f"event bus policy {logical_id} has neither Statement nor Action")
