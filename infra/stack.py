"""The deployable stack: one FinancialPipeline per environment."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_events as events
from constructs import Construct

from financial_pipeline import (
    ApiOptions,
    FinancialPipeline,
    LambdaOptions,
    ObservabilityOptions,
    SplitOptions,
    StorageOptions,
)
from infra.config import EnvironmentConfig

__all__ = ["FinancialPipelineStack"]


class FinancialPipelineStack(Stack):
    """Composes `FinancialPipeline` from an `EnvironmentConfig`.

    The app's, not the construct library's: other CDK apps compose `FinancialPipeline` in
    their own stacks.

    Attributes:
        config: the environment it was built from.
        pipeline: the L3 construct (construct id ``Pipeline``).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        bundle_dependencies: bool = True,
        **stack_props: Any,
    ) -> None:
        super().__init__(scope, construct_id, **stack_props)
        self.config = config
        api: dict[str, Any] = {
            "authorization": config.auth_mode,
            "cors_allow_origins": config.cors_allow_origins,
            "cloud_watch_role": config.api_cloud_watch_role,
        }
        if config.max_upload_bytes is not None:
            api["max_upload_bytes"] = config.max_upload_bytes
        split: dict[str, Any] = {}
        if config.split_threshold_bytes is not None:
            split["threshold_bytes"] = config.split_threshold_bytes
        if config.part_bytes is not None:
            split["part_bytes"] = config.part_bytes
        event_bus = None
        if config.event_bus is not None:
            event_bus = (
                events.EventBus.from_event_bus_arn(self, "EventBus", config.event_bus)
                if config.event_bus.startswith("arn:")
                else events.EventBus.from_event_bus_name(self, "EventBus", config.event_bus)
            )
        self.pipeline = FinancialPipeline(
            self,
            "Pipeline",
            environment_name=config.name,
            profile=config.profile,
            removal_policy=config.removal_policy,
            event_bus=event_bus,
            api_options=ApiOptions(**api),
            split_options=SplitOptions(**split),
            storage_options=StorageOptions(
                results_table_warm_throughput=config.results_warm_throughput
            ),
            observability_options=ObservabilityOptions(
                alarm_email=config.alarm_email, log_level=config.log_level
            ),
            lambda_options=LambdaOptions(bundle_dependencies=bundle_dependencies),
        )
