"""The hardened profile (R26): one customer-managed key, a WAF web ACL, functions in a VPC,
versioned buckets, and the NIST 800-53 R5 and PCI DSS 3.2.1 packs gating the stack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from financial_pipeline import FinancialPipeline, LambdaOptions, Profile
from financial_pipeline._defaults import NONCURRENT_VERSION_EXPIRATION_DAYS
from financial_pipeline.firewall import MANAGED_RULE_GROUPS
from financial_pipeline.nag import COMPLIANCE_PACKS, add_compliance_packs, add_rule_packs
from infra.config import EnvironmentConfig, parse_environments

from .conftest import (
    ENVIRONMENTS,
    HARDENED,
    REGION,
    Synthesized,
    cdk_context,
    logical_id,
    resources,
    stack_name,
    synthesize,
)

GATING = ("AwsSolutions", "Serverless")
COMPLIANCE_GATES = tuple(f"{pack}-gate" for pack in COMPLIANCE_PACKS)
ACCOUNT = "123456789012"
WEB_ACL_ARN = (
    f"arn:aws:wafv2:{REGION}:{ACCOUNT}:regional/webacl/central/a1b2c3d4-5678-90ab-cdef-1234567890ab"
)


def _key_arn(template: Template) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id(template, "AWS::KMS::Key", "EncryptionKey"), "Arn"]}


def _policy_of(template: Template, fragment: str) -> list[dict[str, Any]]:
    policy = resources(template, "AWS::IAM::Policy")[
        logical_id(template, "AWS::IAM::Policy", f"{fragment}RoleDefaultPolicy")
    ]
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _key_actions(template: Template, fragment: str) -> set[str]:
    key = _key_arn(template)
    actions: set[str] = set()
    for statement in _policy_of(template, fragment):
        if statement["Resource"] == key:
            found = statement["Action"]
            actions |= {found} if isinstance(found, str) else set(found)
    return actions


# The key, and what uses it.


def test_r26_one_rotating_key_encrypts_bucket_tables_queue_topic_and_every_log_group(
    regulated: Template,
) -> None:
    # Given the hardened stack
    key = _key_arn(regulated)
    # Then there is exactly one key, rotated, and every data store and log group uses it
    keys = resources(regulated, "AWS::KMS::Key")
    assert len(keys) == 1
    assert next(iter(keys.values()))["Properties"]["EnableKeyRotation"] is True
    regulated.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "BucketKeyEnabled": True,
                        "ServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": key,
                        },
                    }
                ]
            }
        },
    )
    for table in resources(regulated, "AWS::DynamoDB::GlobalTable").values():
        props = table["Properties"]
        assert props["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS"}
        assert props["Replicas"][0]["SSESpecification"] == {"KMSMasterKeyId": key}
    (queue,) = resources(regulated, "AWS::SQS::Queue").values()
    assert queue["Properties"]["KmsMasterKeyId"] == key
    (topic,) = resources(regulated, "AWS::SNS::Topic").values()
    assert topic["Properties"]["KmsMasterKeyId"] == key
    log_groups = resources(regulated, "AWS::Logs::LogGroup")
    # 8 functions, the state machine's, the API access log, the VPC flow log and the web ACL's
    # request log
    assert len(log_groups) == 12
    assert {k: g["Properties"].get("KmsKeyId") for k, g in log_groups.items()} == {
        k: key for k in log_groups
    }


def test_r26_access_log_bucket_stays_sse_s3(regulated: Template) -> None:
    # Given the access-log bucket / Then it is AES256: S3 server access logging cannot
    # deliver to an SSE-KMS bucket
    log_bucket = resources(regulated, "AWS::S3::Bucket")[
        logical_id(regulated, "AWS::S3::Bucket", "AccessLogBucket")
    ]
    assert log_bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]


def test_r26_key_policy_admits_only_this_accounts_logs_and_this_pipelines_alarms(
    regulated: Template,
) -> None:
    # Given the key policy
    (key,) = resources(regulated, "AWS::KMS::Key").values()
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    services = {s["Principal"].get("Service"): s for s in statements if "Service" in s["Principal"]}
    # Then the only service principals are CloudWatch Logs of the region, CloudWatch, and the
    # log delivery service CDK admits for the encrypted state machine's log group (decrypt only)
    assert set(services) == {
        f"logs.{REGION}.amazonaws.com",
        "cloudwatch.amazonaws.com",
        "delivery.logs.amazonaws.com",
    }
    assert services["delivery.logs.amazonaws.com"]["Action"] == "kms:Decrypt"
    # And each is held to its source: log groups of this account and region...
    logs_condition = services[f"logs.{REGION}.amazonaws.com"]["Condition"]
    assert logs_condition == {
        "ArnLike": {
            "kms:EncryptionContext:aws:logs:arn": {
                "Fn::Join": [
                    "",
                    [f"arn:aws:logs:{REGION}:", {"Ref": "AWS::AccountId"}, ":log-group:*"],
                ]
            }
        }
    }
    # ...and this account's alarms of this pipeline
    alarms = services["cloudwatch.amazonaws.com"]
    assert alarms["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert alarms["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert alarms["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Join"][1][-1] == (
        f":alarm:{stack_name('regulated')}-Pipeline-*"
    )
    # ...and log delivery (the state machine's logs) to this account's deliveries
    delivery = services["delivery.logs.amazonaws.com"]["Condition"]
    assert delivery == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnLike": {
            "aws:SourceArn": {
                "Fn::Join": ["", [f"arn:aws:logs:{REGION}:", {"Ref": "AWS::AccountId"}, ":*"]]
            }
        },
    }
    # And the rest is CDK's account statement, through which the roles' grants apply
    others = [s for s in statements if "Service" not in s["Principal"]]
    assert len(others) == 1 and others[0]["Principal"]["AWS"]["Fn::Join"][1][-1] == ":root"


SOURCE_CONDITIONS = {"aws:SourceAccount", "aws:SourceArn", "kms:EncryptionContext:aws:logs:arn"}
"""Condition keys that hold a service to this account's resources (confused deputy)."""


