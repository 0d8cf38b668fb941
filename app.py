#!/usr/bin/env python3
"""The CDK app: one FinancialPipeline stack per environment of `cdk.json` (R20, R22).

`cdk synth` emits every environment; `cdk synth -c env=prod` emits one. This is the only module
that reads context or the process environment.
"""

from __future__ import annotations

import os
from typing import Any

import aws_cdk as cdk

from financial_pipeline.nag import add_compliance_packs, add_rule_packs
from infra import EnvironmentConfig, FinancialPipelineStack, parse_environments

DEFAULT_REGION = "eu-west-1"


def build_app(app: cdk.App, *, bundle_dependencies: bool = True) -> list[FinancialPipelineStack]:
    """Add one stack per selected environment to ``app`` and return them."""
    environments = parse_environments(app.node.try_get_context("environments") or {})
    selected = app.node.try_get_context("env")
    if selected is not None and selected not in environments:
        raise ValueError(f"unknown environment {selected!r} (known: {', '.join(environments)})")
    # `-c bundle=false` synthesizes without downloading the Lambda dependencies.
    bundle = str(app.node.try_get_context("bundle") or "true").lower() != "false"
    stacks = []
    for name, config in environments.items():
        if selected is None or name == selected:
            stacks.append(_stack(app, config, bundle_dependencies=bundle_dependencies and bundle))
    return stacks


def _stack(
    app: cdk.App, config: EnvironmentConfig, *, bundle_dependencies: bool
) -> FinancialPipelineStack:
    region = config.region or os.environ.get("CDK_DEFAULT_REGION") or DEFAULT_REGION
    account = config.account or os.environ.get("CDK_DEFAULT_ACCOUNT")
    stack_name = config.stack_name(region)
    props: dict[str, Any] = {
        "env": cdk.Environment(account=account, region=region),
        "stack_name": stack_name,
        "description": f"Financial CSV pipeline ({config.name}, {region})",
        "termination_protection": config.name == "prod",
    }
    stack = FinancialPipelineStack(
        app, stack_name, config=config, bundle_dependencies=bundle_dependencies, **props
    )
    for key, value in config.tags.items():
        cdk.Tags.of(stack).add(key, value)
    return stack


def add_gates(app: cdk.App, stacks: list[FinancialPipelineStack]) -> None:
    """AwsSolutions and Serverless gate every stack (R19); NIST 800-53 R5 and PCI DSS 3.2.1
    gate the hardened ones (R26)."""
    add_rule_packs(app)
    add_compliance_packs(app, *(s for s in stacks if s.config.hardened))


def main() -> None:
    app = cdk.App()
    add_gates(app, build_app(app))
    app.synth()


if __name__ == "__main__":
    main()
