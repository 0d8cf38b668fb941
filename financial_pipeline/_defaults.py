"""Secure defaults, in one place.

Every sub-construct builds its L2 props as ``required > user props > defaults``: what the
construct needs to work (or what a requirement pins) always wins, then what the user passed,
then the defaults below.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from aws_cdk import Duration, Size
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs

# R13: 3 GB and 5 minutes for every function. 3008 MB is the largest size every region accepts.
FUNCTION_MEMORY_MB: Final = 3008
FUNCTION_TIMEOUT: Final = Duration.minutes(5)
LOG_RETENTION: Final = logs.RetentionDays.ONE_WEEK  # R16
PROCESSOR_MAX_RETRIES: Final = 2  # R14
PROCESSOR_RESERVED_CONCURRENCY: Final = 100  # R15
PROCESSED_EXPIRATION_DAYS: Final = 30  # R10
# A file left in incoming/ is deleted after this many days (see storage._lifecycle_rules).
INCOMING_SAFETY_EXPIRATION_DAYS: Final = 14
# Files no job processed are kept this long for an operator to inspect, then deleted.
QUARANTINE_EXPIRATION_DAYS: Final = 30
MULTIPART_ABORT_DAYS: Final = 1
ACCESS_LOG_EXPIRATION_DAYS: Final = 90
FAILURE_QUEUE_RETENTION: Final = Duration.days(14)
DEFAULT_MAX_UPLOAD_BYTES: Final = 100 * 1024 * 1024
MAX_PRESIGNED_POST_BYTES: Final = 5 * 1024**3  # the largest single PUT/POST S3 accepts
DEFAULT_UPLOAD_URL_TTL: Final = Duration.minutes(15)
MAX_UPLOAD_URL_TTL_DAYS: Final = 7
DEFAULT_REPORT_URL_TTL: Final = Duration.minutes(15)
DEFAULT_JOB_TTL_DAYS: Final = 30
DEFAULT_WRITE_CONCURRENCY: Final = 8
# The processor spills duplicate-detection data and the rejection report to /tmp on large files.
PROCESSOR_EPHEMERAL_STORAGE: Final = Size.mebibytes(4096)
SWEEP_INTERVAL: Final = Duration.minutes(5)
# Alarms evaluate, and the dashboard graphs, 5-minute periods.
METRIC_PERIOD: Final = Duration.minutes(5)
THROTTLE_RATE_LIMIT: Final = 1000  # R6
THROTTLE_BURST_LIMIT: Final = 2000  # R6
ERROR_RATE_THRESHOLD_PERCENT: Final = 1.0  # R17
# The functions' custom metrics (Powertools): this namespace, and the dimensions Powertools
# adds to every metric, ``service`` (this name) and ``environment`` (set by the handlers).
METRICS_NAMESPACE: Final = "FinancialPipeline"
METRICS_SERVICE: Final = "financial-pipeline"
MIN_INVOCATIONS_FOR_ERROR_RATE: Final = 20
LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Hardened profile (R26). A noncurrent version (an overwritten or deleted object) stays this
# long for recovery, then goes: versioning must not keep what the lifecycle rules delete.
NONCURRENT_VERSION_EXPIRATION_DAYS: Final = 30
FLOW_LOG_RETENTION: Final = logs.RetentionDays.THREE_MONTHS
WAF_LOG_RETENTION: Final = logs.RetentionDays.THREE_MONTHS
# Requests per IP address in 5 minutes before the web ACL blocks it (about 10/s sustained):
# well above a back-office client paging results, well below the stage limit (R6).
WAF_RATE_LIMIT_PER_5_MINUTES: Final = 3000
VPC_MAX_AZS: Final = 2

# Large files (R23), see docs/CAPACITY.md "Large files". Above the threshold a file is split into
# parts of about PART_BYTES, parsed in parallel on a Step Functions Distributed Map.
MIB: Final = 1024 * 1024
# The single pass finishes a file this size (~350k rows) well inside its 5-minute timeout even
# on an on-demand table at its 4,000 writes/s start (~90 s), and the split's fixed cost (a
# planning read, two map runs, cold starts: ~8 s) pays back only on larger files.
DEFAULT_SPLIT_THRESHOLD_BYTES: Final = 16 * MIB
# ~190k rows: ~6 s of parsing per part (~4x a cold start), while the per-part overhead (state
# transitions, S3 requests, init) stays below 0.5% of the DynamoDB writes of its rows.
DEFAULT_PART_BYTES: Final = 8 * MIB
MIN_PART_BYTES: Final = MIB
# Writes/s one partition writer sustains: ~65-100 us of client CPU per row (BatchWriteItem floor
# and encoding, no CSV rules) caps one Python process at 10,000-15,000 rows/s; the lower end.
PARTITION_WRITER_WRITES_PER_SECOND: Final = 10_000
# What a new on-demand table serves at once (DynamoDB, "Pre-warming a table for on-demand").
ON_DEMAND_INITIAL_WRITES_PER_SECOND: Final = 4_000
# Parsing parts touches S3 and one job update per part, not the results table: its concurrency
# is bounded by the account's Lambda pool (1,000 by default), of which one file takes at most 5%.
DEFAULT_SPLIT_PARSE_MAX_CONCURRENCY: Final = 50
# Distributed Map's limit on parallel child executions.
MAX_DISTRIBUTED_MAP_CONCURRENCY: Final = 10_000
# A 5 GiB file (~110M rows) written at the on-demand start of 4,000 writes/s takes ~8 hours.
SPLIT_EXECUTION_TIMEOUT: Final = Duration.hours(12)
# Intermediate objects of a split file outlive their job by at most this (they are deleted when
# it ends; the rule catches a crash between the two).
SPLIT_EXPIRATION_DAYS: Final = 2

FUNCTION_DEFAULTS: Final[Mapping[str, Any]] = {
    "memory_size": FUNCTION_MEMORY_MB,
    "timeout": FUNCTION_TIMEOUT,
    "description": "financial pipeline function",
}

FUNCTION_REQUIRED: Final[Mapping[str, Any]] = {
    "runtime": lambda_.Runtime.PYTHON_3_14,
    "architecture": lambda_.Architecture.ARM_64,
    "tracing": lambda_.Tracing.ACTIVE,  # R7
}

BUCKET_DEFAULTS: Final[Mapping[str, Any]] = {
    "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    # Versioning stays off by default: see Storage for the reasoning.
    "versioned": False,
}

BUCKET_REQUIRED: Final[Mapping[str, Any]] = {
    "encryption": s3.BucketEncryption.S3_MANAGED,  # SSE-S3 (AES256)
    "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,  # R8
    "enforce_ssl": True,  # R8
}

QUEUE_REQUIRED: Final[Mapping[str, Any]] = {
    "encryption": sqs.QueueEncryption.SQS_MANAGED,
    "enforce_ssl": True,
    "retention_period": FAILURE_QUEUE_RETENTION,
}


def props_dict(value: object, *, what: str, struct: type[Any]) -> dict[str, Any]:
    """``value`` (None, a mapping, or a jsii struct of type ``struct``) as a plain dict of the
    props it sets.

    A struct such as ``s3.BucketProps(versioned=True)`` is read through its properties, which
    are None where a prop is unset; anything else is refused with a TypeError naming ``what``.
    """
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    mapping = getattr(type(value), "__jsii_name_mapping__", None)
    if isinstance(value, struct) and isinstance(mapping, Mapping):
        props = {name: getattr(value, name) for name in mapping}
        return {name: prop for name, prop in props.items() if prop is not None}
    raise TypeError(
        f"{what} must be a mapping or {struct.__module__}.{struct.__name__} "
        f"(got {type(value).__module__}.{type(value).__name__})"
    )


def merge_props(
    defaults: Mapping[str, Any],
    user: Mapping[str, Any] | None,
    required: Mapping[str, Any],
    *,
    what: str,
) -> dict[str, Any]:
    """Merge ``required > user > defaults``.

    A user value that contradicts a required one is a mistake the user should hear about, so
    it raises instead of being silently replaced.
    """
    user = dict(user or {})
    for key, value in required.items():
        if key in user and user[key] is not value and user[key] != value:
            raise ValueError(f"{what} cannot override {key!r} (got {user[key]!r})")
    return {**defaults, **user, **required}
