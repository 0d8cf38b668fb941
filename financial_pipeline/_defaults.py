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
    "encryption": s3.BucketEncryption.S3_MANAGED,  # R8: SSE-S3 (AES256)
    "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,  # R8
    "enforce_ssl": True,  # R8
}

QUEUE_REQUIRED: Final[Mapping[str, Any]] = {
    "encryption": sqs.QueueEncryption.SQS_MANAGED,
    "enforce_ssl": True,
    "retention_period": FAILURE_QUEUE_RETENTION,
}


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
