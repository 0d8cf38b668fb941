"""One pipeline Lambda function with its own log group and role."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from financial_pipeline._defaults import (
    FUNCTION_DEFAULTS,
    FUNCTION_REQUIRED,
    LOG_RETENTION,
    merge_props,
)

__all__ = ["PipelineFunction"]


class PipelineFunction(Construct):
    """A Python 3.14 arm64 function, traced, logging to a 7-day log group it alone may write.

    The role has no managed policy: `AWSLambdaBasicExecutionRole` would allow writing to every
    log group in the account, while this role may only write to its own (R19).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        code: lambda_.Code,
        environment: Mapping[str, str],
        description: str,
        layers: Sequence[lambda_.ILayerVersion] = (),
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        function_props: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)

        self.log_group = logs.LogGroup(
            self, "LogGroup", retention=LOG_RETENTION, removal_policy=removal_policy
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{description} (execution role)",
        )
        self.log_group.grant_write(self.role)

        props = merge_props(
            {**FUNCTION_DEFAULTS, "description": description},
            function_props,
            {
                **FUNCTION_REQUIRED,
                "handler": handler,
                "code": code,
                "role": self.role,
                "log_group": self.log_group,
                "environment": dict(environment),
                "layers": list(layers),
            },
            what="function_props",
        )
        # lambda.Function makes itself depend on the whole role, default policy included, so
        # the grants exist before the first invocation.
        self.function = lambda_.Function(self, "Function", **props)
