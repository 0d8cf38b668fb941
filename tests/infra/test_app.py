"""The app: one stack per environment, names and tags (R20, R22)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

import app as app_module
from infra.config import EnvironmentConfig, parse_environments

from .conftest import (
    ENVIRONMENTS,
    REGION,
    Synthesized,
    cdk_context,
    resources,
    stack_name,
    synthesize,
)

# Whether a resource type is taggable is what CloudFormation's registry schema of the type says
# (``tagging.taggable``, the schemas cfn-lint ships), not a list kept by hand: a hand-kept list
# of exceptions once hid two untagged CDK provider functions and their roles. Custom resources
# are not in the registry and carry no tags. A global table has no tags of its own: each
# replica has them.
_PER_REPLICA_TAGS = {"AWS::DynamoDB::GlobalTable"}


def _tag_property(type_: str) -> str | None:
    """The property that holds the tags of ``type_``, or None when it cannot be tagged."""
    if not type_.startswith("AWS::"):
        return None
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(REGION, type_).schema
    tagging = schema.get("tagging") or {}
    if not tagging.get("taggable"):
        return None
    return str(tagging.get("tagProperty", "/properties/Tags")).removeprefix("/properties/")


def _tags(raw: object) -> dict[str, str]:
    if isinstance(raw, list):
        return {t["Key"]: t["Value"] for t in raw}
    return dict(raw) if isinstance(raw, dict) else {}


def untagged(template: dict[str, Any], tags: dict[str, str]) -> tuple[list[str], int]:
    """(logical ids of taggable resources without ``tags``, how many were checked)."""
    missing, checked = [], 0
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] in _PER_REPLICA_TAGS:
            found = [_tags(replica.get("Tags")) for replica in properties["Replicas"]]
        else:
            prop = _tag_property(resource["Type"])
            if prop is None:
                continue
            found = [_tags(properties.get(prop))]
        checked += 1
        if any({k: f.get(k) for k in tags} != tags for f in found):
            missing.append(logical_id)
    return missing, checked


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
    # Given the environment's settings and every resource of its template
    config = parse_environments(cdk_context()["environments"])[env]
    # When the tags of each resource its type's schema says can be tagged are read
    missing, checked = untagged(synthesized.templates[env], config.tags)
    # Then Environment, Team and CostCenter are on every one, with the environment's values
    assert missing == []
    assert checked > 20


@pytest.mark.parametrize(
    ("env", "provider"),
    [
        ("dev", "CustomS3AutoDeleteObjectsCustomResourceProvider"),
        ("regulated", "CustomVpcRestrictDefaultSGCustomResourceProvider"),
    ],
)
def test_fails_r20_cdks_custom_resource_providers_carry_the_three_tags(
    synthesized: Synthesized, env: str, provider: str
) -> None:
    # Given the function and role CDK builds from plain CfnResources for a custom resource
    # (auto_delete_objects in dev, the VPC's default security group in regulated), which CDK's
    # tag aspect does not reach
    config = parse_environments(cdk_context()["environments"])[env]
    template = synthesized.templates[env]
    found = {
        resource["Type"]: _tags(resource["Properties"].get("Tags"))
        for key, resource in template["Resources"].items()
        if key.startswith(provider)
    }
    # Then both carry the environment's tags
    assert found == {"AWS::IAM::Role": config.tags, "AWS::Lambda::Function": config.tags}


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


def test_prod_and_regulated_stacks_have_termination_protection(synthesized: Synthesized) -> None:
    # Given the manifest / Then the environments cdk.json protects are, and only they
    manifest = json.loads((synthesized.outdir / "manifest.json").read_text())
    protected = {
        env: manifest["artifacts"][stack_name(env)]["properties"].get(
            "terminationProtection", False
        )
        for env in ENVIRONMENTS
    }
    assert protected == {"dev": False, "staging": False, "prod": True, "regulated": True}


def test_termination_protection_is_what_cdk_json_says() -> None:
    # Given cdk.json / When parsed
    configs = parse_environments(cdk_context()["environments"])
    # Then prod and regulated set it, and an environment that does not say is unprotected
    assert {name: c.termination_protection for name, c in configs.items()} == {
        "dev": False,
        "staging": False,
        "prod": True,
        "regulated": True,
    }
    assert "terminationProtection" not in cdk_context()["environments"]["dev"]


def test_termination_protection_does_not_follow_the_environment_name(tmp_path: Path) -> None:
    # Given an environment named prod that turns the protection off, and dev that turns it on
    context = cdk_context()
    environments = context["environments"]
    context["environments"] = {
        "prod": {**environments["prod"], "terminationProtection": False},
        "dev": {**environments["dev"], "terminationProtection": True},
    }
    app = cdk.App(outdir=str(tmp_path), context=context)
    # When the app builds its stacks
    stacks = app_module.build_app(app, bundle_dependencies=False)
    # Then each stack has what its environment says
    assert {s.config.name: s.termination_protection for s in stacks} == {
        "prod": False,
        "dev": True,
    }


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


# cdk.json is parsed strictly: every bad value is refused, naming its environment and key.

_BASE = {"team": "t", "costCenter": "c"}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        # A string is not a list of one origin, nor of its characters.
        ("corsAllowOrigins", "https://app.example.com"),
        ("corsAllowOrigins", [1]),
        ("corsAllowOrigins", ["https://a.example,https://b.example"]),
        ("corsAllowOrigins", [""]),
        # A boolean is not 1 byte, a size with a unit is not a number of bytes.
        ("maxUploadBytes", True),
        ("maxUploadBytes", "100MB"),
        ("maxUploadBytes", 1.5),
        ("maxUploadBytes", 0),
        ("maxUploadBytes", 5 * 1024**3 + 1),
        ("splitThresholdBytes", False),
        ("partBytes", "4MiB"),
        ("resultsWarmReadUnitsPerSecond", True),
        # Tags, names and choices are strings, never numbers or booleans turned into strings.
        ("team", 1001),
        ("costCenter", True),
        ("costCenter", "CC#1"),
        ("account", 123456789012),
        ("account", "12345"),
        ("region", 1),
        ("region", "eu_west_1"),
        ("alarmEmail", ["oncall@example.com"]),
        ("alarmEmail", "oncall"),
        ("authMode", True),
        ("removalPolicy", False),
        ("profile", 1),
        ("logLevel", "verbose"),
        ("logLevel", 10),
        ("eventBus", 7),
        # A flag is a JSON boolean: neither a string nor a number stands in for one.
        ("terminationProtection", "true"),
        ("terminationProtection", 1),
        ("terminationProtection", 0),
    ],
)
def test_fails_on_a_bad_setting_naming_the_environment_and_the_key(key: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"^environment 'dev': {key} "):
        EnvironmentConfig.from_context("dev", {**_BASE, key: value})


def test_fails_on_an_environment_that_is_not_an_object() -> None:
    with pytest.raises(ValueError, match=r"^environment 'dev' must be an object"):
        parse_environments({"dev": ["team", "t"]})


@pytest.mark.parametrize("name", ["Prod", "dev_1", "a" * 17])
def test_fails_on_an_environment_name_the_construct_cannot_carry(name: str) -> None:
    with pytest.raises(ValueError, match=rf"^environment '{name}': the name must be"):
        parse_environments({name: _BASE})


def test_fails_on_environments_that_are_not_an_object() -> None:
    with pytest.raises(ValueError, match=r"'environments' context must be an object"):
        parse_environments(["dev"])  # type: ignore[arg-type]


def test_config_keeps_well_typed_values() -> None:
    config = EnvironmentConfig.from_context(
        "dev",
        {
            **_BASE,
            "corsAllowOrigins": ["https://a.example", "https://b.example"],
            "maxUploadBytes": 104857600,
            "account": "012345678901",
            "region": "eu-central-2",
            "removalPolicy": "Destroy",
        },
    )
    assert config.cors_allow_origins == ("https://a.example", "https://b.example")
    assert config.max_upload_bytes == 104857600
    assert config.account == "012345678901"
    assert config.region == "eu-central-2"
    assert config.removal_policy == cdk.RemovalPolicy.DESTROY


def test_fails_on_a_value_the_construct_refuses_naming_the_environment_and_the_key(
    tmp_path: Path,
) -> None:
    # Given a split threshold below the construct's default part size (8 MiB), which only the
    # construct can tell
    context = cdk_context()
    dev = {k: v for k, v in context["environments"]["dev"].items() if k != "partBytes"}
    context["environments"] = {"dev": {**dev, "splitThresholdBytes": 1048576}}
    app = cdk.App(outdir=str(tmp_path), context=context)
    # Then the refusal names the environment and the cdk.json key
    with pytest.raises(ValueError, match=r"^environment 'dev' \(splitThresholdBytes\): "):
        app_module.build_app(app, bundle_dependencies=False)


@pytest.mark.parametrize("value", ["no", 0, "1"])
def test_fails_on_a_bundle_context_that_is_not_true_or_false(tmp_path: Path, value: object) -> None:
    app = cdk.App(outdir=str(tmp_path), context={**cdk_context(), "bundle": value, "env": "dev"})
    with pytest.raises(ValueError, match=r"bundle must be true or false"):
        app_module.build_app(app, bundle_dependencies=False)


# API Gateway's account-level CloudWatch role: one per account and region, set by the app's
# choice of stack.


def test_fails_no_stack_sets_the_account_wide_api_gateway_role_unless_cdk_json_says_so(
    synthesized: Synthesized,
) -> None:
    # Given cdk.json, which names no environment in apiGatewayCloudWatchRole
    assert cdk_context()["apiGatewayCloudWatchRole"] == []
    for env in ENVIRONMENTS:
        # Then no stack sets the account's role (a second stack in the account would overwrite
        # it, and deleting the stack that made it would leave the others logging with nothing)
        template = synthesized.template(env)
        assert resources(template, "AWS::ApiGateway::Account") == {}


def test_fails_only_the_environment_cdk_json_names_sets_the_api_gateway_role(
    tmp_path: Path,
) -> None:
    # Given apiGatewayCloudWatchRole naming dev
    context = {**cdk_context(), "apiGatewayCloudWatchRole": ["dev"], "env": "dev"}
    app = cdk.App(outdir=str(tmp_path), context=context)
    stacks = app_module.build_app(app, bundle_dependencies=False)
    app_module.add_gates(app, stacks)
    # When synthesized with the gates
    synthesized = synthesize(app, tmp_path, {"dev": stack_name("dev")})
    # Then dev sets the account's role once, passes the gates and tags the role
    assert synthesized.error is None
    template = synthesized.templates["dev"]
    accounts = [
        r for r in template["Resources"].values() if r["Type"] == "AWS::ApiGateway::Account"
    ]
    assert len(accounts) == 1
    config = parse_environments(cdk_context()["environments"])["dev"]
    assert untagged(template, config.tags)[0] == []
    # And the others (the session's synth) do not: see the test above
    assert [s.config.api_cloud_watch_role for s in stacks] == [True]


def test_fails_two_environments_in_one_account_and_region_cannot_both_set_the_api_gateway_role(
    tmp_path: Path,
) -> None:
    # Given dev and prod named, both in eu-west-1 of the default account
    context = {**cdk_context(), "apiGatewayCloudWatchRole": ["dev", "prod"], "env": "dev"}
    app = cdk.App(outdir=str(tmp_path), context=context)
    # Then the app refuses, whichever environment is selected
    with pytest.raises(ValueError, match=r"apiGatewayCloudWatchRole names 'dev' and 'prod'"):
        app_module.build_app(app, bundle_dependencies=False)


def test_environments_in_different_accounts_may_each_set_the_api_gateway_role(
    tmp_path: Path,
) -> None:
    # Given dev and prod in two accounts, both named
    context = cdk_context()
    environments = dict(context["environments"])
    environments["dev"] = {**environments["dev"], "account": "111111111111"}
    environments["prod"] = {**environments["prod"], "account": "222222222222"}
    app = cdk.App(
        outdir=str(tmp_path),
        context={
            **context,
            "environments": environments,
            "apiGatewayCloudWatchRole": ["dev", "prod"],
            "env": "prod",
        },
    )
    # When built / Then prod sets its account's role
    [stack] = app_module.build_app(app, bundle_dependencies=False)
    assert stack.config.api_cloud_watch_role


@pytest.mark.parametrize("value", ["dev", ["qa"], [1], True, {"dev": True}, ["dev", "dev"]])
def test_fails_on_a_bad_api_gateway_role_setting(tmp_path: Path, value: object) -> None:
    app = cdk.App(
        outdir=str(tmp_path),
        context={**cdk_context(), "apiGatewayCloudWatchRole": value, "env": "dev"},
    )
    with pytest.raises(ValueError, match=r"^apiGatewayCloudWatchRole must be a list of"):
        app_module.build_app(app, bundle_dependencies=False)
