"""FinancialPipeline: the L3 construct."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from financial_pipeline._defaults import (
    DEFAULT_JOB_TTL_DAYS,
    DEFAULT_MAX_UPLOAD_BYTES,
    DEFAULT_REPORT_URL_TTL,
    DEFAULT_UPLOAD_URL_TTL,
    DEFAULT_WRITE_CONCURRENCY,
    LOG_LEVELS,
    MAX_PRESIGNED_POST_BYTES,
    MAX_UPLOAD_URL_TTL_DAYS,
    PROCESSOR_RESERVED_CONCURRENCY,
)
from financial_pipeline._names import name_prefix
from financial_pipeline._runtime import dependencies_code, function_code
from financial_pipeline.api import Api, AuthorizationMode
from financial_pipeline.contract import Env
from financial_pipeline.function import FunctionOptions
from financial_pipeline.ingest import Ingest
from financial_pipeline.observability import Observability
from financial_pipeline.storage import Storage

__all__ = ["FinancialPipeline"]

_ENVIRONMENT_NAME: Final = re.compile(r"^[a-z][a-z0-9-]{0,15}$")
_METRICS_NAMESPACE: Final = "FinancialPipeline"
# Powertools' own settings (not the pipeline's contract), read by the Lambda code's logger,
# tracer and metrics.
_POWERTOOLS_SERVICE_NAME: Final = "POWERTOOLS_SERVICE_NAME"
_POWERTOOLS_METRICS_NAMESPACE: Final = "POWERTOOLS_METRICS_NAMESPACE"
_POWERTOOLS_LOG_LEVEL: Final = "POWERTOOLS_LOG_LEVEL"


class FinancialPipeline(Construct):
    """An event-driven pipeline for financial market CSV files.

    Clients ask the API for a presigned POST, upload a CSV to the bucket, the processor stores
    every valid row in the results table, and the API serves job status and stored rows.

    Example::

        from financial_pipeline import FinancialPipeline

        pipeline = FinancialPipeline(stack, "Pipeline", environment_name="dev")
        pipeline.api.rest_api.url  # the stage URL

    Attributes:
        storage: bucket and tables (`Storage`).
        ingest: processor, failure queue and sweeper (`Ingest`).
        api: REST API and its handlers (`Api`).
        observability: alarms, alarm topic and dashboard (`Observability`).
        dependencies_layer: the layer with the Lambda code's dependencies.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str = "dev",
        authorization: AuthorizationMode | str = AuthorizationMode.IAM,
        existing_user_pool: cognito.IUserPool | None = None,
        alarm_email: str | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
        log_level: str = "INFO",
        cors_allow_origins: Sequence[str] = (),
        upload_url_ttl: Duration = DEFAULT_UPLOAD_URL_TTL,
        report_url_ttl: Duration = DEFAULT_REPORT_URL_TTL,
        job_ttl_days: int = DEFAULT_JOB_TTL_DAYS,
        write_concurrency: int = DEFAULT_WRITE_CONCURRENCY,
        processor_reserved_concurrency: int = PROCESSOR_RESERVED_CONCURRENCY,
        api_cloud_watch_role: bool = True,
        bundle_dependencies: bool = True,
        code: lambda_.Code | None = None,
        dependencies_layer: lambda_.ILayerVersion | None = None,
        bucket_props: Mapping[str, Any] | None = None,
        function_props: Mapping[str, Any] | None = None,
        results_table_warm_throughput: dynamodb.WarmThroughput | None = None,
    ) -> None:
        """Create the pipeline.

        Args:
            environment_name: ``dev``, ``staging``, ``prod`` or any lowercase name up to 16
                characters: the deployment environment the functions report, as their
                ``ENVIRONMENT`` variable and the ``environment`` dimension of their custom
                metrics. It names no resource: physical names (alarms, dashboard, API) come
                from the stack name and this construct's path, tags are the app's. Default
                ``dev``.
            authorization: ``iam`` (default), ``cognito`` or ``none``.
            existing_user_pool: the pool to trust in ``cognito`` mode; default: a new pool.
            alarm_email: subscribed to the alarm topic; default none.
            removal_policy: of buckets, tables and log groups; default RETAIN.
            max_upload_bytes: size cap of one file, 1 byte to 5 GiB; default 100 MiB.
            log_level: Powertools log level; default INFO.
            cors_allow_origins: browser origins for the API and the presigned POST; default
                none. The API handlers get them as ``CORS_ALLOW_ORIGINS``; API Gateway's own
                error responses allow the origin only when exactly one is listed (see `Api`).
            upload_url_ttl: presigned POST lifetime; default 15 minutes.
            report_url_ttl: rejection report URL lifetime; default 15 minutes.
            job_ttl_days: days a job (and its report) is kept; default 30.
            write_concurrency: BatchWriteItem calls in flight per processor; default 8.
            processor_reserved_concurrency: default 100 (R15).
            api_cloud_watch_role: create API Gateway's account-level logging role; default
                True.
            bundle_dependencies: install ``runtime/requirements.txt`` into the layer at synth
                time (pip, no Docker); default True. Tests turn it off.
            code: Lambda code to use instead of the packaged ``runtime``; default: packaged.
            dependencies_layer: layer to use instead of the bundled one; default: bundled.
            bucket_props: extra upload bucket props (see `Storage`); default none.
            function_props: extra props for every function; default none. The processor's
                4 GiB ephemeral storage is a default that ``ephemeral_storage_size`` replaces;
                ``reserved_concurrent_executions`` is refused (use
                ``processor_reserved_concurrency``).
            results_table_warm_throughput: pre-warmed capacity of the results table, e.g.
                ``dynamodb.WarmThroughput(write_units_per_second=10_000)``: an on-demand table
                starts at 4,000 writes/s and scales up only as traffic grows, so a burst of
                files arriving together is throttled (and misses the 30-second objective,
                R21) while it scales; warm throughput makes that capacity available from the
                first write. Billed once when raised; does not lift the per-partition limit
                of 1,000 writes/s (one symbol). Default: unset (see docs/CAPACITY.md).
        """
        super().__init__(scope, construct_id)
        mode = _authorization_mode(authorization)
        _validate(
            environment_name=environment_name,
            mode=mode,
            existing_user_pool=existing_user_pool,
            max_upload_bytes=max_upload_bytes,
            log_level=log_level,
            job_ttl_days=job_ttl_days,
            write_concurrency=write_concurrency,
            upload_url_ttl=upload_url_ttl,
        )
        # Physical names come from this construct's place in the app, so two pipelines in one
        # stack never clash.
        names = name_prefix(self)

        self.storage = Storage(
            self,
            "Storage",
            removal_policy=removal_policy,
            job_ttl_days=job_ttl_days,
            cors_allow_origins=cors_allow_origins,
            bucket_props=bucket_props,
            results_table_warm_throughput=results_table_warm_throughput,
        )
        self.dependencies_layer = dependencies_layer or lambda_.LayerVersion(
            self,
            "DependenciesLayer",
            code=dependencies_code(install=bundle_dependencies),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_14],
            compatible_architectures=[lambda_.Architecture.ARM_64],
            description="Dependencies of the pipeline's Lambda code",
            removal_policy=RemovalPolicy.DESTROY,
        )
        environment = {
            Env.BUCKET_NAME: self.storage.bucket.bucket_name,
            Env.JOBS_TABLE_NAME: self.storage.jobs_table.table_name,
            Env.RESULTS_TABLE_NAME: self.storage.results_table.table_name,
            Env.MAX_UPLOAD_BYTES: str(max_upload_bytes),
            Env.UPLOAD_URL_TTL_SECONDS: str(int(upload_url_ttl.to_seconds())),
            Env.REPORT_URL_TTL_SECONDS: str(int(report_url_ttl.to_seconds())),
            Env.JOB_TTL_DAYS: str(job_ttl_days),
            Env.WRITE_CONCURRENCY: str(write_concurrency),
            _POWERTOOLS_SERVICE_NAME: "financial-pipeline",
            _POWERTOOLS_METRICS_NAMESPACE: _METRICS_NAMESPACE,
            _POWERTOOLS_LOG_LEVEL: log_level,
            Env.ENVIRONMENT: environment_name,
        }
        functions = FunctionOptions(
            code=code or function_code(),
            environment=environment,
            layers=[self.dependencies_layer],
            removal_policy=removal_policy,
            function_props=function_props,
        )

        self.ingest = Ingest(
            self,
            "Ingest",
            storage=self.storage,
            functions=functions,
            reserved_concurrency=processor_reserved_concurrency,
        )
        self.api = Api(
            self,
            "Api",
            storage=self.storage,
            functions=functions,
            authorization=mode,
            existing_user_pool=existing_user_pool,
            cors_allow_origins=cors_allow_origins,
            api_name=f"{names}-api",
            cloud_watch_role=api_cloud_watch_role,
        )
        self.observability = Observability(
            self,
            "Observability",
            storage=self.storage,
            ingest=self.ingest,
            api=self.api,
            name_prefix=names,
            alarm_email=alarm_email,
        )


