"""Bring your own resources: an existing bucket, tables and alarm topic, checked up front."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Annotations, Match, Template

from financial_pipeline import (
    FinancialPipeline,
    IngestOptions,
    LambdaOptions,
    ObservabilityOptions,
    StorageOptions,
)
from financial_pipeline.nag import add_rule_packs
from financial_pipeline.storage import JOBS_TABLE_SCHEMA, RESULTS_TABLE_SCHEMA
from tests.infra.conftest import REGION, Synthesized, cdk_context, resources, synthesize

GATING = ("AwsSolutions", "Serverless")
ACCOUNT = "111111111111"
S = dynamodb.AttributeType.STRING


def _bucket(scope: cdk.Stack, id_: str = "TheirBucket", **props: Any) -> s3.Bucket:
    settings: dict[str, Any] = {
        "encryption": s3.BucketEncryption.S3_MANAGED,
        "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
        "enforce_ssl": True,
        **props,
    }
    return s3.Bucket(scope, id_, **settings)


def _results(scope: cdk.Stack, id_: str = "TheirResults", **props: Any) -> dynamodb.TableV2:
    keys: dict[str, Any] = {
        "partition_key": dynamodb.Attribute(name="symbol", type=S),
        "sort_key": dynamodb.Attribute(name="timestamp", type=S),
        **props,
    }
    return dynamodb.TableV2(scope, id_, **keys)


def _index(name: str, partition: str) -> dynamodb.GlobalSecondaryIndexPropsV2:
    return dynamodb.GlobalSecondaryIndexPropsV2(
        index_name=name,
        partition_key=dynamodb.Attribute(name=partition, type=S),
        sort_key=dynamodb.Attribute(name="updatedAt", type=S),
    )


def _jobs(scope: cdk.Stack, id_: str = "TheirJobs", **props: Any) -> dynamodb.TableV2:
    settings: dict[str, Any] = {
        "partition_key": dynamodb.Attribute(name="jobId", type=S),
        "time_to_live_attribute": "ttl",
        "global_secondary_indexes": [
            _index("ByStatus", "status"),
            _index("ByPendingEvent", "eventPending"),
        ],
        **props,
    }
    return dynamodb.TableV2(scope, id_, **settings)


def _pipeline(stack: cdk.Stack, **props: Any) -> FinancialPipeline:
    return FinancialPipeline(
        stack,
        "Pipeline",
        environment_name="dev",
        lambda_options=LambdaOptions(bundle_dependencies=False),
        **props,
    )


def _on_imported(stack: cdk.Stack, *, jobs: Any) -> FinancialPipeline:
    """A pipeline on a bucket, tables and topic imported by name; ``jobs`` is the table class
    the jobs table is imported with."""
    return _pipeline(
        stack,
        storage_options=StorageOptions(
            existing_bucket_obj=s3.Bucket.from_bucket_name(stack, "Bucket", "their-uploads"),
            existing_results_table_obj=dynamodb.TableV2.from_table_name(
                stack, "Results", "their-results"
            ),
            existing_jobs_table_obj=jobs.from_table_name(stack, "Jobs", "their-jobs"),
        ),
        observability_options=ObservabilityOptions(
            existing_alarm_topic_obj=sns.Topic.from_topic_arn(
                stack, "Topic", f"arn:aws:sns:{REGION}:{ACCOUNT}:their-alarms"
            )
        ),
    )


@pytest.fixture(scope="module")
def brought(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """Three pipelines on resources of their users, gated by cdk-nag: resources of the same
    stack, imported ones, and the hardened profile on KMS-encrypted ones."""
    outdir = tmp_path_factory.mktemp("byo")
    app = cdk.App(outdir=str(outdir), context=cdk_context())
    env = cdk.Environment(account=ACCOUNT, region=REGION)

    own = cdk.Stack(app, "Own", env=env)
    _pipeline(
        own,
        storage_options=StorageOptions(
            existing_bucket_obj=_bucket(own),
            existing_results_table_obj=_results(own),
            existing_jobs_table_obj=_jobs(own),
        ),
        observability_options=ObservabilityOptions(
            existing_alarm_topic_obj=sns.Topic(own, "TheirTopic"),
            error_rate_threshold_percent=5,
            error_rate_min_invocations=50,
        ),
        ingest_options=IngestOptions(sweep_interval=cdk.Duration.minutes(10)),
    )

    _on_imported(cdk.Stack(app, "Imported", env=env), jobs=dynamodb.TableV2)

    hardened = cdk.Stack(app, "Hardened", env=env)
    key = kms.Key(hardened, "TheirKey", enable_key_rotation=True)
    encrypted = dynamodb.TableEncryptionV2.customer_managed_key(key)
    _pipeline(
        hardened,
        profile="hardened",
        storage_options=StorageOptions(
            existing_bucket_obj=_bucket(
                hardened,
                encryption=s3.BucketEncryption.KMS,
                encryption_key=key,
                versioned=True,
            ),
            existing_results_table_obj=_results(hardened, encryption=encrypted),
            existing_jobs_table_obj=_jobs(hardened, encryption=encrypted),
        ),
        observability_options=ObservabilityOptions(
            existing_alarm_topic_obj=sns.Topic(hardened, "TheirTopic", master_key=key)
        ),
    )
    add_rule_packs(app)
    return synthesize(app, outdir, {name: name for name in ("Own", "Imported", "Hardened")})


def _template(brought: Synthesized, name: str) -> Template:
    return brought.template(name)


@pytest.mark.parametrize("name", ["Own", "Imported", "Hardened"])
def test_the_pipeline_creates_none_of_the_resources_it_is_given(
    brought: Synthesized, name: str
) -> None:
    template = _template(brought, name)
    # Then the only bucket, tables and topic are the user's (none in an imported stack)
    theirs = 0 if name == "Imported" else 1
    for type_ in ("AWS::S3::Bucket", "AWS::DynamoDB::GlobalTable", "AWS::SNS::Topic"):
        ids = list(resources(template, type_))
        assert len(ids) == (2 * theirs if type_.endswith("GlobalTable") else theirs), ids
        assert all(i.startswith("Their") for i in ids), ids


@pytest.mark.parametrize("name", ["Own", "Imported", "Hardened"])
def test_the_pipeline_on_existing_resources_has_no_unacknowledged_finding(
    brought: Synthesized, name: str
) -> None:
    # The users' own resources are theirs to acknowledge; the pipeline's must have nothing.
    findings = [
        (rule, path)
        for rule, path in brought.violations(*GATING)
        if path.startswith(f"{name}/Pipeline/")
    ]
    assert findings == []


def test_the_functions_use_the_existing_resources(brought: Synthesized) -> None:
    template = _template(brought, "Imported")
    environment = next(
        f["Properties"]["Environment"]["Variables"]
        for f in resources(template, "AWS::Lambda::Function").values()
        if "BUCKET_NAME" in f["Properties"].get("Environment", {}).get("Variables", {})
    )
    assert environment["BUCKET_NAME"] == "their-uploads"
    assert environment["RESULTS_TABLE_NAME"] == "their-results"
    assert environment["JOBS_TABLE_NAME"] == "their-jobs"
    # And the upload notification goes on the existing bucket
    notifications = resources(template, "Custom::S3BucketNotifications")
    assert [n["Properties"]["BucketName"] for n in notifications.values()] == ["their-uploads"]
    # And every alarm goes to the existing topic
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:their-alarms"
    alarms = resources(template, "AWS::CloudWatch::Alarm").values()
    assert alarms and all(a["Properties"]["AlarmActions"] == [topic] for a in alarms)


def test_the_sweeper_may_query_the_indexes_of_an_imported_jobs_table(
    brought: Synthesized,
) -> None:
    # Given a jobs table imported by name, whose grants know of no index
    template = _template(brought, "Imported")
    index_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/their-jobs/index/*"
    statements = [
        s
        for policy in resources(template, "AWS::IAM::Policy").values()
        if "Sweeper" in json.dumps(policy["Properties"]["Roles"])
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    # Then the sweeper's policy names the indexes itself
    assert any(
        "dynamodb:Query" in json.dumps(s["Action"]) and index_arn in json.dumps(s["Resource"])
        for s in statements
    ), statements


def test_imported_resources_are_acknowledged_where_they_are_imported(
    stack: cdk.Stack,
) -> None:
    # Given a pipeline on imported resources (the jobs table a v1 Table), whose configuration
    # it cannot read
    _on_imported(stack, jobs=dynamodb.Table)
    # Then each is named in an info message on the construct that imports it
    infos = Annotations.from_stack(stack).find_info("*", Match.any_value())
    messages = {str(i.entry.data) for i in infos}
    for what in (
        "existing_bucket_obj",
        "existing_results_table_obj",
        "existing_jobs_table_obj",
        "existing_alarm_topic_obj",
    ):
        assert any(m.startswith(f"{what} is imported") for m in messages), (what, messages)


def test_the_error_rate_and_sweep_options_reach_the_template(brought: Synthesized) -> None:
    template = _template(brought, "Own")
    template.has_resource_properties(
        "AWS::Events::Rule", {"ScheduleExpression": "rate(10 minutes)"}
    )
    expressions = {
        name: m["Expression"]
        for name, a in resources(template, "AWS::CloudWatch::Alarm").items()
        for m in a["Properties"].get("Metrics", [])
        if m.get("Expression", "").startswith("IF(")
    }
    assert expressions, "no error-rate alarm"
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    assert {alarms[name]["Properties"]["Threshold"] for name in expressions} == {5}
    # And the minimum applies to every function called by users or events; the scheduled
    # sweeper's rate counts from its first run
    minimums = {name: e.split(" >= ")[1].split(",")[0] for name, e in expressions.items()}
    assert {name for name, m in minimums.items() if m != "50"} == {
        name for name in minimums if "Sweeper" in name
    }, minimums


def test_the_existing_topic_key_lets_the_alarms_publish(brought: Synthesized) -> None:
    template = _template(brought, "Hardened")
    template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [Match.object_like({"Principal": {"Service": "cloudwatch.amazonaws.com"}})]
                )
            }
        },
    )


def test_our_own_tables_have_the_schemas_an_existing_one_is_checked_against(
    stack: cdk.Stack,
) -> None:
    pipeline = _pipeline(stack)
    tables = Template.from_stack(stack).find_resources("AWS::DynamoDB::GlobalTable")
    for schema, table in (
        (RESULTS_TABLE_SCHEMA, pipeline.storage.results_table),
        (JOBS_TABLE_SCHEMA, pipeline.storage.jobs_table),
    ):
        properties = tables[stack.resolve(table.node.default_child.logical_id)]["Properties"]
        assert schema.problems(_camel(properties)) == []


def _camel(value: Any) -> Any:
    """A template's properties as `Stack.resolve` spells them (first letter lower case)."""
    if isinstance(value, dict):
        return {k[0].lower() + k[1:]: _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


# Refusals: each names what is wrong.


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"enforce_ssl": False}, "its policy must deny requests without TLS"),
        (
            {
                "block_public_access": s3.BlockPublicAccess(
                    block_public_acls=True,
                    ignore_public_acls=True,
                    block_public_policy=False,
                    restrict_public_buckets=False,
                )
            },
            r"public access must be fully blocked",
        ),
    ],
)
def test_refuses_a_bucket_it_cannot_keep_its_promises_with(
    stack: cdk.Stack, props: dict[str, Any], message: str
) -> None:
    bucket = _bucket(stack, **props)
    with pytest.raises(
        ValueError, match=rf"^existing_bucket_obj cannot hold the uploads: .*{message}"
    ):
        _pipeline(stack, storage_options=StorageOptions(existing_bucket_obj=bucket))


