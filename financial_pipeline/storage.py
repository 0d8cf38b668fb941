"""Storage: the upload bucket, its access-log bucket, the results table and the jobs table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from financial_pipeline._defaults import (
    ACCESS_LOG_EXPIRATION_DAYS,
    BUCKET_DEFAULTS,
    BUCKET_REQUIRED,
    DEFAULT_JOB_TTL_DAYS,
    INCOMING_SAFETY_EXPIRATION_DAYS,
    MULTIPART_ABORT_DAYS,
    PROCESSED_EXPIRATION_DAYS,
    merge_props,
)

__all__ = [
    "INCOMING_PREFIX",
    "JOBS_STATUS_INDEX",
    "PROCESSED_PREFIX",
    "REPORTS_PREFIX",
    "Storage",
]

INCOMING_PREFIX: Final = "incoming/"
PROCESSED_PREFIX: Final = "processed/"
REPORTS_PREFIX: Final = "reports/"
JOBS_STATUS_INDEX: Final = "ByStatus"


class Storage(Construct):
    """Where uploads, job state and results live.

    Versioning of the upload bucket is off, deliberately: every object is transient (a file
    moves from ``incoming/`` to ``processed/`` and is deleted after 30 days, R10), the durable
    record of a job is the jobs table, and versioning would keep a noncurrent copy of every
    move and delete, defeating R10 unless yet another rule expired noncurrent versions. Users
    who need object-level recovery can pass ``bucket_props={"versioned": True}``.

    Attributes:
        bucket: the upload bucket (``incoming/``, ``processed/``, ``reports/``).
        access_log_bucket: receives the upload bucket's server access logs.
        results_table: one item per accepted row, keyed ``symbol`` / ``timestamp`` (R11).
        jobs_table: one item per job, keyed ``jobId``, TTL ``ttl``, index ``ByStatus``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        job_ttl_days: int = DEFAULT_JOB_TTL_DAYS,
        cors_allow_origins: Sequence[str] = (),
        bucket_props: Mapping[str, Any] | None = None,
        results_table_warm_throughput: dynamodb.WarmThroughput | None = None,
    ) -> None:
        """Create the storage.

        Args:
            removal_policy: for buckets and tables; default RETAIN. With RETAIN the tables
                also get deletion protection.
            job_ttl_days: rejection reports are kept as long as their job; default 30.
            cors_allow_origins: browser origins allowed to send the presigned POST; default
                none (no CORS rule on the bucket).
            bucket_props: extra ``s3.Bucket`` props for the upload bucket; encryption, public
                access and TLS settings cannot be overridden. Default none.
            results_table_warm_throughput: read and/or write units per second the results
                table serves instantly (DynamoDB warm throughput). An on-demand table starts
                at 4,000 writes/s and 12,000 reads/s and only scales up as traffic grows, so a
                burst of files written at once (or one large file right after deployment) is
                throttled while it scales; pre-warming to the expected peak avoids that. It
                cannot lift the 1,000 writes/s limit of one partition (one symbol), and
                raising it is billed once. Values must be positive; values at or below the
                on-demand starting point buy nothing. Default: unset (DynamoDB's default).
        """
        super().__init__(scope, construct_id)
        _validate_warm_throughput(results_table_warm_throughput)
        # Log delivery is granted by bucket policy, never by ACL: the buckets enforce bucket
        # owner object ownership, which disables ACLs. Pinned here so that apps without this
        # feature flag in their cdk.json get the same buckets.
        self.node.set_context("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy", True)

        self.access_log_bucket = s3.Bucket(
            self,
            "AccessLogBucket",
            **merge_props(
                BUCKET_DEFAULTS,
                None,
                BUCKET_REQUIRED,
                what="access log bucket props",
            ),
            removal_policy=removal_policy,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireAccessLogs", expiration=Duration.days(ACCESS_LOG_EXPIRATION_DAYS)
                )
            ],
        )

        cors = (
            [
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods.POST],
                    allowed_origins=list(cors_allow_origins),
                    allowed_headers=["*"],
                    max_age=3000,
                )
            ]
            if cors_allow_origins
            else None
        )
        self.bucket = s3.Bucket(
            self,
            "UploadBucket",
            **merge_props(
                {**BUCKET_DEFAULTS, "removal_policy": removal_policy, "cors": cors},
                bucket_props,
                {
                    **BUCKET_REQUIRED,
                    "server_access_logs_bucket": self.access_log_bucket,
                    "server_access_logs_prefix": "upload-bucket/",
                    "lifecycle_rules": _lifecycle_rules(job_ttl_days),
                },
                what="bucket_props",
            ),
        )

        deletion_protection = removal_policy == RemovalPolicy.RETAIN
        self.results_table = dynamodb.TableV2(
            self,
            "ResultsTable",
            partition_key=dynamodb.Attribute(name="symbol", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="timestamp", type=dynamodb.AttributeType.STRING),
            billing=dynamodb.Billing.on_demand(),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            contributor_insights_specification=dynamodb.ContributorInsightsSpecification(
                enabled=True
            ),
            deletion_protection=deletion_protection,
            removal_policy=removal_policy,
            warm_throughput=results_table_warm_throughput,
        )

        self.jobs_table = dynamodb.TableV2(
            self,
            "JobsTable",
            partition_key=dynamodb.Attribute(name="jobId", type=dynamodb.AttributeType.STRING),
            billing=dynamodb.Billing.on_demand(),
            time_to_live_attribute="ttl",
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            global_secondary_indexes=[
                dynamodb.GlobalSecondaryIndexPropsV2(
                    index_name=JOBS_STATUS_INDEX,
                    partition_key=dynamodb.Attribute(
                        name="status", type=dynamodb.AttributeType.STRING
                    ),
                    sort_key=dynamodb.Attribute(
                        name="updatedAt", type=dynamodb.AttributeType.STRING
                    ),
                    # The sweeper only takes the job id from the index and re-reads the job
                    # with a consistent read before acting, so the index holds keys only.
                    projection_type=dynamodb.ProjectionType.KEYS_ONLY,
                )
            ],
            deletion_protection=deletion_protection,
            removal_policy=removal_policy,
        )

    def grant_objects(self, grantee: iam.IGrantable, prefix: str, *actions: str) -> iam.Grant:
        """Grant object-level ``actions`` on the upload bucket's ``prefix`` only.

        ``bucket.grant_read`` and ``grant_put`` also hand out bucket-level listing and
        ``s3:*Object*`` wildcards; the functions need exactly one or two object actions.
        """
        if not actions or any(not a.startswith("s3:") or "*" in a for a in actions):
            raise ValueError(f"actions must be explicit s3 actions (got {actions!r})")
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=list(actions),
            resource_arns=[self.bucket.arn_for_objects(f"{prefix}*")],
        )

    def grant_key_lookup(self, grantee: iam.IGrantable) -> iam.Grant:
        """Grant ``s3:ListBucket`` on the upload bucket, so that HeadObject of a missing key
        answers 404 rather than 403 and "not uploaded (yet)" can be told from "forbidden"."""
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=["s3:ListBucket"], resource_arns=[self.bucket.bucket_arn]
        )


