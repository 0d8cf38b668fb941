"""cdk-nag 3.x: AwsSolutions and Serverless gate every stack (R19); NIST and PCI report."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs

from financial_pipeline import FinancialPipeline, LambdaOptions
from financial_pipeline.nag import acknowledge, add_rule_packs

from .conftest import ENVIRONMENTS, REGION, Synthesized, cdk_context, synthesize

GATING = ("AwsSolutions", "Serverless")
# Acknowledgments CDK itself records (on the stack): ec2.Vpc's literal availability zones.
CDK_OWN = {"CloudFormation-Validate::W3010"}
REPORTING = ("NIST.800.53.R5", "PCI.DSS.321")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_r19_no_unacknowledged_awssolutions_or_serverless_finding(
    synthesized: Synthesized, env: str
) -> None:
    # Given the environment stack checked by the gating packs
    prefix = f"FinancialPipeline-{env}-{REGION}/"
    # When its findings are collected
    findings = [
        (rule, path) for rule, path in synthesized.violations(*GATING) if path.startswith(prefix)
    ]
    # Then there are none left
    assert findings == []


def test_nist_and_pci_report(synthesized: Synthesized, capsys: pytest.CaptureFixture[str]) -> None:
    # Given the reporting packs' findings (gated only on hardened stacks, R26)
    counts = {
        (pack, env): Counter(
            r
            for r, path in synthesized.violations(pack)
            if path.startswith(f"FinancialPipeline-{env}-{REGION}/")
        )
        for pack in REPORTING
        for env in ENVIRONMENTS
    }
    # When printed
    with capsys.disabled():
        for (pack, env), rules in counts.items():
            print(f"\n{pack} {env}: {sum(rules.values())} findings, {len(rules)} rules")
            for rule, count in sorted(rules.items()):
                print(f"  {count:3d} {rule}")
    # Then both packs ran
    plugins = {p["pluginName"] for p in synthesized.report["pluginReports"]}
    assert set(REPORTING) <= plugins


def _nag_app(tmp_path: Path) -> cdk.App:
    return cdk.App(outdir=str(tmp_path), context=cdk_context())


def test_applies_to_acknowledges_only_the_named_finding(tmp_path: Path) -> None:
    # Given a role with two wildcard statements, one of them acknowledged by resource
    app = _nag_app(tmp_path)
    stack = cdk.Stack(app, "AppliesTo")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_policy(
        iam.PolicyStatement(actions=["s3:GetObject"], resources=["arn:aws:s3:::a/*"])
    )
    role.add_to_policy(
        iam.PolicyStatement(actions=["s3:PutObject"], resources=["arn:aws:s3:::b/*"])
    )
    acknowledge(
        role,
        "AwsSolutions-IAM5",
        "test: only bucket a is acknowledged by resource",
        applies_to="Resource::arn:aws:s3:::a/*",
    )
    add_rule_packs(app)
    # When synthesized
    result = synthesize(app, tmp_path, {"stack": "AppliesTo"})
    # Then the other wildcard is still reported
    assert result.error is not None
    assert result.violations(*GATING) == [
        ("AwsSolutions-IAM5[Resource::arn:aws:s3:::b/*]", "AppliesTo/Role/DefaultPolicy/Resource")
    ]


def test_fails_when_a_resource_is_not_acknowledged(tmp_path: Path) -> None:
    # Given a queue without TLS enforcement or a dead-letter queue, and no acknowledgment
    app = _nag_app(tmp_path)
    stack = cdk.Stack(app, "Unacknowledged")
    sqs.Queue(stack, "Queue", encryption=sqs.QueueEncryption.SQS_MANAGED)
    add_rule_packs(app)
    # When synthesized
    result = synthesize(app, tmp_path, {"stack": "Unacknowledged"})
    # Then synthesis fails and names the rules
    assert result.error is not None and "ValidationFailed" in result.error
    rules = {rule for rule, _ in result.violations(*GATING)}
    assert {"AwsSolutions-SQS3", "AwsSolutions-SQS4"} <= rules


def test_acknowledged_findings_pass(tmp_path: Path) -> None:
    # Given the same queue, its findings acknowledged with reasons
    app = _nag_app(tmp_path)
    stack = cdk.Stack(app, "Acknowledged")
    queue = sqs.Queue(stack, "Queue", encryption=sqs.QueueEncryption.SQS_MANAGED)
    acknowledge(queue, "AwsSolutions-SQS3", "test: the queue is a dead-letter queue")
    acknowledge(queue, "AwsSolutions-SQS4", "test: acknowledged on purpose")
    acknowledge(queue, "Serverless-SQSRedrivePolicy", "test: the queue is a dead-letter queue")
    add_rule_packs(app)
    # When synthesized / Then it passes
    result = synthesize(app, tmp_path, {"stack": "Acknowledged"})
    assert result.error is None
    assert result.violations(*GATING) == []


@pytest.fixture(scope="module")
def auth_variants(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The pipeline in `cognito` (new pool) and `none` modes, checked by the gating packs."""
    outdir = tmp_path_factory.mktemp("auth")
    app = cdk.App(outdir=str(outdir), context=cdk_context())
    env = cdk.Environment(region=REGION)
    for mode in ("cognito", "none"):
        stack = cdk.Stack(app, f"Auth-{mode}", env=env)
        FinancialPipeline(
            stack,
            "Pipeline",
            environment_name="dev",
            authorization=mode,
            lambda_options=LambdaOptions(bundle_dependencies=False),
        )
    # The negative case: a pipeline stack with one resource nobody acknowledged.
    stack = cdk.Stack(app, "Auth-iam-extra", env=env)
    FinancialPipeline(
        stack,
        "Pipeline",
        environment_name="dev",
        lambda_options=LambdaOptions(bundle_dependencies=False),
    )
    sqs.Queue(stack, "Unacknowledged", encryption=sqs.QueueEncryption.SQS_MANAGED)
    add_rule_packs(app)
    return synthesize(
        app, outdir, {mode: f"Auth-{mode}" for mode in ("cognito", "none", "iam-extra")}
    )