def _service_statements(template: Template) -> list[dict[str, Any]]:
    (key,) = resources(template, "AWS::KMS::Key").values()
    statements: list[dict[str, Any]] = key["Properties"]["KeyPolicy"]["Statement"]
    return [s for s in statements if "Service" in s["Principal"]]


@pytest.mark.parametrize("env", HARDENED)
def test_fails_r26_every_service_in_the_key_policy_is_held_to_this_accounts_resources(
    synthesized: Synthesized, env: str
) -> None:
    # Given every statement of the key policy that admits an AWS service
    statements = _service_statements(synthesized.template(env))
    assert statements
    for statement in statements:
        # Then each carries a source condition, and each such condition names this account:
        # without one, the service would use the key for any account that asks it to
        conditions = {
            key: value
            for operator in statement.get("Condition", {}).values()
            for key, value in operator.items()
        }
        assert set(conditions) & SOURCE_CONDITIONS, statement
        for key in set(conditions) & SOURCE_CONDITIONS:
            assert '{"Ref": "AWS::AccountId"}' in json.dumps(conditions[key]), statement


def test_r26_each_function_may_use_the_key_only_as_its_s3_and_table_calls_need(
    regulated: Template,
) -> None:
    # Given each function's identity policy / Then its key actions are what its calls need:
    # upload signs presigned POSTs (S3 generates a data key as the signer) and writes jobs
    upload = _key_actions(regulated, "Upload")
    assert "kms:GenerateDataKey" in upload
    # status reads jobs and signs report GETs (S3 decrypts as the signer): decrypt only
    assert _key_actions(regulated, "Status") == {"kms:Decrypt", "kms:DescribeKey"}
    assert _key_actions(regulated, "Results") == {"kms:Decrypt", "kms:DescribeKey"}
    # the processor and sweeper read, copy and write objects
    for name in ("Processor", "Sweeper"):
        assert {"kms:Decrypt", "kms:GenerateDataKey"} <= _key_actions(regulated, name)
    # And no statement of any role names another key or every key
    for policy in resources(regulated, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"]
            actions = [actions] if isinstance(actions, str) else actions
            if any(a.startswith("kms:") for a in actions):
                assert statement["Resource"] == _key_arn(regulated)


# The web ACL.


def test_r26_web_acl_rate_limits_then_applies_the_three_managed_rule_groups(
    regulated: Template,
) -> None:
    # Given the web ACL
    (acl,) = resources(regulated, "AWS::WAFv2::WebACL").values()
    props = acl["Properties"]
    # Then it is regional, allows by default and orders its rules rate limit first
    assert props["Scope"] == "REGIONAL"
    assert props["DefaultAction"] == {"Allow": {}}
    rules = sorted(props["Rules"], key=lambda r: r["Priority"])
    assert rules[0]["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP"
    assert rules[0]["Action"] == {"Block": {}}
    managed = [r["Statement"]["ManagedRuleGroupStatement"] for r in rules[1:]]
    assert [(m["VendorName"], m["Name"]) for m in managed] == [
        ("AWS", name) for name in MANAGED_RULE_GROUPS
    ]
    assert set(MANAGED_RULE_GROUPS) == {
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesAmazonIpReputationList",
    }
    assert all(r["OverrideAction"] == {"None": {}} for r in rules[1:])


def test_r26_web_acl_is_associated_with_the_stage_and_logs_with_credentials_redacted(
    regulated: Template,
) -> None:
    # Given the association and the logging configuration
    acl = logical_id(regulated, "AWS::WAFv2::WebACL", "Firewall")
    stage = logical_id(regulated, "AWS::ApiGateway::Stage", "Api")
    api = logical_id(regulated, "AWS::ApiGateway::RestApi", "Api")
    (association,) = resources(regulated, "AWS::WAFv2::WebACLAssociation").values()
    # Then the stage is protected by the web ACL
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl, "Arn"]}
    arn = json.dumps(association["Properties"]["ResourceArn"])
    assert f'"Ref": "{api}"' in arn and f'"Ref": "{stage}"' in arn
    # And its requests are logged to an aws-waf-logs- group, without the callers' credentials
    (logging,) = resources(regulated, "AWS::WAFv2::LoggingConfiguration").values()
    assert logging["Properties"]["ResourceArn"] == {"Fn::GetAtt": [acl, "Arn"]}
    assert ":log-group:aws-waf-logs-" in json.dumps(logging["Properties"]["LogDestinationConfigs"])
    assert logging["Properties"]["RedactedFields"] == [
        {"SingleHeader": {"Name": "authorization"}},
        {"SingleHeader": {"Name": "x-amz-security-token"}},
    ]


