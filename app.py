#!/usr/bin/env python3
"""The CDK app: one FinancialPipeline stack per environment of `cdk.json`.

`cdk synth` emits every environment; `cdk synth -c env=prod` emits one. This is the only module
that reads context or the process environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

import aws_cdk as cdk

from financial_pipeline.nag import add_compliance_packs, add_rule_packs
from infra import (
    API_GATEWAY_CLOUD_WATCH_ROLE,
    EnvironmentConfig,
    FinancialPipelineStack,
    parse_environments,
    tag_everything,
)

DEFAULT_REGION = "eu-west-1"
# The construct's props that cdk.json sets, by the key that sets them: a value the construct
# refuses is reported with the environment and the key.
_KEYS_OF_PROPS = {
    "max_upload_bytes": "maxUploadBytes",
    "threshold_bytes": "splitThresholdBytes",
    "part_bytes": "partBytes",
    "log_level": "logLevel",
    "cors_allow_origins": "corsAllowOrigins",
    "results_table_warm_throughput": "resultsWarmWriteUnitsPerSecond",
    "alarm_email": "alarmEmail",
    "event_bus": "eventBus",
}


def build_app(app: cdk.App, *, bundle_dependencies: bool = True) -> list[FinancialPipelineStack]:
    """Add one stack per selected environment to ``app`` and return them."""
    environments = parse_environments(
        app.node.try_get_context("environments") or {},
        api_gateway_cloud_watch_role=app.node.try_get_context(API_GATEWAY_CLOUD_WATCH_ROLE),
    )
    selected = app.node.try_get_context("env")
    if selected is not None and selected not in environments:
        raise ValueError(f"unknown environment {selected!r} (known: {', '.join(environments)})")
    # Checked over every environment, whichever is selected: deploying them one at a time
    # overwrites the account's setting just the same.
    _one_cloud_watch_role_per_account_and_region(environments.values())
    bundle = _bundle(app.node.try_get_context("bundle"))
    stacks = []
    for name, config in environments.items():
        if selected is None or name == selected:
            stacks.append(_stack(app, config, bundle_dependencies=bundle_dependencies and bundle))
    return stacks


def _bundle(value: object) -> bool:
    """``-c bundle=false`` synthesizes without downloading the Lambda dependencies."""
    spelled = value.lower() if isinstance(value, str) else value
    if spelled is None or spelled is True or spelled == "true":
        return True
    if spelled is False or spelled == "false":
        return False
    raise ValueError(f"bundle must be true or false (got {value!r})")


def _target(config: EnvironmentConfig) -> tuple[str | None, str]:
    """(account, region) the environment deploys to; account None: unknown until deploy."""
    region = config.region or os.environ.get("CDK_DEFAULT_REGION") or DEFAULT_REGION
    account = config.account or os.environ.get("CDK_DEFAULT_ACCOUNT")
    return account, region


def _one_cloud_watch_role_per_account_and_region(
    environments: Iterable[EnvironmentConfig],
) -> None:
    """API Gateway has one CloudWatch role setting per account and region: two stacks that set
    it overwrite each other's. Two named environments may share a region only in accounts
    known to differ."""
    owners = [config for config in environments if config.api_cloud_watch_role]
    for index, first in enumerate(owners):
        for second in owners[index + 1 :]:
            (account_a, region_a), (account_b, region_b) = _target(first), _target(second)
            if region_a == region_b and (
                account_a is None or account_b is None or account_a == account_b
            ):
                where = account_a or account_b or "the default account"
                raise ValueError(
                    f"{API_GATEWAY_CLOUD_WATCH_ROLE} names {first.name!r} and "
                    f"{second.name!r}, which deploy to the same account and region "
                    f"({where}, {region_a}), or to accounts cdk.json does not tell apart: "
                    "API Gateway has one CloudWatch role per account and region, and each "
                    "stack would overwrite the other's. Name one of them, or give each its "
                    "'account'."
                )


def _stack(
    app: cdk.App, config: EnvironmentConfig, *, bundle_dependencies: bool
) -> FinancialPipelineStack:
    account, region = _target(config)
    stack_name = config.stack_name(region)
    props: dict[str, Any] = {
        "env": cdk.Environment(account=account, region=region),
        "stack_name": stack_name,
        "description": f"Financial CSV pipeline ({config.name}, {region})",
        "termination_protection": config.termination_protection,
    }
    try:
        stack = FinancialPipelineStack(
            app, stack_name, config=config, bundle_dependencies=bundle_dependencies, **props
        )
    except ValueError as error:
        # The prop the message is about is the first it names.
        found = sorted(
            (match.start(), key)
            for prop, key in _KEYS_OF_PROPS.items()
            if (match := re.search(rf"\b{prop}\b", str(error))) is not None
        )
        named = f" ({found[0][1]})" if found else ""
        raise ValueError(f"environment {config.name!r}{named}: {error}") from error
    # CDK's tag aspect, and the tags of the custom resource providers it does not reach.
    tag_everything(stack, config.tags)
    return stack


def add_gates(app: cdk.App, stacks: list[FinancialPipelineStack]) -> None:
    """AwsSolutions and Serverless gate every stack; NIST 800-53 R5 and PCI DSS 3.2.1
    gate the hardened ones."""
    add_rule_packs(app)
    add_compliance_packs(app, *(s for s in stacks if s.config.hardened))


def main() -> None:
    app = cdk.App()
    add_gates(app, build_app(app))
    app.synth()


if __name__ == "__main__":
    main()
