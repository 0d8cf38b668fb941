"""FinancialPipeline as a whole: physical names come from the construct, not the stack (R20)."""

from __future__ import annotations

import re
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from constructs import Construct

from financial_pipeline import FinancialPipeline, LambdaOptions
from financial_pipeline._names import name_prefix
from financial_pipeline.nag import add_rule_packs

from .conftest import REGION, Synthesized, cdk_context, resources, synthesize

GATING = ("AwsSolutions", "Serverless")
DASHBOARD_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


@pytest.fixture(scope="module")
def two_pipelines(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """One stack with two pipelines, checked by the gating packs."""
    outdir = tmp_path_factory.mktemp("two")
    app = cdk.App(outdir=str(outdir), context=cdk_context())
    stack = cdk.Stack(app, "Shared", env=cdk.Environment(region=REGION))
    FinancialPipeline(
        stack,
        "Trades",
        environment_name="dev",
        lambda_options=LambdaOptions(bundle_dependencies=False),
    )
    FinancialPipeline(
        stack,
        "Quotes",
        environment_name="quotes",
        lambda_options=LambdaOptions(bundle_dependencies=False),
    )
    add_rule_packs(app)
    return synthesize(app, outdir, {"stack": "Shared"})


def test_r20_two_pipelines_in_one_stack_synthesize_with_distinct_names(
    two_pipelines: Synthesized,
) -> None:
    # Given two pipelines in one stack
    template = two_pipelines.template("stack")
    assert two_pipelines.error is None

    # When their physical names are collected
    alarms = [
        a["Properties"]["AlarmName"] for a in resources(template, "AWS::CloudWatch::Alarm").values()
    ]
    dashboards = [
        d["Properties"]["DashboardName"]
        for d in resources(template, "AWS::CloudWatch::Dashboard").values()
    ]
    apis = [
        a["Properties"]["Name"] for a in resources(template, "AWS::ApiGateway::RestApi").values()
    ]

    # Then every name is distinct and says which pipeline it belongs to
    assert len(set(alarms)) == len(alarms)
    trades = [a for a in alarms if a.startswith("Shared-Trades-")]
    quotes = [a for a in alarms if a.startswith("Shared-Quotes-")]
    assert trades and sorted(trades) == sorted(q.replace("Quotes", "Trades", 1) for q in quotes)
    assert len(trades) + len(quotes) == len(alarms)
    assert sorted(dashboards) == ["Shared-Quotes", "Shared-Trades"]
    assert sorted(apis) == ["Shared-Quotes-api", "Shared-Trades-api"]
    machines = [
        m["Properties"]["StateMachineName"]
        for m in resources(template, "AWS::StepFunctions::StateMachine").values()
    ]
    assert sorted(machines) == ["Shared-Quotes-Split", "Shared-Trades-Split"]
    split_logs = sorted(
        g["Properties"]["LogGroupName"]
        for g in resources(template, "AWS::Logs::LogGroup").values()
        if "LogGroupName" in g["Properties"]
    )
    assert split_logs == [
        "/aws/vendedlogs/states/Shared-Quotes-Split",
        "/aws/vendedlogs/states/Shared-Trades-Split",
    ]
    assert {a.split("-")[1] for a in alarms} == {"Quotes", "Trades"}


def test_r19_two_pipelines_share_cdks_singletons_without_unacknowledged_findings(
    two_pipelines: Synthesized,
) -> None:
    # Given the stack's gating findings / Then there are none
    assert two_pipelines.violations(*GATING) == []


def test_name_prefix_is_the_stack_name_and_the_construct_path() -> None:
    # Given a pipeline nested in a construct
    stack = cdk.Stack(cdk.App(), "MyStack")
    scope = Construct(Construct(stack, "Team"), "Pipeline")
    # When its prefix is derived / Then it reads as the path, fit for a dashboard name
    assert name_prefix(scope) == "MyStack-Team-Pipeline"


@pytest.mark.parametrize("first, second", [("A-B", "A"), ("A B", "AB")])
def test_name_prefix_stays_unique_when_ids_need_cleaning(first: str, second: str) -> None:
    # Given two paths whose readable forms could coincide ("A-B/C" and "A/B-C", "A B" and "AB")
    stack = cdk.Stack(cdk.App(), "S")
    one = Construct(Construct(stack, first), "C" if first == "A-B" else "X")
    other = Construct(Construct(stack, second), "B-C" if first == "A-B" else "X")
    # When their prefixes are derived / Then they differ and stay dashboard-safe
    assert name_prefix(one) != name_prefix(other)
    for prefix in (name_prefix(one), name_prefix(other)):
        assert DASHBOARD_NAME.match(prefix), prefix


def test_name_prefix_of_a_deep_path_is_cut_with_a_hash() -> None:
    # Given a path far longer than an alarm name allows
    stack = cdk.Stack(cdk.App(), "S")
    scope: Construct = stack
    for index in range(30):
        scope = Construct(scope, f"Level{index:02d}Construct")
    # When its prefix is derived / Then it fits 200 characters and ends with the path's hash
    prefix = name_prefix(scope)
    assert len(prefix) == 200
    assert prefix.endswith(f"-{scope.node.addr[:8].upper()}")
    assert DASHBOARD_NAME.match(prefix)


def test_fails_on_a_name_prefix_a_dashboard_cannot_carry(stack: cdk.Stack, tmp_path: Path) -> None:
    # Given an Observability name prefix with a space / Then it is refused, showing the value
    pipeline = FinancialPipeline(
        stack,
        "Pipeline",
        environment_name="dev",
        lambda_options=LambdaOptions(bundle_dependencies=False),
    )
    from financial_pipeline import Observability

    with pytest.raises(ValueError, match=r"name_prefix must be .* \(got 'my alarms'\)"):
        Observability(
            pipeline,
            "Other",
            storage=pipeline.storage,
            ingest=pipeline.ingest,
            api=pipeline.api,
            name_prefix="my alarms",
        )


def test_fails_pipeline_leaves_the_account_wide_api_gateway_role_alone_by_default(
    stack: cdk.Stack,
) -> None:
    # Given a pipeline with default props
    FinancialPipeline(
        stack,
        "Pipeline",
        environment_name="dev",
        lambda_options=LambdaOptions(bundle_dependencies=False),
    )
    # Then it sets no account-level API Gateway setting (one per account and region, which a
    # second stack would overwrite) and creates no role for it
    template = Template.from_stack(stack)
    assert template.find_resources("AWS::ApiGateway::Account") == {}
    assert not [key for key in template.find_resources("AWS::IAM::Role") if "CloudWatchRole" in key]


def test_pipeline_sets_the_api_gateway_account_role_when_asked(stack: cdk.Stack) -> None:
    # Given api_cloud_watch_role=True / Then the stack sets the account's role, and keeps the
    # role when the stack is deleted (another stack's stage may still log with it)
    FinancialPipeline(
        stack,
        "Pipeline",
        environment_name="dev",
        lambda_options=LambdaOptions(bundle_dependencies=False),
        api_cloud_watch_role=True,
    )
    template = Template.from_stack(stack)
    assert len(template.find_resources("AWS::ApiGateway::Account")) == 1
    [role] = [
        r for key, r in template.find_resources("AWS::IAM::Role").items() if "CloudWatchRole" in key
    ]
    assert role["DeletionPolicy"] == "Retain"