# The network.


def test_r26_every_function_runs_in_the_isolated_subnets_with_the_https_only_group(
    regulated: Template,
) -> None:
    # Given the pipeline's functions (the handlers in the code asset)
    functions = {
        k: f
        for k, f in resources(regulated, "AWS::Lambda::Function").items()
        if f["Properties"].get("Handler", "").startswith("runtime.")
    }
    assert len(functions) == 8
    group = logical_id(regulated, "AWS::EC2::SecurityGroup", "FunctionSecurityGroup")
    subnets = sorted(resources(regulated, "AWS::EC2::Subnet"))
    # Then each uses the two isolated subnets and the functions' security group
    for function in functions.values():
        config = function["Properties"]["VpcConfig"]
        assert config["SecurityGroupIds"] == [{"Fn::GetAtt": [group, "GroupId"]}]
        assert sorted(s["Ref"] for s in config["SubnetIds"]) == subnets
    # And that group lets nothing in and only HTTPS out
    props = resources(regulated, "AWS::EC2::SecurityGroup")[group]["Properties"]
    assert "SecurityGroupIngress" not in props
    assert [
        (e["IpProtocol"], e["FromPort"], e["ToPort"]) for e in props["SecurityGroupEgress"]
    ] == [("tcp", 443, 443)]


