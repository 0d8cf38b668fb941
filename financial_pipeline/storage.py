"""Storage: the upload bucket, its access-log bucket, the results table and the jobs table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from financial_pipeline._defaults import (
    ACCESS_LOG_EXPIRATION_DAYS,
    BUCKET_DEFAULTS,
    BUCKET_REQUIRED,
    DEFAULT_JOB_TTL_DAYS,
    INCOMING_SAFETY_EXPIRATION_DAYS,
    METRIC_PERIOD,
    MULTIPART_ABORT_DAYS,
    NONCURRENT_VERSION_EXPIRATION_DAYS,
    PROCESSED_EXPIRATION_DAYS,
    QUARANTINE_EXPIRATION_DAYS,
    SPLIT_EXPIRATION_DAYS,
    merge_props,
    props_dict,
)
from financial_pipeline.contract import (
    EVENT_PENDING_ATTRIBUTE,
    INCOMING_PREFIX,
    JOBS_EVENT_INDEX,
    JOBS_STATUS_INDEX,
    PROCESSED_PREFIX,
    QUARANTINE_PREFIX,
    REPORTS_PREFIX,
    SPLIT_PREFIX,
)
from financial_pipeline.existing import KeySchema, check_bucket, check_exclusive, check_table
from financial_pipeline.function import identity_policy
from financial_pipeline.nag import acknowledge, compliance, finding_resource

__all__ = ["Storage"]

# What S3 asks of the caller's KMS permissions for each object action on an SSE-KMS bucket:
# reading decrypts the data key, writing generates one (S3 also decrypts it to finish a
# multipart upload, which the rejection report is).
_KEY_ACTIONS = {
    "s3:GetObject": ("kms:Decrypt",),
    "s3:PutObject": ("kms:GenerateDataKey",),
}
_JOBS_INDEXES = (JOBS_STATUS_INDEX, JOBS_EVENT_INDEX)
# What the functions read of the tables; a table the user brings is checked against it.
RESULTS_TABLE_SCHEMA = KeySchema(partition_key="symbol", sort_key="timestamp")
JOBS_TABLE_SCHEMA = KeySchema(
    partition_key="jobId",
    ttl_attribute="ttl",
    indexes={
        JOBS_STATUS_INDEX: ("status", "updatedAt"),
        JOBS_EVENT_INDEX: (EVENT_PENDING_ATTRIBUTE, "updatedAt"),
    },
)
_REPLICATION = (
    "Cross-region replication is a disaster-recovery decision of the account owner (a second "
    "region, its key and its residency rules); objects here are transient and the durable "
    "record is the jobs table, which has point-in-time recovery."
)


class Storage(Construct):
    """Where uploads, job state and results live.

    Versioning of the upload bucket is off by default, deliberately: every object is
    transient (a file moves from ``incoming/`` to ``processed/`` and is deleted after 30 days),
    the durable record of a job is the jobs table, and versioning would keep a noncurrent
    copy of every move and delete, defeating that expiry unless yet another rule expired
    noncurrent versions. ``versioned=True`` (the hardened profile) turns it on for both
    buckets with that rule: noncurrent versions are deleted after 30 days. Whatever else
    versions the upload bucket (``bucket_props`` with ``versioned`` or Object Lock, which S3
    versions too) gets the same rule.

    With ``encryption_key`` the upload bucket is SSE-KMS with an S3 bucket key and both
    tables use the key; the grants below then carry the key permissions their S3 actions
    need. The access-log bucket stays SSE-S3: S3 server access logging cannot deliver to a
    bucket whose default encryption is SSE-KMS.

    Access goes through the intent-named ``grant_*`` methods, which grant one prefix's object
    actions and acknowledge the prefix wildcard they cause; alarms and dashboards read the
    ``metric_*`` methods.

    Attributes:
        bucket: the upload bucket (``incoming/``, ``processed/``, ``reports/``,
            ``quarantine/``, and ``split/`` for the intermediate objects of large files).
        access_log_bucket: receives the upload bucket's server access logs.
        results_table: one item per accepted row, keyed ``symbol`` / ``timestamp``.
        jobs_table: one item per job, keyed ``jobId``, TTL ``ttl``; keys-only indexes
            ``ByStatus`` (the sweeper's work list) and the sparse ``ByPendingEvent`` (final
            jobs whose event is not yet published).
        encryption_key: the customer-managed key of the bucket and tables, or None.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        job_ttl_days: int = DEFAULT_JOB_TTL_DAYS,
        cors_allow_origins: Sequence[str] = (),
        bucket_props: Mapping[str, Any] | s3.BucketProps | None = None,
        results_table_warm_throughput: dynamodb.WarmThroughput | None = None,
        encryption_key: kms.IKey | None = None,
        versioned: bool = False,
        existing_bucket_obj: s3.IBucket | None = None,
        existing_results_table_obj: dynamodb.ITable | None = None,
        existing_jobs_table_obj: dynamodb.ITable | None = None,
    ) -> None:
        """Create the storage.

        Args:
            removal_policy: for buckets and tables; default RETAIN. With RETAIN the tables
                also get deletion protection; with DESTROY both buckets are emptied when the
                stack is deleted (CDK's ``auto_delete_objects``), since a bucket that still
                holds objects cannot be deleted and the access-log bucket always does.
            job_ttl_days: rejection reports are kept as long as their job; default 30.
            cors_allow_origins: browser origins allowed to send the presigned POST; default
                none (no CORS rule on the bucket).
            bucket_props: extra ``s3.Bucket`` props for the upload bucket, a mapping or an
                ``s3.BucketProps``; encryption, public access and TLS settings cannot be
                overridden, and the lifecycle rules are the construct's. Turning versioning
                on here (``versioned`` or ``object_lock_enabled``) also adds the noncurrent
                version expiry. Default none.
            results_table_warm_throughput: read and/or write units per second the results
                table serves instantly (DynamoDB warm throughput). An on-demand table starts
                at 4,000 writes/s and 12,000 reads/s and only scales up as traffic grows, so a
                burst of files written at once (or one large file right after deployment) is
                throttled while it scales; pre-warming to the expected peak avoids that. It
                cannot lift the 1,000 writes/s limit of one partition (one symbol), and
                raising it is billed once. Values must be positive; values at or below the
                on-demand starting point buy nothing. Default: unset (DynamoDB's default).
            encryption_key: customer-managed key of the upload bucket (SSE-KMS, bucket key)
                and both tables; default none (SSE-S3, and DynamoDB's AWS-owned key).
            versioned: version both buckets and expire noncurrent versions after 30 days;
                default False. ``bucket_props`` cannot then turn versioning off.
            existing_bucket_obj: an upload bucket of the user's instead of a new one (then no
                access-log bucket either); exclusive with ``bucket_props``. It must be
                encrypted (SSE-KMS with its key given, with ``encryption_key``), block all
                public access and deny plain HTTP, and be versioned when ``versioned``:
                checked for a bucket of this app, the owner's to guarantee for an imported
                one, as are the lifecycle rules of its prefixes (README). The pipeline adds
                the object-created notification to it and grants on it; nothing else.
            existing_results_table_obj: a results table of the user's: partition key
                ``symbol``, sort key ``timestamp``, both strings; exclusive with
                ``results_table_warm_throughput``.
            existing_jobs_table_obj: a jobs table of the user's: partition key ``jobId``
                (string), time to live on ``ttl``, and the indexes ``ByStatus`` (``status``,
                ``updatedAt``) and ``ByPendingEvent`` (``eventPending``, ``updatedAt``), all
                strings.
                A table of this app is checked; an imported one is its owner's to guarantee.
                With ``encryption_key`` an existing table must be under a customer-managed key
                it names as its ``encryption_key``.
        """
        super().__init__(scope, construct_id)
        _validate_warm_throughput(results_table_warm_throughput)
        check_exclusive(
            existing_bucket_obj=existing_bucket_obj,
            bucket_props=bucket_props,
            existing_results_table_obj=existing_results_table_obj,
            results_table_warm_throughput=results_table_warm_throughput,
        )
        hardened = encryption_key is not None
        if existing_bucket_obj is not None:
            check_bucket(
                self, existing_bucket_obj, customer_managed_key=hardened, versioned=versioned
            )
            if cors_allow_origins and not isinstance(existing_bucket_obj, s3.Bucket):
                raise ValueError(
                    "cors_allow_origins needs a CORS rule on the upload bucket, which an "
                    "imported existing_bucket_obj cannot be given: add it to the bucket and "
                    "leave cors_allow_origins unset"
                )
        for what, table, schema in (
            ("existing_results_table_obj", existing_results_table_obj, RESULTS_TABLE_SCHEMA),
            ("existing_jobs_table_obj", existing_jobs_table_obj, JOBS_TABLE_SCHEMA),
        ):
            if table is not None:
                check_table(self, table, what=what, schema=schema, customer_managed_key=hardened)
        # Log delivery is granted by bucket policy, never by ACL: the buckets enforce bucket
        # owner object ownership, which disables ACLs. Pinned here so that apps without this
        # feature flag in their cdk.json get the same buckets.
        self.node.set_context("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy", True)
        self._acknowledged: set[tuple[str, str]] = set()
        self.encryption_key = encryption_key
        self.access_log_bucket: s3.IBucket | None = None
        self.bucket: s3.IBucket
        if existing_bucket_obj is not None:
            # The owner's bucket: its encryption, public access and TLS were checked above
            # (or are the owner's to guarantee); its lifecycle and access logs are the owner's.
            self.bucket = existing_bucket_obj
            if cors_allow_origins:
                assert isinstance(existing_bucket_obj, s3.Bucket)
                existing_bucket_obj.add_cors_rule(**_cors_rule(cors_allow_origins))
        else:
            self._new_buckets(
                removal_policy=removal_policy,
                job_ttl_days=job_ttl_days,
                cors_allow_origins=cors_allow_origins,
                bucket_props=bucket_props,
                versioned=versioned,
            )
        table_encryption = (
            dynamodb.TableEncryptionV2.customer_managed_key(encryption_key)
            if encryption_key is not None
            else None
        )
        deletion_protection = removal_policy == RemovalPolicy.RETAIN
        self.results_table: dynamodb.ITable = existing_results_table_obj or dynamodb.TableV2(
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
            encryption=table_encryption,
        )
        self.jobs_table: dynamodb.ITable = existing_jobs_table_obj or dynamodb.TableV2(
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
                ),
                # Sparse: only a final job whose event is not yet published carries the
                # attribute, so the index holds exactly the sweeper's outbox (R27) and costs
                # nothing once every event is out.
                dynamodb.GlobalSecondaryIndexPropsV2(
                    index_name=JOBS_EVENT_INDEX,
                    partition_key=dynamodb.Attribute(
                        name=EVENT_PENDING_ATTRIBUTE, type=dynamodb.AttributeType.STRING
                    ),
                    sort_key=dynamodb.Attribute(
                        name="updatedAt", type=dynamodb.AttributeType.STRING
                    ),
                    projection_type=dynamodb.ProjectionType.KEYS_ONLY,
                ),
            ],
            deletion_protection=deletion_protection,
            removal_policy=removal_policy,
            encryption=table_encryption,
        )

    def _new_buckets(
        self,
        *,
        removal_policy: RemovalPolicy,
        job_ttl_days: int,
        cors_allow_origins: Sequence[str],
        bucket_props: Mapping[str, Any] | s3.BucketProps | None,
        versioned: bool,
    ) -> None:
        """The upload bucket and its access-log bucket."""
        # A bucket that holds objects cannot be deleted, and the access-log bucket always does:
        # with DESTROY, CDK's auto-delete custom resource empties both first. Its provider is
        # made of plain CfnResources, which cdk-nag's rules (they match L1 classes) do not
        # inspect, so it has no finding to acknowledge; the dev stack's nag test proves it.
        destroy = removal_policy == RemovalPolicy.DESTROY
        versioning: dict[str, Any] = {"versioned": True} if versioned else {}
        self.access_log_bucket = s3.Bucket(
            self,
            "AccessLogBucket",
            **merge_props(
                BUCKET_DEFAULTS,
                None,
                {**BUCKET_REQUIRED, **versioning},
                what="access log bucket props",
            ),
            removal_policy=removal_policy,
            auto_delete_objects=destroy,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireAccessLogs", expiration=Duration.days(ACCESS_LOG_EXPIRATION_DAYS)
                ),
                *(_noncurrent_rules() if versioned else ()),
            ],
        )
        acknowledge(
            self.access_log_bucket,
            ["AwsSolutions-S1", *compliance("S3BucketLoggingEnabled")],
            "This is the server access log bucket; logging it into itself would loop.",
        )
        acknowledge(
            self.access_log_bucket,
            compliance("S3DefaultEncryptionKMS"),
            "S3 server access logging delivers only to buckets whose default encryption is "
            "SSE-S3; SSE-KMS destinations are not supported, so this bucket stays AES256.",
        )
        acknowledge(self.access_log_bucket, compliance("S3BucketReplicationEnabled"), _REPLICATION)

        cors = [s3.CorsRule(**_cors_rule(cors_allow_origins))] if cors_allow_origins else None
        encryption: dict[str, Any] = (
            {
                "encryption": s3.BucketEncryption.KMS,
                "encryption_key": self.encryption_key,
                # One data key per bucket rather than per object: far fewer KMS calls.
                "bucket_key_enabled": True,
            }
            if self.encryption_key is not None
            else {}
        )
        upload_props = merge_props(
            {**BUCKET_DEFAULTS, "removal_policy": removal_policy, "cors": cors},
            props_dict(bucket_props, what="bucket_props", struct=s3.BucketProps),
            {
                **BUCKET_REQUIRED,
                **encryption,
                **versioning,
                "server_access_logs_bucket": self.access_log_bucket,
                "server_access_logs_prefix": "upload-bucket/",
                "lifecycle_rules": _lifecycle_rules(job_ttl_days),
            },
            what="bucket_props",
        )
        upload_props.setdefault(
            "auto_delete_objects", upload_props["removal_policy"] == RemovalPolicy.DESTROY
        )
        bucket = s3.Bucket(self, "UploadBucket", **upload_props)
        self.bucket = bucket
        # Read from the bucket itself, so that every way of versioning it (this construct's
        # prop, bucket_props, Object Lock) gets the rule, and gets it once.
        if _is_versioned(bucket):
            for rule in _noncurrent_rules():
                bucket.add_lifecycle_rule(
                    id=rule.id,
                    noncurrent_version_expiration=rule.noncurrent_version_expiration,
                    expired_object_delete_marker=rule.expired_object_delete_marker,
                )
        acknowledge(bucket, compliance("S3BucketReplicationEnabled"), _REPLICATION)

    # Object grants. Each names one prefix: ``bucket.grant_read`` and ``grant_put`` would also
    # hand out bucket-level listing and ``s3:*Object*`` wildcards.

    def grant_presign_uploads(self, grantee: iam.IGrantable) -> iam.Grant:
        """``s3:PutObject`` under ``incoming/``: signs the presigned POST of an upload."""
        return self._grant_objects(grantee, INCOMING_PREFIX, "s3:PutObject")

    def grant_read_uploads(self, grantee: iam.IGrantable) -> iam.Grant:
        """``s3:GetObject`` under ``incoming/``: reads an uploaded file, or HeadObjects it."""
        return self._grant_objects(grantee, INCOMING_PREFIX, "s3:GetObject")

    def grant_archive_uploads(self, grantee: iam.IGrantable) -> iam.Grant:
        """Moves an uploaded file to ``processed/`` when its job ends (copy, then delete)."""
        return self._grant_move(grantee, PROCESSED_PREFIX)

    def grant_quarantine_uploads(self, grantee: iam.IGrantable) -> iam.Grant:
        """Moves an uploaded file no job processed to ``quarantine/`` (copy, then delete)."""
        return self._grant_move(grantee, QUARANTINE_PREFIX)

    def grant_write_reports(self, grantee: iam.IGrantable) -> iam.Grant:
        """``s3:PutObject`` under ``reports/`` (multipart uploads included), and
        ``s3:AbortMultipartUpload``: a report abandoned when its job fails is aborted, and a
        denied abort would hide the job's own failure."""
        grant = self._grant_objects(
            grantee, REPORTS_PREFIX, "s3:PutObject", "s3:AbortMultipartUpload"
        )
        # Completing a multipart upload decrypts the data key its parts were encrypted with.
        return self._grant_key(grantee, grant, "kms:Decrypt")

    def grant_read_reports(self, grantee: iam.IGrantable) -> iam.Grant:
        """``s3:GetObject`` under ``reports/``: signs a report's download URL."""
        return self._grant_objects(grantee, REPORTS_PREFIX, "s3:GetObject")

    def grant_write_split(self, grantee: iam.IGrantable) -> iam.Grant:
        """``s3:PutObject`` under ``split/``: manifests and intermediate objects of a large
        file."""
        return self._grant_objects(grantee, SPLIT_PREFIX, "s3:PutObject")

    def grant_write_split_multipart(self, grantee: iam.IGrantable) -> iam.Grant:
        """``s3:PutObject`` and ``s3:AbortMultipartUpload`` under ``split/``, with the key's
        decrypt in the hardened profile: a partition's conflicts object is a multipart upload,
        aborted when the partition fails, and completing one decrypts its parts' data key."""
        grant = self._grant_objects(
            grantee, SPLIT_PREFIX, "s3:PutObject", "s3:AbortMultipartUpload"
        )
        return self._grant_key(grantee, grant, "kms:Decrypt")

    def grant_read_split(self, grantee: iam.IGrantable) -> iam.Grant:
        """``s3:GetObject`` under ``split/``: reads manifests and intermediate objects."""
        return self._grant_objects(grantee, SPLIT_PREFIX, "s3:GetObject")

    def grant_list_split(self, grantee: iam.IGrantable) -> iam.Grant:
        """``s3:ListBucket`` on the upload bucket for keys under ``split/`` only (an
        ``s3:prefix`` condition): lists a job's intermediate objects."""
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["s3:ListBucket"],
            resource_arns=[self.bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{SPLIT_PREFIX}*"]}},
        )

    def grant_delete_split(self, grantee: iam.IGrantable) -> iam.Grant:
        """``s3:DeleteObject`` under ``split/``: removes a job's intermediate objects."""
        return self._grant_objects(grantee, SPLIT_PREFIX, "s3:DeleteObject")

    def grant_key_lookup(self, grantee: iam.IGrantable) -> iam.Grant:
        """Grant ``s3:ListBucket`` on the upload bucket, so that HeadObject of a missing key
        answers 404 rather than 403 and "not uploaded (yet)" can be told from "forbidden"."""
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=["s3:ListBucket"], resource_arns=[self.bucket.bucket_arn]
        )

    # Table grants.

    def grant_read_jobs(self, grantee: iam.IGrantable) -> iam.Grant:
        """Read jobs (GetItem, Query of ``ByStatus`` and ``ByPendingEvent``)."""
        return self._jobs_grant(grantee, self.jobs_table.grant_read_data(grantee), read=True)

    def grant_write_jobs(self, grantee: iam.IGrantable) -> iam.Grant:
        """Create and update jobs."""
        return self._jobs_grant(grantee, self.jobs_table.grant_write_data(grantee))

    def grant_create_jobs(self, grantee: iam.IGrantable) -> iam.Grant:
        """``dynamodb:PutItem`` on the jobs table only: creates a job (the upload function)."""
        return self._table_only_grant(grantee, "dynamodb:PutItem")

    def grant_get_jobs(self, grantee: iam.IGrantable) -> iam.Grant:
        """``dynamodb:GetItem`` on the jobs table only: reads one job by its id."""
        return self._table_only_grant(grantee, "dynamodb:GetItem", "kms:Decrypt", "kms:DescribeKey")

    def grant_update_jobs(self, grantee: iam.IGrantable) -> iam.Grant:
        """``dynamodb:UpdateItem`` on the jobs table only: counts a job's progress."""
        return self._table_only_grant(grantee, "dynamodb:UpdateItem")

    def _table_only_grant(
        self,
        grantee: iam.IGrantable,
        action: str,
        *key_actions: str,
        table: dynamodb.ITable | None = None,
    ) -> iam.Grant:
        # The table itself (default the jobs table): the table's generic grants add its
        # indexes, where a call by key has nothing to do.
        table = table or self.jobs_table
        grant = iam.Grant.add_to_principal(
            grantee=grantee, actions=[action], resource_arns=[table.table_arn]
        )
        key = table.encryption_key
        if key is not None:
            # What CDK's table grants carry for a table under a customer-managed key: decrypt
            # for a read, the whole encrypt-decrypt set for a write.
            grant = grant.combine(
                key.grant(grantee, *key_actions)
                if key_actions
                else key.grant_encrypt_decrypt(grantee)
            )
        return self._table_key_grant(grantee, grant)

    def grant_read_write_jobs(self, grantee: iam.IGrantable) -> iam.Grant:
        """Read, claim and finish jobs."""
        return self._jobs_grant(grantee, self.jobs_table.grant_read_write_data(grantee), read=True)

    def grant_read_results(self, grantee: iam.IGrantable) -> iam.Grant:
        """Query the stored rows (``dynamodb:Query`` on the results table, which has no
        index): no Scan, no stream reads."""
        return self._table_only_grant(
            grantee, "dynamodb:Query", "kms:Decrypt", "kms:DescribeKey", table=self.results_table
        )

    def grant_write_results(self, grantee: iam.IGrantable) -> iam.Grant:
        """Store rows."""
        return self._table_key_grant(grantee, self.results_table.grant_write_data(grantee))

    # Metrics: sums over ``period`` (default 5 minutes), what throttling alarms fire on (R18).

    def metric_results_read_throttles(
        self, *, period: Duration = METRIC_PERIOD
    ) -> cloudwatch.IMetric:
        """Throttled read requests of the results table."""
        return self.results_table.metric("ReadThrottleEvents", period=period, statistic="Sum")

    def metric_results_write_throttles(
        self, *, period: Duration = METRIC_PERIOD
    ) -> cloudwatch.IMetric:
        """Throttled write requests of the results table."""
        return self.results_table.metric("WriteThrottleEvents", period=period, statistic="Sum")

    def metric_jobs_read_throttles(self, *, period: Duration = METRIC_PERIOD) -> cloudwatch.IMetric:
        """Throttled read requests of the jobs table."""
        return self.jobs_table.metric("ReadThrottleEvents", period=period, statistic="Sum")

    def metric_jobs_write_throttles(
        self, *, period: Duration = METRIC_PERIOD
    ) -> cloudwatch.IMetric:
        """Throttled write requests of the jobs table."""
        return self.jobs_table.metric("WriteThrottleEvents", period=period, statistic="Sum")

    def metric_jobs_index_read_throttles(
        self, *, index: str = JOBS_STATUS_INDEX, period: Duration = METRIC_PERIOD
    ) -> cloudwatch.IMetric:
        """Throttled reads of one of the jobs table's indexes (default ``ByStatus``; both are
        read by the sweeper only)."""
        return self._jobs_index_metric("ReadThrottleEvents", index, period)

    def metric_jobs_index_write_throttles(
        self, *, index: str = JOBS_STATUS_INDEX, period: Duration = METRIC_PERIOD
    ) -> cloudwatch.IMetric:
        """Throttled writes of one of the jobs table's indexes (default ``ByStatus``): job
        updates stall when an index throttles."""
        return self._jobs_index_metric("WriteThrottleEvents", index, period)

    def _jobs_index_metric(self, name: str, index: str, period: Duration) -> cloudwatch.IMetric:
        if index not in _JOBS_INDEXES:
            raise ValueError(
                f"index must be one of {', '.join(map(repr, _JOBS_INDEXES))} (got {index!r})"
            )
        return cloudwatch.Metric(
            namespace="AWS/DynamoDB",
            metric_name=name,
            dimensions_map={
                "TableName": self.jobs_table.table_name,
                "GlobalSecondaryIndexName": index,
            },
            period=period,
            statistic="Sum",
        )

    def _grant_move(self, grantee: iam.IGrantable, target_prefix: str) -> iam.Grant:
        # A move is CopyObject (GetObject on the source) and DeleteObject.
        return self._grant_objects(
            grantee, INCOMING_PREFIX, "s3:GetObject", "s3:DeleteObject"
        ).combine(self._grant_objects(grantee, target_prefix, "s3:PutObject"))

    def _grant_objects(self, grantee: iam.IGrantable, prefix: str, *actions: str) -> iam.Grant:
        grant = iam.Grant.add_to_principal(
            grantee=grantee,
            actions=list(actions),
            resource_arns=[self.bucket.arn_for_objects(f"{prefix}*")],
        )
        # A presigned URL is authorized with its signer's permissions, key included.
        grant = self._grant_key(
            grantee, grant, *sorted({k for a in actions for k in _KEY_ACTIONS.get(a, ())})
        )
        self._acknowledge_once(
            grantee,
            f"Resource::{finding_resource(self, self.bucket.arn_for_objects(f'{prefix}*'))}",
            f"Object keys under {prefix} embed a job id minted at run time, so the grant can "
            "only name the prefix; it covers no other part of the bucket.",
        )
        return grant

    def _grant_key(self, grantee: iam.IGrantable, grant: iam.Grant, *actions: str) -> iam.Grant:
        # The bucket's own key: the pipeline's, or the one an existing bucket was given with.
        key = self.bucket.encryption_key
        if key is None or not actions:
            return grant
        return grant.combine(key.grant(grantee, *actions))

    def _table_key_grant(self, grantee: iam.IGrantable, grant: iam.Grant) -> iam.Grant:
        # The table's L2 grants add the key actions DynamoDB needs on the grantee's behalf,
        # the write set spelled with wildcards; they name the table's one key only.
        if any(t.encryption_key is not None for t in (self.results_table, self.jobs_table)):
            for action in ("kms:GenerateDataKey*", "kms:ReEncrypt*"):
                self._acknowledge_once(
                    grantee,
                    f"Action::{action}",
                    "CDK's grants on a table or queue encrypted with the pipeline key include "
                    f"{action} on that one key, so the service can encrypt on the caller's "
                    "behalf; no other key is covered.",
                )
        return grant

    def _jobs_grant(
        self, grantee: iam.IGrantable, grant: iam.Grant, *, read: bool = False
    ) -> iam.Grant:
        self._table_key_grant(grantee, grant)
        indexes = f"{self.jobs_table.table_arn}/index/*"
        if read and not isinstance(self.jobs_table, (dynamodb.TableV2, dynamodb.Table)):
            # An imported table's grants cover its indexes only when it was imported naming
            # them; the sweeper queries both, so the grant names them itself.
            grant = grant.combine(
                iam.Grant.add_to_principal(
                    grantee=grantee, actions=["dynamodb:Query"], resource_arns=[indexes]
                )
            )
        self._acknowledge_once(
            grantee,
            f"Resource::{finding_resource(self, indexes)}",
            "DynamoDB grants cover the table's indexes; the jobs table has two, which the "
            f"sweeper queries: {JOBS_STATUS_INDEX} for pending and processing jobs, "
            f"{JOBS_EVENT_INDEX} for final jobs whose event is not yet published.",
        )
        return grant

    def _acknowledge_once(self, grantee: iam.IGrantable, resource: str, reason: str) -> None:
        policy = identity_policy(grantee)
        if policy is None or (policy.node.path, resource) in self._acknowledged:
            return
        self._acknowledged.add((policy.node.path, resource))
        acknowledge(policy, "AwsSolutions-IAM5", reason, applies_to=resource)


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