def test_refuses_an_sse_s3_bucket_in_the_hardened_profile(stack: cdk.Stack) -> None:
    bucket = _bucket(stack, versioned=True)
    with pytest.raises(ValueError, match=r"must be SSE-KMS in the hardened profile"):
        _pipeline(
            stack, profile="hardened", storage_options=StorageOptions(existing_bucket_obj=bucket)
        )


def test_refuses_an_unversioned_bucket_when_versioning_is_on(stack: cdk.Stack) -> None:
    key = kms.Key(stack, "Key")
    bucket = _bucket(stack, encryption=s3.BucketEncryption.KMS, encryption_key=key)
    with pytest.raises(ValueError, match=r"bucket versioning is on, so it must be versioned"):
        _pipeline(
            stack, profile="hardened", storage_options=StorageOptions(existing_bucket_obj=bucket)
        )


def test_refuses_an_imported_bucket_without_its_key_in_the_hardened_profile(
    stack: cdk.Stack,
) -> None:
    bucket = s3.Bucket.from_bucket_name(stack, "Imported", "their-uploads")
    with pytest.raises(ValueError, match=r"import it with its key"):
        _pipeline(
            stack, profile="hardened", storage_options=StorageOptions(existing_bucket_obj=bucket)
        )


def test_refuses_cors_origins_for_an_imported_bucket(stack: cdk.Stack) -> None:
    from financial_pipeline import ApiOptions

    bucket = s3.Bucket.from_bucket_name(stack, "Imported", "their-uploads")
    with pytest.raises(ValueError, match=r"cors_allow_origins needs a CORS rule"):
        _pipeline(
            stack,
            api_options=ApiOptions(cors_allow_origins=["https://app.example.com"]),
            storage_options=StorageOptions(existing_bucket_obj=bucket),
        )


