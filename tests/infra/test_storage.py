"""Storage: the upload bucket, the log bucket and the two tables (R8, R10, R11)."""

from __future__ import annotations

from aws_cdk.assertions import Match, Template

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


def test_r10_lifecycle_expires_processed_files_after_30_days_and_never_incoming(
    prod: Template,
) -> None:
    # Given the upload bucket's lifecycle rules
    rules = _upload_bucket(prod)["Properties"]["LifecycleConfiguration"]["Rules"]

    # When indexed by prefix
    by_prefix = {rule.get("Prefix"): rule for rule in rules}

    # Then processed/ expires after 30 days, reports/ with their job, incoming/ never
    assert by_prefix["processed/"]["ExpirationInDays"] == 30
    assert by_prefix["processed/"]["Status"] == "Enabled"
    assert by_prefix["reports/"]["ExpirationInDays"] == 30
    assert "incoming/" not in by_prefix
    assert by_prefix[None]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert all("ExpirationInDays" not in r for r in rules if r.get("Prefix") is None)


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


def test_jobs_table_has_ttl_pitr_and_by_status_index(prod: Template) -> None:
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
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            "Replicas": [
                Match.object_like(
                    {"PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}}
                )
            ],
        },
    )


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
