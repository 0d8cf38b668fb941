"""The app: one stack per environment, names and tags (R20, R22)."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest

import app as app_module
from infra.config import EnvironmentConfig, parse_environments

from .conftest import ENVIRONMENTS, Synthesized, cdk_context, resources, stack_name

# Resource types CloudFormation cannot tag (or CDK does not propagate tags to).
UNTAGGABLE = {
    "AWS::ApiGateway::Account",
    "AWS::ApiGateway::Deployment",
    "AWS::ApiGateway::GatewayResponse",
    "AWS::ApiGateway::Method",
    "AWS::ApiGateway::Model",
    "AWS::ApiGateway::RequestValidator",
    "AWS::ApiGateway::Resource",
    "AWS::CloudWatch::Alarm",
    "AWS::CloudWatch::Dashboard",
    "AWS::IAM::Policy",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::Lambda::LayerVersion",
    "AWS::Lambda::Permission",
    "AWS::S3::BucketPolicy",
    "AWS::SNS::Subscription",
    "AWS::SNS::TopicPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::Events::Rule",
    "AWS::EC2::SecurityGroupIngress",
    "AWS::EC2::SubnetRouteTableAssociation",
    "AWS::WAFv2::LoggingConfiguration",
    "AWS::WAFv2::WebACLAssociation",
    "Custom::VpcRestrictDefaultSG",
    "Custom::S3BucketNotifications",
    "Custom::S3AutoDeleteObjects",
}
# CDK builds the provider of auto_delete_objects (removalPolicy destroy) from plain
# CfnResources, which its tag aspect cannot tag; it only runs when the stack is deleted.
UNTAGGED_CDK_PROVIDERS = (
    "CustomS3AutoDeleteObjectsCustomResourceProvider",
    "CustomVpcRestrictDefaultSGCustomResourceProvider",
)


def test_r22_r20_one_stack_per_environment_named_with_environment_and_region(
    synthesized: Synthesized,
) -> None:
    # Given the cloud assembly of the app / When its stacks are listed
    manifest = json.loads((synthesized.outdir / "manifest.json").read_text())
    stacks = {
        name
        for name, artifact in manifest["artifacts"].items()
        if artifact["type"] == "aws:cloudformation:stack"
    }
    # Then each environment of cdk.json has its own stack, named <env>-<region>
    assert stacks == {stack_name(env) for env in ENVIRONMENTS}
    for env in ENVIRONMENTS:
        artifact = manifest["artifacts"][stack_name(env)]
        assert artifact["environment"].endswith("/eu-west-1")


def test_r22_env_context_selects_one_stack(tmp_path: Path) -> None:
    # Given -c env=prod
    context = {**cdk_context(), "env": "prod"}
    app = cdk.App(outdir=str(tmp_path), context=context)
    # When the app is built
    stacks = app_module.build_app(app, bundle_dependencies=False)
    # Then only prod exists
    assert [s.stack_name for s in stacks] == [stack_name("prod")]


def test_fails_on_an_unknown_environment(tmp_path: Path) -> None:
    # Given -c env=qa, which cdk.json does not define / Then the app refuses
    app = cdk.App(outdir=str(tmp_path), context={**cdk_context(), "env": "qa"})
    with pytest.raises(ValueError, match="unknown environment 'qa'"):
        app_module.build_app(app, bundle_dependencies=False)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_r20_every_taggable_resource_has_the_three_tags(synthesized: Synthesized, env: str) -> None:
    # Given the environment's settings and template
    config = parse_environments(cdk_context()["environments"])[env]
    template = synthesized.templates[env]
    checked = 0
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] in UNTAGGABLE or logical_id.startswith(UNTAGGED_CDK_PROVIDERS):
            continue
        # When the tags are read (list of Key/Value or, for a few types, a map)
        raw = resource["Properties"].get("Tags")
        if resource["Type"] == "AWS::DynamoDB::GlobalTable":
            raw = resource["Properties"]["Replicas"][0].get("Tags")
        tags = {t["Key"]: t["Value"] for t in raw} if isinstance(raw, list) else dict(raw or {})
        # Then Environment, Team and CostCenter are there with the environment's values
        assert {k: tags.get(k) for k in config.tags} == config.tags, logical_id
        checked += 1
    assert checked > 20


def test_r20_alarm_and_api_names_carry_environment_and_region(synthesized: Synthesized) -> None:
    for env in ENVIRONMENTS:
        template = synthesized.template(env)
        # Given every alarm and the API / Then each name starts with the stack name and the
        # pipeline's construct id
        for alarm in resources(template, "AWS::CloudWatch::Alarm").values():
            assert alarm["Properties"]["AlarmName"].startswith(f"{stack_name(env)}-Pipeline-")
        template.has_resource_properties(
            "AWS::ApiGateway::RestApi", {"Name": f"{stack_name(env)}-Pipeline-api"}
        )


def test_prod_stack_has_termination_protection(synthesized: Synthesized) -> None:
    # Given the manifest / Then only prod is protected against deletion
    manifest = json.loads((synthesized.outdir / "manifest.json").read_text())
    protected = {
        env: manifest["artifacts"][stack_name(env)]["properties"].get(
            "terminationProtection", False
        )
        for env in ENVIRONMENTS
    }
    assert protected == {"dev": False, "staging": False, "prod": True, "regulated": False}


def test_r22_config_parses_the_context_of_cdk_json() -> None:
    # Given cdk.json / When parsed
    configs = parse_environments(cdk_context()["environments"])
    # Then the four environments carry their settings
    assert set(configs) == set(ENVIRONMENTS)
    assert configs["prod"].removal_policy == cdk.RemovalPolicy.RETAIN
    assert configs["dev"].removal_policy == cdk.RemovalPolicy.DESTROY
    assert configs["prod"].stack_name("eu-west-1") == "FinancialPipeline-prod-eu-west-1"


def test_fails_on_an_unknown_setting() -> None:
    with pytest.raises(ValueError, match=r"unknown settings \['costCentre'\]"):
        EnvironmentConfig.from_context("dev", {"team": "t", "costCenter": "c", "costCentre": "x"})


def test_fails_on_a_missing_team() -> None:
    with pytest.raises(ValueError, match="needs 'team'"):
        EnvironmentConfig.from_context("dev", {"costCenter": "c"})


def test_fails_on_a_bad_removal_policy() -> None:
    with pytest.raises(ValueError, match="removalPolicy must be retain or destroy"):
        EnvironmentConfig.from_context(
            "dev", {"team": "t", "costCenter": "c", "removalPolicy": "snapshot"}
        )


def test_upload_size_is_the_constructs_default_unless_set() -> None:
    # Given an environment without maxUploadBytes / Then the app leaves it to the construct
    config = EnvironmentConfig.from_context("dev", {"team": "t", "costCenter": "c"})
    assert config.max_upload_bytes is None


def test_fails_on_a_bad_auth_mode() -> None:
    with pytest.raises(ValueError, match="authMode must be iam, cognito or none"):
        EnvironmentConfig.from_context("dev", {"team": "t", "costCenter": "c", "authMode": "x"})


def test_config_reads_the_results_warm_throughput() -> None:
    # Given cdk.json / When parsed
    configs = parse_environments(cdk_context()["environments"])
    # Then prod pre-warms the results table for writes and dev leaves DynamoDB's default
    warm = configs["prod"].results_warm_throughput
    assert warm is not None
    assert warm.write_units_per_second == 10000
    assert warm.read_units_per_second is None
    assert configs["dev"].results_warm_throughput is None


@pytest.mark.parametrize("value", [0, -1, "9000", 1.5, True])
def test_fails_on_a_non_positive_warm_throughput_setting(value: object) -> None:
    with pytest.raises(ValueError, match="resultsWarmWriteUnitsPerSecond must be a positive"):
        EnvironmentConfig.from_context(
            "prod", {"team": "t", "costCenter": "c", "resultsWarmWriteUnitsPerSecond": value}
        )