def test_r26_vpc_has_gateway_and_interface_endpoints_and_no_route_out(
    regulated: Template,
) -> None:
    # Given the VPC's endpoints
    endpoints = resources(regulated, "AWS::EC2::VPCEndpoint").values()
    services = {
        json.dumps(e["Properties"]["ServiceName"]): e["Properties"].get("VpcEndpointType")
        for e in endpoints
    }
    # Then S3 and DynamoDB are gateway endpoints; Lambda, X-Ray, EventBridge (the job events,
    # R27) and Step Functions (a split file's execution, R23) the only interface ones
    names = ("s3", "dynamodb", "lambda", "xray", "events", "states")
    kinds = {
        name: kind for service, kind in services.items() for name in names if f'.{name}"' in service
    }
    assert len(services) == len(names)
    assert kinds == {
        "s3": "Gateway",
        "dynamodb": "Gateway",
        "lambda": "Interface",
        "xray": "Interface",
        "events": "Interface",
        "states": "Interface",
    }
    # And the interface endpoints take HTTPS from the functions only, with private DNS
    group = logical_id(regulated, "AWS::EC2::SecurityGroup", "FunctionSecurityGroup")
    regulated.has_resource_properties(
        "AWS::EC2::SecurityGroupIngress",
        {
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
            "SourceSecurityGroupId": {"Fn::GetAtt": [group, "GroupId"]},
        },
    )
    for endpoint in endpoints:
        if endpoint["Properties"].get("VpcEndpointType") == "Interface":
            assert endpoint["Properties"]["PrivateDnsEnabled"] is True
    # And nothing leads to the internet
    for kind in ("NatGateway", "InternetGateway", "EIP", "EgressOnlyInternetGateway"):
        assert resources(regulated, f"AWS::EC2::{kind}") == {}
    assert all(
        "DestinationCidrBlock" not in route["Properties"]
        for route in resources(regulated, "AWS::EC2::Route").values()
    )


def test_r26_vpc_logs_its_flows_and_closes_its_default_security_group(
    regulated: Template,
) -> None:
    vpc = logical_id(regulated, "AWS::EC2::VPC", "Network")
    regulated.has_resource_properties(
        "AWS::EC2::FlowLog",
        {"ResourceId": {"Ref": vpc}, "ResourceType": "VPC", "TrafficType": "ALL"},
    )
    assert len(resources(regulated, "Custom::VpcRestrictDefaultSG")) == 1


# Versioning.


def test_r26_both_buckets_are_versioned_and_expire_noncurrent_versions(
    regulated: Template,
) -> None:
    # Given both buckets / Then each is versioned, and noncurrent versions and the delete
    # markers left behind are removed, so versioning keeps nothing R10 deletes for long
    for bucket in resources(regulated, "AWS::S3::Bucket").values():
        props = bucket["Properties"]
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}
        assert {
            "Id": "ExpireNoncurrentVersions",
            "Status": "Enabled",
            "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_VERSION_EXPIRATION_DAYS},
            "ExpiredObjectDeleteMarker": True,
        } in props["LifecycleConfiguration"]["Rules"]


# The default profile is untouched.


@pytest.mark.parametrize("env", [e for e in ENVIRONMENTS if e not in HARDENED])
def test_r26_r8_default_profile_has_no_key_vpc_or_web_acl(
    synthesized: Synthesized, env: str
) -> None:
    template = synthesized.template(env)
    # Then the bucket stays SSE-S3 (R8) and none of the hardened resources exist
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "VersioningConfiguration": Match.absent(),
        },
    )
    for kind in ("AWS::EC2::VPC", "AWS::WAFv2::WebACL", "AWS::WAFv2::WebACLAssociation"):
        assert resources(template, kind) == {}
    # The alarm topic's own key is the only key
    assert [k for k in resources(template, "AWS::KMS::Key")] == [
        logical_id(template, "AWS::KMS::Key", "TopicKey")
    ]


# The gates.


def test_r26_hardened_stack_has_no_unacknowledged_nist_or_pci_finding(
    synthesized: Synthesized,
) -> None:
    # Given the hardened stack, checked by the gating compliance packs and the report packs
    prefix = f"{stack_name('regulated')}/"
    # When its findings are collected / Then there are none
    findings = [
        (rule, path)
        for rule, path in synthesized.violations(*GATING, *COMPLIANCE_GATES, *COMPLIANCE_PACKS)
        if path.startswith(prefix)
    ]
    assert findings == []