def test_adds_the_cors_rule_to_a_bucket_of_the_app(stack: cdk.Stack) -> None:
    from financial_pipeline import ApiOptions

    _pipeline(
        stack,
        api_options=ApiOptions(cors_allow_origins=["https://app.example.com"]),
        storage_options=StorageOptions(existing_bucket_obj=_bucket(stack)),
    )
    Template.from_stack(stack).has_resource_properties(
        "AWS::S3::Bucket",
        {
            "CorsConfiguration": {
                "CorsRules": [Match.object_like({"AllowedOrigins": ["https://app.example.com"]})]
            }
        },
    )


@pytest.mark.parametrize(
    ("option", "table", "message"),
    [
        (
            "existing_results_table_obj",
            lambda s: _results(s, sort_key=dynamodb.Attribute(name="time", type=S)),
            r"key schema must be hash 'symbol' \(S\), range 'timestamp' \(S\) "
            r"\(got hash 'symbol' \(S\), range 'time' \(S\)\)",
        ),
        (
            "existing_results_table_obj",
            lambda s: _results(
                s, sort_key=dynamodb.Attribute(name="timestamp", type=dynamodb.AttributeType.NUMBER)
            ),
            r"range 'timestamp' \(N\)",
        ),
        (
            "existing_jobs_table_obj",
            lambda s: _jobs(s, time_to_live_attribute="expiresAt"),
            r"time to live must be on attribute 'ttl'",
        ),
        (
            "existing_jobs_table_obj",
            lambda s: _jobs(s, global_secondary_indexes=[_index("ByStatus", "status")]),
            r"global secondary index 'ByPendingEvent' is missing",
        ),
        (
            "existing_jobs_table_obj",
            lambda s: _jobs(
                s,
                global_secondary_indexes=[
                    _index("ByStatus", "state"),
                    _index("ByPendingEvent", "eventPending"),
                ],
            ),
            r"index 'ByStatus' must be hash 'status' \(S\)",
        ),
    ],
)
def test_refuses_a_table_that_is_not_the_pipelines(
    stack: cdk.Stack, option: str, table: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=rf"^{option} is not the pipeline's table: .*{message}"):
        _pipeline(stack, storage_options=StorageOptions(**{option: table(stack)}))


