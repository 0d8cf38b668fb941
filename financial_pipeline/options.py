"""The options of `FinancialPipeline`, one frozen class per concern.

Each class checks its own values when it is made (a ``ValueError`` naming the option and what it
accepts), so a wrong value fails where it is written, before any construct exists. Every field
has the default the pipeline uses when the class is not passed at all.

Example::

    FinancialPipeline(
        stack,
        "Pipeline",
        environment_name="prod",
        api_options=ApiOptions(cors_allow_origins=["https://desk.example.com"]),
        observability_options=ObservabilityOptions(alarm_email="oncall@example.com"),
        split_options=SplitOptions(threshold_bytes=64 * 1024 * 1024),
    )
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from aws_cdk import Duration
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns

from financial_pipeline._defaults import (
    DEFAULT_JOB_TTL_DAYS,
    DEFAULT_MAX_UPLOAD_BYTES,
    DEFAULT_PART_BYTES,
    DEFAULT_REPORT_URL_TTL,
    DEFAULT_SPLIT_PARSE_MAX_CONCURRENCY,
    DEFAULT_SPLIT_THRESHOLD_BYTES,
    DEFAULT_UPLOAD_URL_TTL,
    DEFAULT_WRITE_CONCURRENCY,
    ERROR_RATE_THRESHOLD_PERCENT,
    LOG_LEVELS,
    MAX_PRESIGNED_POST_BYTES,
    MAX_UPLOAD_URL_TTL_DAYS,
    MIN_INVOCATIONS_FOR_ERROR_RATE,
    PROCESSOR_RESERVED_CONCURRENCY,
    SWEEP_INTERVAL,
)
from financial_pipeline.api import AuthorizationMode
from financial_pipeline.existing import check_exclusive
from financial_pipeline.firewall import validate_web_acl_arn
from financial_pipeline.observability import check_error_rate
from financial_pipeline.split import check_split_sizes

__all__ = [
    "ApiOptions",
    "HardeningOptions",
    "IngestOptions",
    "LambdaOptions",
    "ObservabilityOptions",
    "SplitOptions",
    "StorageOptions",
]

_MAX_MAP_CONCURRENCY: Final = 10_000
_MAX_WRITE_CONCURRENCY: Final = 64

_E = TypeVar("_E", bound=enum.StrEnum)


def choice(kind: type[_E], value: _E | str, what: str) -> _E:
    """``value`` as a member of ``kind``; a ValueError that lists the allowed values if not."""
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(repr(member.value) for member in kind)
        raise ValueError(f"{what} must be one of {allowed} (got {value!r})") from None


def _between(name: str, value: int, low: int, high: int, unit: str = "") -> None:
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}{unit} (got {value})")


def _url_ttl(name: str, ttl: Duration) -> None:
    # A presigned URL lives at most 7 days (SigV4); under a minute it expires in transit.
    if not 60 <= ttl.to_seconds() <= MAX_UPLOAD_URL_TTL_DAYS * 24 * 3600:
        raise ValueError(
            f"{name} must be between 1 minute and {MAX_UPLOAD_URL_TTL_DAYS} days "
            f"(got {ttl.to_human_string()})"
        )


@dataclass(frozen=True, kw_only=True)
class ApiOptions:
    """The REST API and the presigned URLs it hands out.

    Attributes:
        authorization: ``iam`` (default: SigV4 from IAM principals, see
            `FinancialPipeline.grant_invoke_api`), ``cognito`` or ``none``.
        existing_user_pool: the pool to trust in ``cognito`` mode; default: a new pool.
        cors_allow_origins: browser origins for the API and the presigned POST; default none.
            API Gateway's own error responses allow the origin only when exactly one is listed.
        cloud_watch_role: create a role for API Gateway to write CloudWatch Logs with and make
            it the account's (``AWS::ApiGateway::Account``); default False. The setting is the
            account's and region's, not the stack's: turn it on in exactly one stack per account
            and region, or set the role outside CDK (see the README). The role is kept when the
            stack is deleted.
        max_upload_bytes: size cap of one file, 1 byte to 5 GiB; default 100 MiB.
        upload_url_ttl: presigned POST lifetime, 1 minute to 7 days; default 15 minutes.
        report_url_ttl: rejection report URL lifetime, 1 minute to 7 days; default 15 minutes.
    """

    authorization: AuthorizationMode | str = AuthorizationMode.IAM
    existing_user_pool: cognito.IUserPool | None = None
    cors_allow_origins: Sequence[str] = ()
    cloud_watch_role: bool = False
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    upload_url_ttl: Duration = DEFAULT_UPLOAD_URL_TTL
    report_url_ttl: Duration = DEFAULT_REPORT_URL_TTL

    def __post_init__(self) -> None:
        mode = choice(AuthorizationMode, self.authorization, "authorization")
        object.__setattr__(self, "authorization", mode)
        object.__setattr__(self, "cors_allow_origins", tuple(self.cors_allow_origins))
        if self.existing_user_pool is not None and mode != AuthorizationMode.COGNITO:
            raise ValueError(
                f"existing_user_pool needs authorization 'cognito' (got {mode.value!r})"
            )
        _between("max_upload_bytes", self.max_upload_bytes, 1, MAX_PRESIGNED_POST_BYTES)
        _url_ttl("upload_url_ttl", self.upload_url_ttl)
        _url_ttl("report_url_ttl", self.report_url_ttl)

    @property
    def mode(self) -> AuthorizationMode:
        """``authorization`` as an `AuthorizationMode`."""
        return AuthorizationMode(self.authorization)


@dataclass(frozen=True, kw_only=True)
class IngestOptions:
    """The single pass: the processor that stores a file's rows, and the sweeper.

    Attributes:
        write_concurrency: BatchWriteItem calls in flight per processor, 1 to 64; default 8.
        reserved_concurrency: the processor's reserved concurrency, at least 1; default 100.
        sweep_interval: how often the sweeper re-drives stuck jobs and expires abandoned ones,
            1 minute to 1 hour; default 5 minutes.
    """

    write_concurrency: int = DEFAULT_WRITE_CONCURRENCY
    reserved_concurrency: int = PROCESSOR_RESERVED_CONCURRENCY
    sweep_interval: Duration = SWEEP_INTERVAL

    def __post_init__(self) -> None:
        _between("write_concurrency", self.write_concurrency, 1, _MAX_WRITE_CONCURRENCY)
        if self.reserved_concurrency < 1:
            raise ValueError(
                f"reserved_concurrency must be at least 1 (got {self.reserved_concurrency})"
            )
        if not 60 <= self.sweep_interval.to_seconds() <= 3600:
            raise ValueError(
                "sweep_interval must be between 1 minute and 1 hour "
                f"(got {self.sweep_interval.to_human_string()})"
            )


@dataclass(frozen=True, kw_only=True)
class SplitOptions:
    """Large files: split into parts and processed in parallel on a state machine.

    Attributes:
        threshold_bytes: files larger than this take the split path; smaller ones the single
            pass. ``part_bytes`` to 5 GiB; default 16 MiB (the single pass finishes such a file,
            ~350k rows, well inside its timeout even on a table at the on-demand start, and the
            split's fixed cost pays back only above it: docs/CAPACITY.md).
        part_bytes: target size of one part, cut on a record boundary; 1 MiB to
            ``threshold_bytes``. Default 8 MiB (~190k rows, ~6 s of parsing).
        max_concurrency: partitions written to the results table at once, 1 to 10,000.
            Default: `default_split_max_concurrency` of the results table's write warm
            throughput, so one file's writers never ask for more than the table serves at once.
        parse_max_concurrency: parts parsed at once, 1 to 10,000; default 50. Parsing touches
            S3, not the results table: this bounds only the Lambda concurrency one file takes.
    """

    threshold_bytes: int = DEFAULT_SPLIT_THRESHOLD_BYTES
    part_bytes: int = DEFAULT_PART_BYTES
    max_concurrency: int | None = None
    parse_max_concurrency: int = DEFAULT_SPLIT_PARSE_MAX_CONCURRENCY

    def __post_init__(self) -> None:
        check_split_sizes(threshold_bytes=self.threshold_bytes, part_bytes=self.part_bytes)
        if self.max_concurrency is not None:
            _between("max_concurrency", self.max_concurrency, 1, _MAX_MAP_CONCURRENCY)
        _between("parse_max_concurrency", self.parse_max_concurrency, 1, _MAX_MAP_CONCURRENCY)


@dataclass(frozen=True, kw_only=True)
class StorageOptions:
    """The upload bucket and the two tables.

    Attributes:
        job_ttl_days: days a job (and its rejection report) is kept, at least 1; default 30.
        bucket_props: extra upload bucket props, a mapping or an ``s3.BucketProps`` (see
            `Storage`); default none.
        results_table_warm_throughput: pre-warmed capacity of the results table, e.g.
            ``dynamodb.WarmThroughput(write_units_per_second=10_000)``: an on-demand table
            starts at 4,000 writes/s and scales only as traffic grows, so a burst of files is
            throttled while it scales. Billed once when raised; does not lift the per-partition
            limit of 1,000 writes/s (one symbol). Default: unset (docs/CAPACITY.md).
        existing_bucket_obj: an upload bucket of yours instead of a new one, exclusive with
            ``bucket_props``; the pipeline then creates no access-log bucket and sets no
            lifecycle rule. It must be encrypted (SSE-KMS, imported with its key, in the
            hardened profile), block all public access, deny plain HTTP and be versioned when
            ``bucket_versioning`` is on: checked for a bucket of this app, yours to guarantee
            for an imported one (README, Bring your own resources). Default: a new bucket.
        existing_results_table_obj: a results table of yours (``dynamodb.TableV2`` or
            ``Table``): partition key ``symbol``, sort key ``timestamp``, both strings;
            exclusive with ``results_table_warm_throughput``. Default: a new table.
        existing_jobs_table_obj: a jobs table of yours: partition key ``jobId``, time to live
            on ``ttl``, indexes ``ByStatus`` (``status``, ``updatedAt``) and
            ``ByPendingEvent`` (``eventPending``, ``updatedAt``), all strings. Default: a new
            table. In the hardened profile an existing table must name its customer-managed
            key (``encryption_key``). The pipeline never deletes or replaces what it is given:
            ``removal_policy`` does not apply to it.
    """

    job_ttl_days: int = DEFAULT_JOB_TTL_DAYS
    bucket_props: Mapping[str, Any] | s3.BucketProps | None = None
    results_table_warm_throughput: dynamodb.WarmThroughput | None = None
    existing_bucket_obj: s3.IBucket | None = None
    existing_results_table_obj: dynamodb.ITable | None = None
    existing_jobs_table_obj: dynamodb.ITable | None = None

    def __post_init__(self) -> None:
        if self.job_ttl_days < 1:
            raise ValueError(f"job_ttl_days must be at least 1 (got {self.job_ttl_days})")
        check_exclusive(
            existing_bucket_obj=self.existing_bucket_obj,
            bucket_props=self.bucket_props,
            existing_results_table_obj=self.existing_results_table_obj,
            results_table_warm_throughput=self.results_table_warm_throughput,
        )


@dataclass(frozen=True, kw_only=True)
class HardeningOptions:
    """The hardening each `Profile` turns on (all of them in ``hardened``); None is the
    profile's choice, True or False the user's (False is refused in ``hardened``).

    Attributes:
        customer_managed_key: encrypt the upload bucket (SSE-KMS with a bucket key), both
            tables, the failure queue, the alarm topic and every log group with one
            customer-managed key: ``existing_encryption_key``, else a new one with yearly
            rotation. Off: SSE-S3 and AWS-managed keys.
        existing_encryption_key: the key to use (implies ``customer_managed_key``). Its owner
            maintains its policy, which must let CloudWatch Logs of the account and region use
            it (principal ``logs.<region>.amazonaws.com``, condition ``ArnLike
            kms:EncryptionContext:aws:logs:arn arn:<partition>:logs:<region>:<account>:
            log-group:*``), CloudWatch publish this pipeline's alarms
            (``cloudwatch.amazonaws.com``, ``aws:SourceAccount`` and ``aws:SourceArn`` of its
            alarms) and log delivery decrypt the state machine's logs
            (``delivery.logs.amazonaws.com``, ``kms:Decrypt``, ``aws:SourceAccount`` and
            ``aws:SourceArn`` ``arn:<partition>:logs:<region>:<account>:*``); the functions'
            grants go to their roles and need the key policy to delegate to the account's IAM
            policies.
        web_acl: associate a WAF web ACL with the API stage: ``existing_web_acl_arn``, else a
            new one (a per-address rate limit, AWS managed IP-reputation, known-bad-inputs and
            common rule groups, request logs with credentials redacted).
        existing_web_acl_arn: a regional WAFv2 web ACL's ARN (implies ``web_acl``). WAFv2 has
            no L2 construct to pass instead.
        run_in_vpc: run every function in a VPC: ``existing_vpc``, else a new one with private
            isolated subnets and no NAT, reaching S3 and DynamoDB through gateway endpoints and
            Lambda, X-Ray, EventBridge and Step Functions through interface endpoints (billed
            hourly, see `financial_pipeline.network.INTERFACE_ENDPOINTS`), each with a policy
            that admits only the functions' calls to this pipeline's resources.
        existing_vpc: the VPC to run in (implies ``run_in_vpc``).
        vpc_endpoints: create the endpoints in the VPC; default True. Turn off for an existing
            VPC that already has them, or that other workloads share; its own endpoints must
            then admit the calls `financial_pipeline.network.Network.admit_only` lists.
        bucket_versioning: version both buckets, noncurrent versions deleted after 30 days.
    """

    customer_managed_key: bool | None = None
    existing_encryption_key: kms.IKey | None = None
    web_acl: bool | None = None
    existing_web_acl_arn: str | None = None
    run_in_vpc: bool | None = None
    existing_vpc: ec2.IVpc | None = None
    vpc_endpoints: bool = True
    bucket_versioning: bool | None = None

    def __post_init__(self) -> None:
        for name, existing in (
            ("customer_managed_key", "existing_encryption_key"),
            ("web_acl", "existing_web_acl_arn"),
            ("run_in_vpc", "existing_vpc"),
        ):
            if getattr(self, name) is False and getattr(self, existing) is not None:
                raise ValueError(f"{existing} needs {name} (got {name}=False)")
        if self.existing_web_acl_arn is not None:
            validate_web_acl_arn(self.existing_web_acl_arn)
        if not self.vpc_endpoints and not (self.run_in_vpc or self.existing_vpc is not None):
            raise ValueError("vpc_endpoints=False needs run_in_vpc or existing_vpc (got neither)")

    def resolved(self, *, hardened: bool) -> HardeningOptions:
        """Every switch decided: its own value, else implied by an existing resource or the
        hardened profile. Turning one off in the hardened profile is a contradiction."""
        switches: dict[str, Any] = {}
        for name, existing in (
            ("customer_managed_key", self.existing_encryption_key),
            ("web_acl", self.existing_web_acl_arn),
            ("run_in_vpc", self.existing_vpc),
            ("bucket_versioning", None),
        ):
            value = getattr(self, name)
            if value is False and hardened:
                raise ValueError(f"profile 'hardened' needs {name} (got {name}=False)")
            switches[name] = value if value is not None else hardened or existing is not None
        return dataclasses.replace(self, **switches)


@dataclass(frozen=True, kw_only=True)
class ObservabilityOptions:
    """Logs, alarms and who hears them.

    Attributes:
        alarm_email: subscribed to the alarm topic (SNS mails a confirmation first: alarms
            reach the address only once it is confirmed); default none.
        log_level: the functions' Powertools log level, one of DEBUG, INFO, WARNING, ERROR,
            CRITICAL; default INFO.
        error_rate_threshold_percent: a function's error-rate alarm fires above this share of
            its invocations in 5 minutes, more than 0 and at most 100; default 1.
        error_rate_min_invocations: fewer invocations than this in 5 minutes count as no error
            rate (one failure in three calls is no trend), at least 1; default 20.
        existing_alarm_topic_obj: the topic the alarms go to instead of a new one; its key
            (``master_key``) gets the statement that lets this pipeline's alarms use it, when
            it is a key of this app. In the hardened profile it must be encrypted and its key
            known. Default: a new topic under a key of its own (or the pipeline's).
    """

    alarm_email: str | None = None
    existing_alarm_topic_obj: sns.ITopic | None = None
    log_level: str = "INFO"
    error_rate_threshold_percent: float = ERROR_RATE_THRESHOLD_PERCENT
    error_rate_min_invocations: int = MIN_INVOCATIONS_FOR_ERROR_RATE

    def __post_init__(self) -> None:
        if self.log_level not in LOG_LEVELS:
            raise ValueError(
                f"log_level must be one of {', '.join(LOG_LEVELS)} (got {self.log_level!r})"
            )
        check_error_rate(
            self.error_rate_threshold_percent,
            self.error_rate_min_invocations,
            min_name="error_rate_min_invocations",
        )


@dataclass(frozen=True, kw_only=True)
class LambdaOptions:
    """The functions' code and the props they share.

    Attributes:
        code: Lambda code to use instead of the packaged ``runtime``; default: packaged.
        dependencies_layer: layer to use instead of the bundled one; default: bundled.
        bundle_dependencies: install ``runtime/requirements.txt`` into the layer at synth time
            (pip, no Docker); default True. Tests turn it off.
        function_props: extra props for every function, a mapping or a
            ``lambda_.FunctionOptions`` (``lambda_.FunctionProps`` is refused: code, handler
            and runtime are the construct's); default none. The processor's 4 GiB ephemeral
            storage is a default that ``ephemeral_storage_size`` replaces;
            ``reserved_concurrent_executions`` is refused (use
            `IngestOptions.reserved_concurrency`).
    """

    code: lambda_.Code | None = None
    dependencies_layer: lambda_.ILayerVersion | None = None
    bundle_dependencies: bool = True
    function_props: Mapping[str, Any] | lambda_.FunctionOptions | None = field(default=None)


OPTIONS: Final[dict[str, type[Any]]] = {
    "api_options": ApiOptions,
    "ingest_options": IngestOptions,
    "split_options": SplitOptions,
    "storage_options": StorageOptions,
    "hardening_options": HardeningOptions,
    "observability_options": ObservabilityOptions,
    "lambda_options": LambdaOptions,
}
"""`FinancialPipeline`'s option arguments and their classes."""

DEPRECATED_PROPS: Final[dict[str, tuple[str, str]]] = {
    # The flat keyword arguments of release 0.1.0: (option argument, field).
    "authorization": ("api_options", "authorization"),
    "existing_user_pool": ("api_options", "existing_user_pool"),
    "cors_allow_origins": ("api_options", "cors_allow_origins"),
    "api_cloud_watch_role": ("api_options", "cloud_watch_role"),
    "max_upload_bytes": ("api_options", "max_upload_bytes"),
    "upload_url_ttl": ("api_options", "upload_url_ttl"),
    "report_url_ttl": ("api_options", "report_url_ttl"),
    "write_concurrency": ("ingest_options", "write_concurrency"),
    "processor_reserved_concurrency": ("ingest_options", "reserved_concurrency"),
    "split_threshold_bytes": ("split_options", "threshold_bytes"),
    "part_bytes": ("split_options", "part_bytes"),
    "split_max_concurrency": ("split_options", "max_concurrency"),
    "split_parse_max_concurrency": ("split_options", "parse_max_concurrency"),
    "job_ttl_days": ("storage_options", "job_ttl_days"),
    "bucket_props": ("storage_options", "bucket_props"),
    "results_table_warm_throughput": ("storage_options", "results_table_warm_throughput"),
    "customer_managed_key": ("hardening_options", "customer_managed_key"),
    "existing_encryption_key": ("hardening_options", "existing_encryption_key"),
    "web_acl": ("hardening_options", "web_acl"),
    "existing_web_acl_arn": ("hardening_options", "existing_web_acl_arn"),
    "run_in_vpc": ("hardening_options", "run_in_vpc"),
    "existing_vpc": ("hardening_options", "existing_vpc"),
    "vpc_endpoints": ("hardening_options", "vpc_endpoints"),
    "bucket_versioning": ("hardening_options", "bucket_versioning"),
    "alarm_email": ("observability_options", "alarm_email"),
    "log_level": ("observability_options", "log_level"),
    "code": ("lambda_options", "code"),
    "dependencies_layer": ("lambda_options", "dependencies_layer"),
    "bundle_dependencies": ("lambda_options", "bundle_dependencies"),
    "function_props": ("lambda_options", "function_props"),
}
"""Each flat keyword argument `FinancialPipeline` still takes, deprecated, and where it went."""


def from_deprecated(
    given: Mapping[str, Any | None], deprecated: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """The option objects with the deprecated flat arguments folded in, and one message per
    argument used. An unknown argument is a TypeError, as Python's own; an argument given both
    flat and in its option object is a ValueError."""
    unknown = sorted(set(deprecated) - set(DEPRECATED_PROPS))
    if unknown:
        raise TypeError(f"FinancialPipeline() got unexpected keyword argument(s): {unknown}")
    fields: dict[str, dict[str, Any]] = {}
    messages = []
    for prop, value in deprecated.items():
        argument, name = DEPRECATED_PROPS[prop]
        if given.get(argument) is not None:
            raise ValueError(f"{prop} is {argument}.{name}: pass it there only (got both)")
        fields.setdefault(argument, {})[name] = value
        messages.append(
            f"FinancialPipeline({prop}=...) is deprecated and goes in 0.3.0: "
            f"use {argument}={OPTIONS[argument].__name__}({name}=...)"
        )
    options = {
        argument: given.get(argument) or kind(**fields.get(argument, {}))
        for argument, kind in OPTIONS.items()
    }
    return options, messages