@pytest.mark.parametrize("mode", ["cognito", "none"])
def test_r19_other_auth_modes_have_no_unacknowledged_finding(
    auth_variants: Synthesized, mode: str
) -> None:
    # Given the pipeline in that authorization mode / Then the gating packs find nothing
    findings = [
        (rule, path)
        for rule, path in auth_variants.violations(*GATING)
        if path.startswith(f"Auth-{mode}/")
    ]
    assert findings == []


def test_fails_when_a_pipeline_stack_gains_an_unacknowledged_resource(
    auth_variants: Synthesized,
) -> None:
    # Given a pipeline stack plus one queue nobody acknowledged
    findings = {
        (rule, path)
        for rule, path in auth_variants.violations(*GATING)
        if path.startswith("Auth-iam-extra/")
    }
    # Then synthesis failed, and exactly that queue's findings are reported
    assert auth_variants.error is not None
    assert findings
    assert {path for _, path in findings} == {"Auth-iam-extra/Unacknowledged/Resource"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_acknowledgment_has_a_reason_and_sits_below_the_stack(
    synthesized: Synthesized, env: str
) -> None:
    # Given the acknowledgments recorded in the stack's metadata
    metadata = json.loads(
        (synthesized.outdir / f"FinancialPipeline-{env}-{REGION}.metadata.json").read_text()
    )
    acknowledged = [
        (path, rule, reason)
        for path, entries in metadata.items()
        for entry in entries
        if entry["type"] == "aws:cdk:acknowledged-rules"
        for rule, reason in entry["data"].items()
        if rule not in CDK_OWN
    ]
    # Then there are some, none on the stack itself, each with a sentence-long reason
    assert len(acknowledged) >= 30
    for path, rule, reason in acknowledged:
        assert path.count("/") >= 2, f"{rule} acknowledged too broadly at {path}"
        assert len(reason.split()) >= 8, f"{rule} at {path} needs a real reason"