def test_refuses_a_table_without_its_key_in_the_hardened_profile(stack: cdk.Stack) -> None:
    table = dynamodb.TableV2.from_table_name(stack, "Imported", "their-jobs")
    with pytest.raises(ValueError, match=r"existing_jobs_table_obj must be encrypted with a"):
        _pipeline(
            stack, profile="hardened", storage_options=StorageOptions(existing_jobs_table_obj=table)
        )


def test_refuses_an_unencrypted_topic_in_the_hardened_profile(stack: cdk.Stack) -> None:
    topic = sns.Topic(stack, "Plain")
    with pytest.raises(ValueError, match=r"existing_alarm_topic_obj must be encrypted"):
        _pipeline(
            stack,
            profile="hardened",
            observability_options=ObservabilityOptions(existing_alarm_topic_obj=topic),
        )


@pytest.mark.parametrize(
    ("props", "message"),
    [
        (
            {"bucket_props": {"versioned": True}},
            "existing_bucket_obj and bucket_props are exclusive",
        ),
        (
            {"results_table_warm_throughput": dynamodb.WarmThroughput(write_units_per_second=5000)},
            "existing_results_table_obj and results_table_warm_throughput are exclusive",
        ),
    ],
)
def test_refuses_props_for_a_resource_it_is_given(
    stack: cdk.Stack, props: dict[str, Any], message: str
) -> None:
    existing = (
        {"existing_bucket_obj": _bucket(stack)}
        if "bucket_props" in props
        else {"existing_results_table_obj": _results(stack)}
    )
    with pytest.raises(ValueError, match=message):
        StorageOptions(**existing, **props)


def test_a_bucket_of_another_stack_is_used_by_name(tmp_path: Path) -> None:
    # Given a bucket defined in another stack of the app, imported by name there
    app = cdk.App(outdir=str(tmp_path), context=cdk_context())
    env = cdk.Environment(account=ACCOUNT, region=REGION)
    shared = cdk.Stack(app, "Shared", env=env)
    bucket = _bucket(shared, bucket_name="their-shared-uploads")
    consumer = cdk.Stack(app, "Consumer", env=env)
    _pipeline(
        consumer,
        storage_options=StorageOptions(
            existing_bucket_obj=s3.Bucket.from_bucket_name(consumer, "Shared", bucket.bucket_name)
        ),
    )
    # Then the app synthesizes without a cycle between the two stacks
    assembly = app.synth()
    assert {s.stack_name for s in assembly.stacks} == {"Shared", "Consumer"}