def _validate_warm_throughput(warm: dynamodb.WarmThroughput | None) -> None:
    if warm is None:
        return
    values = {
        "read_units_per_second": warm.read_units_per_second,
        "write_units_per_second": warm.write_units_per_second,
    }
    if all(value is None for value in values.values()):
        raise ValueError(
            "results_table_warm_throughput needs read_units_per_second or "
            "write_units_per_second (got neither)"
        )
    for name, value in values.items():
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ValueError(
                f"results_table_warm_throughput {name} must be a positive integer (got {value!r})"
            )


def _lifecycle_rules(job_ttl_days: int) -> list[s3.LifecycleRule]:
    return [
        # R10: a file moves to processed/ when its job ends and is deleted 30 days later.
        s3.LifecycleRule(
            id="ExpireProcessedFiles",
            prefix=PROCESSED_PREFIX,
            expiration=Duration.days(PROCESSED_EXPIRATION_DAYS),
        ),
        # A rejection report lives as long as its job.
        s3.LifecycleRule(
            id="ExpireReports",
            prefix=REPORTS_PREFIX,
            expiration=Duration.days(job_ttl_days),
        ),
        # A safety net, not the way files leave incoming/: the processor and the sweeper move
        # every file of an ended job to processed/. A file can still be left behind (its job
        # expired after a re-drive that never claimed it, or the sweeper's move failed). The
        # longest a file legitimately waits is a lost notification: the sweeper finds it only
        # once the job's upload URL has expired (at most 7 days after the upload started),
        # then processing takes at most hours (3 attempts, events kept 6 hours). 14 days is
        # well past that, so no file that can still be processed is ever deleted here.
        s3.LifecycleRule(
            id="ExpireAbandonedUploads",
            prefix=INCOMING_PREFIX,
            expiration=Duration.days(INCOMING_SAFETY_EXPIRATION_DAYS),
        ),
        # The rejection report is a multipart upload; a crashed processor leaves its parts.
        s3.LifecycleRule(
            id="AbortIncompleteMultipartUploads",
            abort_incomplete_multipart_upload_after=Duration.days(MULTIPART_ABORT_DAYS),
        ),
    ]