def test_r26_compliance_packs_gate_only_the_given_stacks(tmp_path: Path) -> None:
    # Given two stacks with the same bare bucket (no logging, versioning or KMS), one gated
    app = cdk.App(outdir=str(tmp_path), context=cdk_context())
    gated, free = cdk.Stack(app, "Gated"), cdk.Stack(app, "Free")
    for stack in (gated, free):
        s3.Bucket(stack, "Bucket")
    add_compliance_packs(app, gated)
    # When synthesized
    result = synthesize(app, tmp_path, {"gated": "Gated", "free": "Free"})
    # Then synthesis fails, on the gated stack's findings only
    assert result.error is not None
    paths = {path for _, path in result.violations(*COMPLIANCE_GATES)}
    assert paths == {"Gated/Bucket/Resource"}


def test_r26_default_stacks_are_not_gated_by_the_compliance_packs(
    synthesized: Synthesized,
) -> None:
    # Given the app's report / Then the gates found nothing (a passing plugin is not listed)
    # although the report packs still list the default stacks' findings
    assert synthesized.violations(*COMPLIANCE_GATES) == []
    assert any(
        path.startswith(f"{stack_name('dev')}/")
        for _, path in synthesized.violations(*COMPLIANCE_PACKS)
    )


def test_r26_fewer_than_ten_compliance_rules_are_acknowledged(synthesized: Synthesized) -> None:
    # Given the acknowledgments in the hardened stack's metadata
    metadata = json.loads(
        (synthesized.outdir / f"{stack_name('regulated')}.metadata.json").read_text()
    )
    # (recorded as ``Annotation::<pack>-<rule>[<detail>]``)
    acknowledged = {
        rule.removeprefix("Annotation::").split("-", 1)[1].split("[")[0]
        for entries in metadata.values()
        for entry in entries
        if entry["type"] == "aws:cdk:acknowledged-rules"
        for rule in entry["data"]
        if rule.removeprefix("Annotation::").startswith(COMPLIANCE_PACKS)
    }
    # Then the distinct NIST and PCI rules acknowledged are few
    print(f"\nNIST/PCI rules acknowledged: {sorted(acknowledged)}")
    assert 0 < len(acknowledged) < 10


# Bring your own key, VPC and web ACL; each hardening prop alone.


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """Hardened pipelines built from existing resources, gated by every pack."""
    outdir = tmp_path_factory.mktemp("hardened")
    app = cdk.App(outdir=str(outdir), context=cdk_context())
    env = cdk.Environment(account=ACCOUNT, region=REGION)

    # A key of the consumer's own stack, an imported VPC, an existing web ACL, cognito mode.
    own = cdk.Stack(app, "Own", env=env)
    own_vpc = ec2.Vpc.from_vpc_attributes(
        own,
        "Vpc",
        vpc_id="vpc-0123456789abcdef0",
        availability_zones=[f"{REGION}a", f"{REGION}b"],
        isolated_subnet_ids=["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"],
        # Gateway endpoints are routes: an imported VPC must name its route tables.
        isolated_subnet_route_table_ids=["rtb-0aaaaaaaaaaaaaaa1", "rtb-0aaaaaaaaaaaaaaa2"],
    )
    FinancialPipeline(
        own,
        "Pipeline",
        environment_name="dev",
        profile="hardened",
        authorization="cognito",
        existing_encryption_key=kms.Key(own, "Key", enable_key_rotation=True),
        existing_vpc=own_vpc,
        existing_web_acl_arn=WEB_ACL_ARN,
        lambda_options=LambdaOptions(bundle_dependencies=False),
    )
    # An imported key (its owner keeps its policy), a VPC whose endpoints exist already.
    imported = cdk.Stack(app, "Imported", env=env)
    imported_vpc = ec2.Vpc.from_vpc_attributes(
        imported,
        "Vpc",
        vpc_id="vpc-0123456789abcdef1",
        availability_zones=[f"{REGION}a"],
        private_subnet_ids=["subnet-0bbbbbbbbbbbbbbb1"],
    )
    FinancialPipeline(
        imported,
        "Pipeline",
        environment_name="dev",
        profile=Profile.HARDENED,
        authorization="none",
        existing_encryption_key=kms.Key.from_key_arn(
            imported,
            "Key",
            f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ),
        existing_vpc=imported_vpc,
        vpc_endpoints=False,
        lambda_options=LambdaOptions(bundle_dependencies=False),
    )
    # The default profile with versioning alone.
    versioned = cdk.Stack(app, "Versioned", env=env)
    FinancialPipeline(
        versioned,
        "Pipeline",
        environment_name="dev",
        bucket_versioning=True,
        lambda_options=LambdaOptions(bundle_dependencies=False),
    )
    add_rule_packs(app)
    add_compliance_packs(app, own, imported)
    return synthesize(app, outdir, {name: name for name in ("Own", "Imported", "Versioned")})