def _authorization_mode(value: AuthorizationMode | str) -> AuthorizationMode:
    try:
        return AuthorizationMode(value)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in AuthorizationMode)
        raise ValueError(f"authorization must be one of {allowed} (got {value!r})") from None


def _validate(
    *,
    environment_name: str,
    mode: AuthorizationMode,
    existing_user_pool: cognito.IUserPool | None,
    max_upload_bytes: int,
    log_level: str,
    job_ttl_days: int,
    write_concurrency: int,
    upload_url_ttl: Duration,
) -> None:
    if not _ENVIRONMENT_NAME.match(environment_name):
        raise ValueError(
            "environment_name must be 1-16 lowercase letters, digits or '-', starting with a "
            f"letter (got {environment_name!r})"
        )
    if existing_user_pool is not None and mode != AuthorizationMode.COGNITO:
        raise ValueError(f"existing_user_pool needs authorization 'cognito' (got {mode.value!r})")
    if not 1 <= max_upload_bytes <= MAX_PRESIGNED_POST_BYTES:
        raise ValueError(
            f"max_upload_bytes must be between 1 and {MAX_PRESIGNED_POST_BYTES} "
            f"(got {max_upload_bytes})"
        )
    if log_level not in LOG_LEVELS:
        raise ValueError(f"log_level must be one of {', '.join(LOG_LEVELS)} (got {log_level!r})")
    if job_ttl_days < 1:
        raise ValueError(f"job_ttl_days must be at least 1 (got {job_ttl_days})")
    if not 1 <= write_concurrency <= 64:
        raise ValueError(f"write_concurrency must be between 1 and 64 (got {write_concurrency})")
    if not 60 <= upload_url_ttl.to_seconds() <= MAX_UPLOAD_URL_TTL_DAYS * 24 * 3600:
        raise ValueError(
            f"upload_url_ttl must be between 1 minute and {MAX_UPLOAD_URL_TTL_DAYS} days "
            f"(got {upload_url_ttl.to_human_string()})"
        )
