"""Storage: the upload bucket, the log bucket and the two tables (R8, R10, R11)."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk.assertions import Match, Template

from financial_pipeline import FinancialPipeline, LambdaOptions
from financial_pipeline._defaults import (
    INCOMING_SAFETY_EXPIRATION_DAYS,
    MAX_UPLOAD_URL_TTL_DAYS,
    QUARANTINE_EXPIRATION_DAYS,
)
from financial_pipeline.contract import QUARANTINE_PREFIX

from .conftest import logical_id, resources


def _upload_bucket(template: Template) -> dict:
    return resources(template, "AWS::S3::Bucket")[
        logical_id(template, "AWS::S3::Bucket", "UploadBucket")
    ]


def test_r8_upload_bucket_uses_sse_s3_and_blocks_public_access(prod: Template) -> None:
    # Given the prod stack / When synthesized / Then
    prod.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "LoggingConfiguration": Match.object_like({"LogFilePrefix": "upload-bucket/"}),
        },
    )


def test_r8_every_bucket_policy_denies_insecure_transport(prod: Template) -> None:
    # Given the buckets of the prod stack
    buckets = resources(prod, "AWS::S3::Bucket")
    policies = resources(prod, "AWS::S3::BucketPolicy")

    # When the policies are grouped by the bucket they protect
    protected = set()
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        if any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements
        ):
            protected.add(policy["Properties"]["Bucket"]["Ref"])

    # Then every bucket has a TLS-only policy
    assert protected == set(buckets)


def test_r8_access_logs_go_to_a_separate_encrypted_bucket(prod: Template) -> None:
    # Given the two buckets
    log_bucket = logical_id(prod, "AWS::S3::Bucket", "AccessLogBucket")

    # Then the upload bucket logs into the log bucket, which is encrypted and private too
    assert _upload_bucket(prod)["Properties"]["LoggingConfiguration"]["DestinationBucketName"] == {
        "Ref": log_bucket
    }
    log = resources(prod, "AWS::S3::Bucket")[log_bucket]["Properties"]
    assert log["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ] == {"SSEAlgorithm": "AES256"}
    assert log["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True


def _lifecycle_by_id(template: Template) -> dict[str, dict[str, Any]]:
    rules = _upload_bucket(template)["Properties"]["LifecycleConfiguration"]["Rules"]
    return {rule["Id"]: rule for rule in rules}


def test_r10_lifecycle_expires_processed_files_after_30_days(prod: Template) -> None:
    # Given the upload bucket's lifecycle rules
    rules = _lifecycle_by_id(prod)

    # When the rules that delete files are read
    processed = rules["ExpireProcessedFiles"]
    reports = rules["ExpireReports"]

    # Then processed/ expires after 30 days and reports/ with their job (30 days)
    assert processed["Prefix"] == "processed/"
    assert processed["ExpirationInDays"] == 30
    assert processed["Status"] == "Enabled"
    assert reports["Prefix"] == "reports/"
    assert reports["ExpirationInDays"] == 30


def test_r10_incoming_expiry_is_only_a_safety_net_past_upload_expiry_and_processing(
    prod: Template,
) -> None:
    # Given the rules that match incoming/ (the original sketch expired it instead of processed/)
    incoming = [
        rule
        for rule in _lifecycle_by_id(prod).values()
        if "ExpirationInDays" in rule and "incoming/".startswith(rule.get("Prefix", ""))
    ]

    # When the one rule is taken
    (rule,) = incoming

    # Then it is the 14-day safety net: later than the longest upload URL (7 days) plus a day
    # for processing and re-drives, and shorter-lived rules never touch incoming/
    assert rule["Id"] == "ExpireAbandonedUploads"
    assert rule["Prefix"] == "incoming/"
    assert rule["ExpirationInDays"] == INCOMING_SAFETY_EXPIRATION_DAYS == 14
    assert rule["ExpirationInDays"] > MAX_UPLOAD_URL_TTL_DAYS + 1


def test_r10_incomplete_multipart_uploads_are_aborted_after_1_day(prod: Template) -> None:
    # Given the bucket-wide rule (the rejection report is a multipart upload)
    rule = _lifecycle_by_id(prod)["AbortIncompleteMultipartUploads"]

    # When / Then it aborts leftover parts after a day and deletes no object
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert "Prefix" not in rule
    assert "ExpirationInDays" not in rule


def test_quarantined_files_are_kept_30_days_for_inspection(prod: Template) -> None:
    # Given the rule for files no job processed (moved to quarantine/, never deleted outright)
    rule = _lifecycle_by_id(prod)["ExpireQuarantinedFiles"]
    # Then they are deleted after 30 days, and only under quarantine/
    assert rule["Prefix"] == "quarantine/" == QUARANTINE_PREFIX
    assert rule["ExpirationInDays"] == QUARANTINE_EXPIRATION_DAYS == 30
    assert rule["Status"] == "Enabled"


def test_upload_bucket_is_not_versioned_by_design(prod: Template) -> None:
    # Given / When / Then: versioning would keep copies that defeat R10 (see Storage)
    assert "VersioningConfiguration" not in _upload_bucket(prod)["Properties"]


def test_r11_results_table_keys_billing_pitr_and_contributor_insights(prod: Template) -> None:
    # Given the prod stack / Then the results table is symbol/timestamp, on demand, PITR, CCI
    prod.has_resource_properties(
        "AWS::DynamoDB::GlobalTable",
        {
            "KeySchema": [
                {"AttributeName": "symbol", "KeyType": "HASH"},
                {"AttributeName": "timestamp", "KeyType": "RANGE"},
            ],
            "AttributeDefinitions": Match.array_with(
                [
                    {"AttributeName": "symbol", "AttributeType": "S"},
                    {"AttributeName": "timestamp", "AttributeType": "S"},
                ]
            ),
            "BillingMode": "PAY_PER_REQUEST",
            "Replicas": [
                Match.object_like(
                    {
                        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                        "ContributorInsightsSpecification": {"Enabled": True},
                        "DeletionProtectionEnabled": True,
                    }
                )
            ],
        },
    )


def test_jobs_table_has_ttl_pitr_and_keys_only_indexes(prod: Template) -> None:
    # Given the prod stack / Then the jobs table matches the contract in ARCHITECTURE.md
    prod.has_resource_properties(
        "AWS::DynamoDB::GlobalTable",
        {
            "KeySchema": [{"AttributeName": "jobId", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
            "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": True},
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "ByStatus",
                    "KeySchema": [
                        {"AttributeName": "status", "KeyType": "HASH"},
                        {"AttributeName": "updatedAt", "KeyType": "RANGE"},
                    ],
                    # keys only: the sweeper re-reads each job it finds
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                },
                {
                    # R27: final jobs whose event is still owed (test_job_events.py)
                    "IndexName": "ByPendingEvent",
                    "KeySchema": [
                        {"AttributeName": "eventPending", "KeyType": "HASH"},
                        {"AttributeName": "updatedAt", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                },
            ],
            "Replicas": [
                Match.object_like(
                    {"PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}}
                )
            ],
        },
    )


def test_dev_empties_both_buckets_so_that_cdk_destroy_can_delete_them(dev: Template) -> None:
    # Given dev (removalPolicy destroy): a bucket that holds objects cannot be deleted, and the
    # access-log bucket always holds some
    buckets = resources(dev, "AWS::S3::Bucket")
    emptied = {
        r["Properties"]["BucketName"]["Ref"]
        for r in resources(dev, "Custom::S3AutoDeleteObjects").values()
    }
    # Then each bucket is emptied by CDK's auto-delete custom resource before deletion
    assert emptied == set(buckets)
    assert {"Key": "aws-cdk:auto-delete-objects", "Value": "true"} in _upload_bucket(dev)[
        "Properties"
    ]["Tags"]


def test_prod_never_empties_a_bucket(prod: Template) -> None:
    # Given prod (removalPolicy retain) / Then no custom resource may delete objects
    assert resources(prod, "Custom::S3AutoDeleteObjects") == {}


def test_prod_retains_data_and_dev_destroys_it(prod: Template, dev: Template) -> None:
    # Given prod (removalPolicy retain) and dev (destroy)
    # Then the tables and buckets follow the environment's removal policy
    for type_ in ("AWS::DynamoDB::GlobalTable", "AWS::S3::Bucket"):
        prod.all_resources(type_, {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"})
        dev.all_resources(type_, {"DeletionPolicy": "Delete"})


def test_dev_bucket_allows_browser_presigned_post_from_its_origin(dev: Template) -> None:
    # Given dev lists a browser origin / Then the upload bucket has a POST-only CORS rule
    dev.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "CorsConfiguration": {
                "CorsRules": [
                    Match.object_like(
                        {
                            "AllowedMethods": ["POST"],
                            "AllowedOrigins": ["http://localhost:3000"],
                        }
                    )
                ]
            }
        },
    )


def _table(template: Template, fragment: str) -> dict[str, Any]:
    tables = resources(template, "AWS::DynamoDB::GlobalTable")
    properties: dict[str, Any] = tables[
        logical_id(template, "AWS::DynamoDB::GlobalTable", fragment)
    ]["Properties"]
    return properties


def test_r21_prod_results_table_is_prewarmed_for_write_bursts(prod: Template) -> None:
    # Given prod's resultsWarmWriteUnitsPerSecond in cdk.json
    # When the tables are read / Then only the results table is warm, for writes only
    assert _table(prod, "ResultsTable")["WarmThroughput"] == {"WriteUnitsPerSecond": 10000}
    assert "WarmThroughput" not in _table(prod, "JobsTable")


def test_results_table_warm_throughput_is_unset_by_default(dev: Template) -> None:
    # Given dev, which sets no warm throughput / Then DynamoDB's default applies
    assert "WarmThroughput" not in _table(dev, "ResultsTable")


def test_results_table_warm_throughput_prop_reaches_the_table(stack: cdk.Stack) -> None:
    # Given a pipeline with read and write warm throughput
    warm = dynamodb.WarmThroughput(read_units_per_second=15000, write_units_per_second=8000)
    FinancialPipeline(
        stack,
        "Pipeline",
        environment_name="dev",
        lambda_options=LambdaOptions(bundle_dependencies=False),
        results_table_warm_throughput=warm,
    )

    # When synthesized
    template = Template.from_stack(stack)

    # Then the results table carries both values
    assert _table(template, "ResultsTable")["WarmThroughput"] == {
        "ReadUnitsPerSecond": 15000,
        "WriteUnitsPerSecond": 8000,
    }


@pytest.mark.parametrize(
    ("warm", "message"),
    [
        (dynamodb.WarmThroughput(write_units_per_second=0), r"write_units_per_second .* \(got 0\)"),
        (dynamodb.WarmThroughput(read_units_per_second=-5), r"read_units_per_second .* \(got -5\)"),
        (dynamodb.WarmThroughput(), "got neither"),
    ],
)
def test_fails_on_non_positive_results_table_warm_throughput(
    stack: cdk.Stack, warm: dynamodb.WarmThroughput, message: str
) -> None:
    # Given warm throughput with a non-positive or no value / When built / Then refused
    with pytest.raises(ValueError, match=message):
        FinancialPipeline(
            stack,
            "Pipeline",
            environment_name="dev",
            lambda_options=LambdaOptions(bundle_dependencies=False),
            results_table_warm_throughput=warm,
        )