def test_r26_r19_hardened_variants_pass_every_gate(variants: Synthesized) -> None:
    # Given the hardened pipelines built from existing resources, in cognito and none modes
    # Then no gate finds anything, and synthesis succeeded
    assert variants.violations(*GATING, *COMPLIANCE_GATES) == []
    assert variants.error is None


def test_r26_an_existing_key_is_the_one_key_and_gets_the_service_statements(
    variants: Synthesized,
) -> None:
    # Given a key from the consumer's stack
    template = variants.template("Own")
    (key_id,) = resources(template, "AWS::KMS::Key")
    key = {"Fn::GetAtt": [key_id, "Arn"]}
    # Then no other key exists, the stores use it, and its policy admits logs and alarms
    for group in resources(template, "AWS::Logs::LogGroup").values():
        assert group["Properties"]["KmsKeyId"] == key
    (topic,) = resources(template, "AWS::SNS::Topic").values()
    assert topic["Properties"]["KmsMasterKeyId"] == key
    statements = resources(template, "AWS::KMS::Key")[key_id]["Properties"]["KeyPolicy"][
        "Statement"
    ]
    assert {s["Principal"].get("Service") for s in statements} >= {
        f"logs.{REGION}.amazonaws.com",
        "cloudwatch.amazonaws.com",
        "delivery.logs.amazonaws.com",
    }
    # And every service it admits is held to this account's resources
    for statement in _service_statements(template):
        operators = statement.get("Condition", {}).values()
        found = {key: value for operator in operators for key, value in operator.items()}
        assert set(found) & SOURCE_CONDITIONS, statement
        for key in set(found) & SOURCE_CONDITIONS:
            assert ACCOUNT in json.dumps(found[key]), statement


def test_r26_an_imported_key_is_used_by_arn(variants: Synthesized) -> None:
    template = variants.template("Imported")
    assert resources(template, "AWS::KMS::Key") == {}
    for group in resources(template, "AWS::Logs::LogGroup").values():
        assert group["Properties"]["KmsKeyId"].startswith(f"arn:aws:kms:{REGION}:{ACCOUNT}:key/")


def test_r26_an_existing_web_acl_is_associated_and_none_is_created(variants: Synthesized) -> None:
    template = variants.template("Own")
    assert resources(template, "AWS::WAFv2::WebACL") == {}
    template.has_resource_properties("AWS::WAFv2::WebACLAssociation", {"WebACLArn": WEB_ACL_ARN})


def test_r26_functions_run_in_the_existing_vpcs_subnets(variants: Synthesized) -> None:
    # Given an imported VPC with isolated subnets, and one with private subnets only
    for name, subnets, endpoints in (
        ("Own", ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"], 6),
        ("Imported", ["subnet-0bbbbbbbbbbbbbbb1"], 0),
    ):
        template = variants.template(name)
        # Then the functions use those subnets, and endpoints exist unless turned off
        template.has_resource_properties(
            "AWS::Lambda::Function",
            {
                "Handler": "runtime.handlers.processor.handler",
                "VpcConfig": {"SubnetIds": subnets, "SecurityGroupIds": Match.any_value()},
            },
        )
        assert resources(template, "AWS::EC2::VPC") == {}
        assert len(resources(template, "AWS::EC2::VPCEndpoint")) == endpoints


def test_r26_versioning_alone_keeps_sse_s3_and_lambdas_network(variants: Synthesized) -> None:
    template = variants.template("Versioned")
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "VersioningConfiguration": {"Status": "Enabled"},
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
        },
    )
    assert resources(template, "AWS::EC2::VPC") == {}
    assert resources(template, "AWS::WAFv2::WebACL") == {}


# Invalid combinations.


def _build(stack: cdk.Stack, **props: Any) -> FinancialPipeline:
    return FinancialPipeline(
        stack,
        "Pipeline",
        environment_name="dev",
        lambda_options=LambdaOptions(bundle_dependencies=False),
        **props,
    )