def _cors_rule(origins: Sequence[str]) -> dict[str, Any]:
    """The CORS rule that lets browsers of ``origins`` send the presigned POST."""
    return {
        "allowed_methods": [s3.HttpMethods.POST],
        "allowed_origins": list(origins),
        "allowed_headers": ["*"],
        "max_age": 3000,
    }


def _is_versioned(bucket: s3.Bucket) -> bool:
    """Whether S3 keeps noncurrent versions in ``bucket``: versioning enabled, or Object Lock
    (S3 enables versioning on a bucket created with it)."""
    cfn = bucket.node.default_child
    if not isinstance(cfn, s3.CfnBucket):
        return False
    versioning = cfn.versioning_configuration
    status = getattr(versioning, "status", None)
    return status == "Enabled" or cfn.object_lock_enabled is True


def _noncurrent_rules() -> list[s3.LifecycleRule]:
    # A versioned bucket turns every delete and lifecycle expiration into a noncurrent version
    # behind a delete marker: both go, so the current-version rules still empty the bucket.
    return [
        s3.LifecycleRule(
            id="ExpireNoncurrentVersions",
            noncurrent_version_expiration=Duration.days(NONCURRENT_VERSION_EXPIRATION_DAYS),
            expired_object_delete_marker=True,
        )
    ]


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
        # Files no job processed (no job, or a second upload of a finished one) are moved
        # here, never deleted outright, and kept for an operator to inspect.
        s3.LifecycleRule(
            id="ExpireQuarantinedFiles",
            prefix=QUARANTINE_PREFIX,
            expiration=Duration.days(QUARANTINE_EXPIRATION_DAYS),
        ),
        # Intermediate objects of a split file (R23) are deleted when its job ends; this catches
        # those a crash left behind, once the job can no longer be running or redriven soon.
        s3.LifecycleRule(
            id="ExpireSplitObjects",
            prefix=SPLIT_PREFIX,
            expiration=Duration.days(SPLIT_EXPIRATION_DAYS),
        ),
        # The rejection report is a multipart upload; a crashed processor leaves its parts.
        s3.LifecycleRule(
            id="AbortIncompleteMultipartUploads",
            abort_incomplete_multipart_upload_after=Duration.days(MULTIPART_ABORT_DAYS),
        ),
    ]
