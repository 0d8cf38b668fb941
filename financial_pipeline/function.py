"""One pipeline Lambda function with its own log group and role, and the options all share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct, IConstruct

from financial_pipeline._defaults import (
    FUNCTION_DEFAULTS,
    FUNCTION_REQUIRED,
    LOG_RETENTION,
    merge_props,
    props_dict,
)
from financial_pipeline.nag import acknowledge, compliance

__all__ = ["FunctionGroup", "FunctionOptions", "PipelineFunction", "identity_policy"]

_XRAY: Final = (
    "X-Ray's PutTraceSegments and PutTelemetryRecords support no resource-level permissions; "
    "CDK adds them for active tracing."
)
# What AWSLambdaVPCAccessExecutionRole grants, inline: Lambda creates and deletes the
# function's network interfaces with the execution role, and their ids are minted at run time.
_ENI_ACTIONS: Final = (
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)
_ENI: Final = (
    "Lambda creates the function's VPC network interfaces with its execution role; their ids "
    "are minted at run time and the Describe actions support no resource-level permissions."
)
_INLINE: Final = (
    "CDK's L2 grants write each function's least-privilege statements into an inline policy "
    "of that function's own role; a managed policy could be attached to other roles as well."
)


@dataclass(frozen=True, kw_only=True)
class FunctionOptions:
    """What every function of a sub-construct (`Api`, `Ingest`) is built with.

    Attributes:
        code: the Lambda code asset, with the ``runtime`` package at its root.
        environment: the contract's environment variables (`financial_pipeline.contract.Env`),
            shared by every function; default none.
        layers: layers with the code's dependencies; default none.
        removal_policy: of the functions' log groups; default RETAIN.
        function_props: extra ``lambda.Function`` props for every function, a mapping or a
            ``lambda.FunctionOptions`` (kept as a plain dict); runtime, architecture, tracing,
            handler, code, role, log group, environment, layers and the VPC settings below
            cannot be overridden. Default none.
        encryption_key: encrypts the functions' log groups (its policy must let CloudWatch
            Logs use it, see `financial_pipeline.encryption.allow_log_groups`); default
            AWS-managed.
        vpc: the VPC the functions run in; default none (Lambda's own network).
        vpc_subnets: with ``vpc``, the subnets; default: CDK's choice for the VPC.
        security_groups: with ``vpc``, the functions' security groups; default: CDK's.
    """

    code: lambda_.Code
    environment: Mapping[str, str] = field(default_factory=dict)
    layers: Sequence[lambda_.ILayerVersion] = ()
    removal_policy: RemovalPolicy = RemovalPolicy.RETAIN
    function_props: Mapping[str, Any] | lambda_.FunctionOptions | None = None
    encryption_key: kms.IKey | None = None
    vpc: ec2.IVpc | None = None
    vpc_subnets: ec2.SubnetSelection | None = None
    security_groups: Sequence[ec2.ISecurityGroup] = ()

    def __post_init__(self) -> None:
        if isinstance(self.function_props, lambda_.FunctionProps):
            raise ValueError(
                "function_props sets the props of every function, whose code, handler and "
                "runtime are the construct's: pass aws_cdk.aws_lambda.FunctionOptions (or a "
                "mapping), not aws_cdk.aws_lambda.FunctionProps"
            )
        # Frozen: the normalized form replaces the given one once, here.
        object.__setattr__(
            self,
            "function_props",
            props_dict(self.function_props, what="function_props", struct=lambda_.FunctionOptions),
        )
        if self.vpc is None and (self.vpc_subnets is not None or self.security_groups):
            raise ValueError(
                "vpc_subnets and security_groups need a vpc "
                f"(got vpc_subnets={self.vpc_subnets!r}, "
                f"{len(self.security_groups)} security group(s))"
            )


def identity_policy(grantee: iam.IGrantable) -> IConstruct | None:
    """The construct holding ``grantee``'s identity-policy statements, where a grant's finding
    is acknowledged: a role's default policy, else the principal itself; None for a principal
    that is no construct (a service principal has no identity policy)."""
    principal = grantee.grant_principal
    if not isinstance(principal, Construct):
        return None
    policy = principal.node.try_find_child("DefaultPolicy")
    return policy if policy is not None else principal


class PipelineFunction(Construct):
    """A Python 3.14 arm64 function, traced, logging to a 7-day log group it alone may write.

    The role has no managed policy: `AWSLambdaBasicExecutionRole` would allow writing to every
    log group in the account, while this role may only write to its own.

    Attributes:
        function: the Lambda function.
        log_group: its log group.
        role: its execution role.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        description: str,
        options: FunctionOptions,
    ) -> None:
        """Create the function.

        Args:
            handler: ``module.function`` inside the code asset.
            description: what the function does; also describes its role.
            options: code, environment, layers, removal policy and extra props.
        """
        super().__init__(scope, construct_id)

        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            retention=LOG_RETENTION,
            encryption_key=options.encryption_key,
            removal_policy=options.removal_policy,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{description} (execution role)",
        )
        self.log_group.grant_write(self.role)
        network: dict[str, Any] = {}
        if options.vpc is not None:
            network = {
                "vpc": options.vpc,
                "vpc_subnets": options.vpc_subnets,
                "security_groups": list(options.security_groups) or None,
            }
            # Before the function, so that CreateFunction finds the permissions in place.
            self.role.add_to_principal_policy(
                iam.PolicyStatement(actions=list(_ENI_ACTIONS), resources=["*"])
            )

        props = merge_props(
            {**FUNCTION_DEFAULTS, "description": description},
            props_dict(
                options.function_props, what="function_props", struct=lambda_.FunctionOptions
            ),
            {
                **FUNCTION_REQUIRED,
                "handler": handler,
                "code": options.code,
                "role": self.role,
                "log_group": self.log_group,
                "environment": dict(options.environment),
                "layers": list(options.layers),
                **network,
            },
            what="function_props",
        )
        # lambda.Function makes itself depend on the whole role, default policy included, so
        # the grants exist before the first invocation.
        self.function = lambda_.Function(self, "Function", **props)
        # Active tracing has just added the X-Ray statement, so the default policy exists.
        policy = identity_policy(self.role)
        if policy is not None:
            reason = f"{_XRAY} {_ENI}" if options.vpc is not None else _XRAY
            acknowledge(policy, "AwsSolutions-IAM5", reason, applies_to="Resource::*")
            acknowledge(policy, compliance("IAMNoInlinePolicy"), _INLINE)


class FunctionGroup:
    """What a sub-construct with functions exposes of them, one shape for `Api`, `Ingest` and
    `SplitProcessing`: ``functions`` and ``log_groups``, keyed by the same role names."""

    _members: dict[str, PipelineFunction]

    def _add_member(self, name: str, created: PipelineFunction) -> lambda_.Function:
        if not hasattr(self, "_members"):
            self._members = {}
        self._members[name] = created
        return created.function

    @property
    def functions(self) -> dict[str, lambda_.IFunction]:
        """The functions by role name, in the order they were created."""
        return {name: created.function for name, created in self._members.items()}

    @property
    def log_groups(self) -> dict[str, logs.ILogGroup]:
        """Each function's log group, keyed as `functions`."""
        return {name: created.log_group for name, created in self._members.items()}