def test_fails_on_an_unknown_profile(stack: cdk.Stack) -> None:
    with pytest.raises(ValueError, match=r"profile must be one of .* \(got 'paranoid'\)"):
        _build(stack, profile="paranoid")


@pytest.mark.parametrize(
    "prop", ["customer_managed_key", "web_acl", "run_in_vpc", "bucket_versioning"]
)
def test_fails_when_the_hardened_profile_turns_one_part_off(stack: cdk.Stack, prop: str) -> None:
    with pytest.raises(ValueError, match=rf"profile 'hardened' needs {prop} \(got {prop}=False\)"):
        _build(stack, profile="hardened", **{prop: False})


def test_fails_on_an_existing_key_with_customer_managed_key_off(stack: cdk.Stack) -> None:
    key = kms.Key(stack, "Key")
    with pytest.raises(
        ValueError, match=r"existing_encryption_key needs customer_managed_key \(got "
    ):
        _build(stack, existing_encryption_key=key, customer_managed_key=False)


def test_fails_on_an_existing_vpc_with_run_in_vpc_off(stack: cdk.Stack) -> None:
    vpc = ec2.Vpc.from_vpc_attributes(
        stack, "Vpc", vpc_id="vpc-1", availability_zones=["eu-west-1a"]
    )
    with pytest.raises(ValueError, match=r"existing_vpc needs run_in_vpc \(got run_in_vpc=False\)"):
        _build(stack, existing_vpc=vpc, run_in_vpc=False)


def test_fails_on_vpc_endpoints_off_without_a_vpc(stack: cdk.Stack) -> None:
    with pytest.raises(ValueError, match=r"vpc_endpoints=False needs run_in_vpc"):
        _build(stack, vpc_endpoints=False)


def test_fails_on_an_existing_vpc_without_private_subnets(stack: cdk.Stack) -> None:
    vpc = ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id="vpc-1",
        availability_zones=["eu-west-1a"],
        public_subnet_ids=["subnet-public1"],
    )
    with pytest.raises(ValueError, match=r"existing_vpc needs private .* \(got 1 public subnet"):
        _build(stack, existing_vpc=vpc)


@pytest.mark.parametrize(
    "arn",
    [
        f"arn:aws:wafv2:us-east-1:{ACCOUNT}:global/webacl/edge/a1b2c3d4-5678-90ab-cdef-1234567890ab",
        f"arn:aws:waf-regional:{REGION}:{ACCOUNT}:webacl/a1b2c3d4",
        "central",
    ],
)
def test_fails_on_a_web_acl_arn_that_is_not_a_regional_wafv2_acl(
    stack: cdk.Stack, arn: str
) -> None:
    with pytest.raises(ValueError, match=rf"existing_web_acl_arn must be a regional .*got '{arn}'"):
        _build(stack, existing_web_acl_arn=arn)


def test_fails_when_bucket_props_turn_versioning_off_in_the_hardened_profile(
    stack: cdk.Stack,
) -> None:
    with pytest.raises(ValueError, match=r"bucket_props cannot override 'versioned' \(got False\)"):
        _build(stack, profile="hardened", bucket_props={"versioned": False})


# The app's configuration.


def test_r26_config_reads_the_profile() -> None:
    config = EnvironmentConfig.from_context(
        "regulated", {"team": "t", "costCenter": "c", "profile": "hardened"}
    )
    assert config.profile == Profile.HARDENED and config.hardened
    default = EnvironmentConfig.from_context("dev", {"team": "t", "costCenter": "c"})
    assert default.profile == Profile.DEFAULT and not default.hardened


def test_fails_on_an_unknown_profile_setting() -> None:
    with pytest.raises(ValueError, match=r"profile must be default or hardened \(got 'strict'\)"):
        EnvironmentConfig.from_context("x", {"team": "t", "costCenter": "c", "profile": "strict"})


def test_r26_cdk_json_has_a_hardened_environment_and_dev_stays_default() -> None:
    configs = parse_environments(cdk_context()["environments"])
    assert [name for name, c in configs.items() if c.hardened] == list(HARDENED)
    assert configs["dev"].profile == Profile.DEFAULT
