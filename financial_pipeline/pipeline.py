"""FinancialPipeline: the L3 construct."""

from __future__ import annotations

import enum
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from financial_pipeline._defaults import (
    METRIC_PERIOD,
    METRICS_NAMESPACE,
    METRICS_SERVICE,
    ON_DEMAND_INITIAL_WRITES_PER_SECOND,
    PARTITION_WRITER_WRITES_PER_SECOND,
)
from financial_pipeline._names import name_prefix
from financial_pipeline._runtime import dependencies_code, function_code
from financial_pipeline.api import Api
from financial_pipeline.contract import Env, JobEventType, JobStatus, Metric
from financial_pipeline.encryption import (
    allow_log_delivery,
    allow_log_groups,
    pipeline_key,
    use_only,
)
from financial_pipeline.firewall import Firewall
from financial_pipeline.function import FunctionOptions
from financial_pipeline.ingest import Ingest
from financial_pipeline.job_events import job_events_pattern
from financial_pipeline.network import Network
from financial_pipeline.observability import Observability
from financial_pipeline.options import (
    ApiOptions,
    HardeningOptions,
    IngestOptions,
    LambdaOptions,
    ObservabilityOptions,
    SplitOptions,
    StorageOptions,
    choice,
    from_deprecated,
)
from financial_pipeline.split import SplitProcessing
from financial_pipeline.storage import Storage

__all__ = ["FinancialPipeline", "PipelineOptions", "Profile", "default_split_max_concurrency"]


class Profile(enum.StrEnum):
    """The security profile a pipeline is built with."""

    DEFAULT = "default"
    """SSE-S3 and AWS-managed encryption, functions in Lambda's own network, no web ACL;
    each hardening prop may still be turned on by itself."""
    HARDENED = "hardened"
    """Every hardening option on (one customer-managed key, a WAF web ACL, functions in a
    VPC, a versioned bucket); turning one off is refused."""


_ENVIRONMENT_NAME: Final = re.compile(r"^[a-z][a-z0-9-]{0,15}$")
_DEFAULT_EVENT_BUS: Final = "default"
_JOB_FINISHED_RULE: Final = "OnJobFinished"
# Powertools' own settings (not the pipeline's contract), read by the Lambda code's logger,
# tracer and metrics.
_POWERTOOLS_SERVICE_NAME: Final = "POWERTOOLS_SERVICE_NAME"
_POWERTOOLS_METRICS_NAMESPACE: Final = "POWERTOOLS_METRICS_NAMESPACE"
_POWERTOOLS_LOG_LEVEL: Final = "POWERTOOLS_LOG_LEVEL"


@dataclass(frozen=True, kw_only=True)
class PipelineOptions:
    """Every option a `FinancialPipeline` was built with, defaults filled in and the hardening
    switches decided by the profile (`FinancialPipeline.options`).

    Attributes:
        api: the `ApiOptions`.
        ingest: the `IngestOptions`.
        split: the `SplitOptions`.
        storage: the `StorageOptions`.
        hardening: the `HardeningOptions`, each switch True or False as the profile decided.
        observability: the `ObservabilityOptions`.
        lambda_: the `LambdaOptions`.
    """

    api: ApiOptions
    ingest: IngestOptions
    split: SplitOptions
    storage: StorageOptions
    hardening: HardeningOptions
    observability: ObservabilityOptions
    lambda_: LambdaOptions


class FinancialPipeline(Construct):
    """An event-driven pipeline for financial market CSV files.

    Clients ask the API for a presigned POST, upload a CSV to the bucket, the processor stores
    every valid row in the results table, and the API serves job status and stored rows.

    Example::

        from financial_pipeline import FinancialPipeline

        pipeline = FinancialPipeline(stack, "Pipeline", environment_name="dev")
        pipeline.api.rest_api.url  # the stage URL
        pipeline.on_job_finished(targets.SqsQueue(queue))  # one event per finished job

    Attributes:
        environment_name: the environment the functions report in their metrics and logs.
        profile: the `Profile` the pipeline was built with.
        options: every option it was built with, defaults filled in (`PipelineOptions`).
        encryption_key: the customer-managed key of every data store and log group, or None.
        network: the VPC and its endpoints (`Network`), or None.
        firewall: the web ACL the pipeline created (`Firewall`), or None (none, or an
            existing one associated by ARN).
        storage: bucket and tables (`Storage`).
        ingest: processor, failure queue and sweeper (`Ingest`).
        split: the state machine and functions that process large files (`SplitProcessing`).
        api: REST API and its handlers (`Api`).
        observability: alarms, alarm topic and dashboard (`Observability`).
        dependencies_layer: the layer with the Lambda code's dependencies.
        event_bus: the EventBridge bus the job events go to.
        job_events_pattern: the pattern of every job event this pipeline publishes, for a
            rule of the consumer's own (`on_job_finished` makes one).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment_name: str,
        profile: Profile | str = Profile.DEFAULT,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        event_bus: events.IEventBus | None = None,
        api_options: ApiOptions | None = None,
        ingest_options: IngestOptions | None = None,
        split_options: SplitOptions | None = None,
        storage_options: StorageOptions | None = None,
        hardening_options: HardeningOptions | None = None,
        observability_options: ObservabilityOptions | None = None,
        lambda_options: LambdaOptions | None = None,
        **deprecated: Any,
    ) -> None:
        """Create the pipeline.

        Args:
            environment_name: ``dev``, ``staging``, ``prod`` or any lowercase name up to 16
                characters, starting with a letter: the deployment environment the functions
                report, as their ``ENVIRONMENT`` variable and the ``environment`` dimension of
                their custom metrics. Required: a default would tag a forgotten prod
                pipeline's metrics as another environment's. It names no resource: physical
                names (alarms, dashboard, API) come from the stack name and this construct's
                path, tags are the app's.
            profile: ``default`` or ``hardened`` (every switch of `HardeningOptions` turned
                on; turning one off is refused). Default ``default``.
            removal_policy: of buckets, tables, keys and log groups; default RETAIN.
            event_bus: an existing EventBridge bus for the job events: when a job reaches a
                final status, the function that finished it (the processor, the split path's
                ``finish_split``, the sweeper) publishes one event there, and only those three
                functions may (``events:PutEvents`` on this bus alone). A bus encrypted with a
                customer-managed key needs its key policy to let those roles use the key.
                Default: the account's default bus.
            api_options: the REST API and its presigned URLs (`ApiOptions`).
            ingest_options: the single pass and the sweeper (`IngestOptions`).
            split_options: the split path for large files (`SplitOptions`).
            storage_options: the bucket and the tables (`StorageOptions`).
            hardening_options: encryption keys, web ACL, VPC, versioning
                (`HardeningOptions`).
            observability_options: alarms, their e-mail, log level (`ObservabilityOptions`).
            lambda_options: the functions' code, layer and shared props (`LambdaOptions`).
            **deprecated: the flat keyword arguments of release 0.1.0 (``alarm_email=``,
                ``bundle_dependencies=``, ...), each still taken with a ``DeprecationWarning``
                that names its option class, until 0.3.0
                (`financial_pipeline.options.DEPRECATED_PROPS`).
        """
        given = {
            "api_options": api_options,
            "ingest_options": ingest_options,
            "split_options": split_options,
            "storage_options": storage_options,
            "hardening_options": hardening_options,
            "observability_options": observability_options,
            "lambda_options": lambda_options,
        }
        options, messages = from_deprecated(given, deprecated)
        for message in messages:
            warnings.warn(message, DeprecationWarning, stacklevel=2)
        super().__init__(scope, construct_id)
        if not _ENVIRONMENT_NAME.match(environment_name):
            raise ValueError(
                "environment_name must be 1-16 lowercase letters, digits or '-', starting with "
                f"a letter (got {environment_name!r})"
            )
        self.environment_name = environment_name
        self.profile = choice(Profile, profile, "profile")
        api: ApiOptions = options["api_options"]
        ingest: IngestOptions = options["ingest_options"]
        split: SplitOptions = options["split_options"]
        stored: StorageOptions = options["storage_options"]
        hardening: HardeningOptions = options["hardening_options"].resolved(
            hardened=self.profile == Profile.HARDENED
        )
        observe: ObservabilityOptions = options["observability_options"]
        code: LambdaOptions = options["lambda_options"]
        self.options = PipelineOptions(
            api=api,
            ingest=ingest,
            split=split,
            storage=stored,
            hardening=hardening,
            observability=observe,
            lambda_=code,
        )
        split_max_concurrency = (
            split.max_concurrency
            if split.max_concurrency is not None
            else default_split_max_concurrency(stored.results_table_warm_throughput)
        )
        # Physical names come from this construct's place in the app, so two pipelines in one
        # stack never clash.
        names = name_prefix(self)

        self.encryption_key: kms.IKey | None = None
        if hardening.customer_managed_key:
            self.encryption_key = hardening.existing_encryption_key or pipeline_key(
                self,
                "EncryptionKey",
                description=f"{names}: bucket, tables, queue, topic and log groups",
                removal_policy=removal_policy,
            )
            allow_log_groups(self.encryption_key)
            allow_log_delivery(self.encryption_key)
        self.network = (
            Network(
                self,
                "Network",
                existing_vpc=hardening.existing_vpc,
                endpoints=hardening.vpc_endpoints,
                encryption_key=self.encryption_key,
                removal_policy=removal_policy,
            )
            if hardening.run_in_vpc
            else None
        )
        self.firewall = (
            Firewall(
                self,
                "Firewall",
                name=name_prefix(self, max_length=100),
                encryption_key=self.encryption_key,
                removal_policy=removal_policy,
            )
            if hardening.web_acl and hardening.existing_web_acl_arn is None
            else None
        )
        web_acl_arn = (
            self.firewall.web_acl.attr_arn
            if self.firewall is not None
            else hardening.existing_web_acl_arn
        )

        self.storage = Storage(
            self,
            "Storage",
            removal_policy=removal_policy,
            job_ttl_days=stored.job_ttl_days,
            cors_allow_origins=api.cors_allow_origins,
            bucket_props=stored.bucket_props,
            results_table_warm_throughput=stored.results_table_warm_throughput,
            encryption_key=self.encryption_key,
            versioned=bool(hardening.bucket_versioning),
            existing_bucket_obj=stored.existing_bucket_obj,
            existing_results_table_obj=stored.existing_results_table_obj,
            existing_jobs_table_obj=stored.existing_jobs_table_obj,
        )
        self.dependencies_layer = code.dependencies_layer or lambda_.LayerVersion(
            self,
            "DependenciesLayer",
            code=dependencies_code(install=code.bundle_dependencies),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_14],
            compatible_architectures=[lambda_.Architecture.ARM_64],
            description="Dependencies of the pipeline's Lambda code",
            removal_policy=RemovalPolicy.DESTROY,
        )
        environment = {
            Env.BUCKET_NAME: self.storage.bucket.bucket_name,
            Env.JOBS_TABLE_NAME: self.storage.jobs_table.table_name,
            Env.RESULTS_TABLE_NAME: self.storage.results_table.table_name,
            Env.MAX_UPLOAD_BYTES: str(api.max_upload_bytes),
            Env.UPLOAD_URL_TTL_SECONDS: str(int(api.upload_url_ttl.to_seconds())),
            Env.REPORT_URL_TTL_SECONDS: str(int(api.report_url_ttl.to_seconds())),
            Env.JOB_TTL_DAYS: str(stored.job_ttl_days),
            Env.WRITE_CONCURRENCY: str(ingest.write_concurrency),
            _POWERTOOLS_SERVICE_NAME: METRICS_SERVICE,
            _POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
            _POWERTOOLS_LOG_LEVEL: observe.log_level,
            Env.ENVIRONMENT: environment_name,
        }
        functions = FunctionOptions(
            code=code.code or function_code(),
            environment=environment,
            layers=[self.dependencies_layer],
            removal_policy=removal_policy,
            function_props=code.function_props,
            encryption_key=self.encryption_key,
            vpc=self.network.vpc if self.network else None,
            vpc_subnets=self.network.subnets if self.network else None,
            security_groups=[self.network.security_group] if self.network else (),
        )

        self.split = SplitProcessing(
            self,
            "Split",
            storage=self.storage,
            functions=functions,
            max_concurrency=split_max_concurrency,
            parse_max_concurrency=split.parse_max_concurrency,
            threshold_bytes=split.threshold_bytes,
            part_bytes=split.part_bytes,
            # By ARN: given the key itself, CDK's state machine adds a log-delivery statement
            # without source conditions to its policy; allow_log_delivery adds it with them.
            encryption_key=(
                use_only(self, "SplitEncryptionKey", self.encryption_key)
                if self.encryption_key is not None
                else None
            ),
        )
        # The ingest owns its functions' wiring to the split: grants, variables, failures.
        self.ingest = Ingest(
            self,
            "Ingest",
            storage=self.storage,
            functions=functions,
            reserved_concurrency=ingest.reserved_concurrency,
            sweep_interval=ingest.sweep_interval,
            encryption_key=self.encryption_key,
            split=self.split,
        )
        self.event_bus = event_bus or events.EventBus.from_event_bus_name(
            self, "DefaultEventBus", _DEFAULT_EVENT_BUS
        )
        # The functions that finish jobs publish their events (R27), and only they may. The
        # ARN, not the name: a bus of another account is then the one they reach.
        for publisher in (self.ingest.processor, self.split.finish_split, self.ingest.sweeper):
            publisher.add_environment(Env.EVENT_BUS_ARN, self.event_bus.event_bus_arn)
            self.event_bus.grant_put_events_to(publisher)
        self.job_events_pattern = job_events_pattern()
        self._job_finished_rules = 0
        self.api = Api(
            self,
            "Api",
            storage=self.storage,
            functions=functions,
            authorization=api.mode,
            existing_user_pool=api.existing_user_pool,
            cors_allow_origins=api.cors_allow_origins,
            api_name=f"{names}-api",
            cloud_watch_role=api.cloud_watch_role,
            web_acl_arn=web_acl_arn,
        )
        self.observability = Observability(
            self,
            "Observability",
            storage=self.storage,
            ingest=self.ingest,
            api=self.api,
            split=self.split,
            name_prefix=names,
            alarm_email=observe.alarm_email,
            error_rate_threshold_percent=observe.error_rate_threshold_percent,
            min_invocations=observe.error_rate_min_invocations,
            encryption_key=self.encryption_key,
            environment_name=environment_name,
            existing_topic=observe.existing_alarm_topic_obj,
        )
        if self.network is not None:
            # Each VPC endpoint admits these functions calling this pipeline's resources only.
            functions_in_vpc = [
                *self.ingest.functions.values(),
                *self.split.functions.values(),
                *self.api.functions.values(),
            ]
            self.network.admit_only(
                [function.role for function in functions_in_vpc if function.role is not None],
                bucket=self.storage.bucket,
                tables=[self.storage.jobs_table, self.storage.results_table],
                event_bus=self.event_bus,
                invoked_functions=[self.ingest.processor],
                state_machines=[self.split.state_machine],
            )

    def on_job_finished(
        self,
        target: events.IRuleTarget,
        *,
        statuses: Sequence[JobStatus | str] | None = None,
        detail_types: Sequence[JobEventType | str] | None = None,
        rule_id: str | None = None,
        description: str | None = None,
    ) -> events.Rule:
        """Send this pipeline's job events to ``target``: a rule on `event_bus`.

        Example::

            pipeline.on_job_finished(targets.SqsQueue(queue))
            pipeline.on_job_finished(targets.LambdaFunction(pager), statuses=["FAILED"])

        Delivery is at least once: a consumer drops repeats by ``detail.eventId``
        (``<jobId>:<status>``). The target's own options (a dead-letter queue, retries) are
        the consumer's to set, e.g. ``targets.SqsQueue(queue, dead_letter_queue=dlq)``.

        Args:
            target: where the events go.
            statuses: only jobs that ended in these final statuses; default: any (see
                `financial_pipeline.job_events.job_events_pattern`).
            detail_types: only these detail-types (``Job Completed``, ``Job Failed``,
                ``Job Expired``); default: all, or those of ``statuses``.
            rule_id: the rule's construct id under this pipeline; default ``OnJobFinished``,
                then ``OnJobFinished2``, ``OnJobFinished3``... in call order. Give one when
                rules may be added or removed later, so the others keep their ids.
            description: the rule's description; default: says what it forwards.

        Returns:
            the rule, in this pipeline's stack.
        """
        pattern = job_events_pattern(statuses=statuses, detail_types=detail_types)
        self._job_finished_rules += 1
        if rule_id is None:
            count = self._job_finished_rules
            rule_id = _JOB_FINISHED_RULE if count == 1 else f"{_JOB_FINISHED_RULE}{count}"
        return events.Rule(
            self,
            rule_id,
            event_bus=self.event_bus,
            event_pattern=pattern,
            description=description or "Job events of the financial pipeline",
            targets=[target],
        )

    def grant_invoke_api(
        self, grantee: iam.IGrantable, *, method: str = "*", path: str = "/*"
    ) -> iam.Grant:
        """Let ``grantee`` call the API (``execute-api:Invoke``): see `Api.grant_invoke_api`.

        Example::

            pipeline.grant_invoke_api(feed_role)  # upload files, read status and results
            pipeline.grant_invoke_api(report_role, method="GET", path="/results/*")
        """
        return self.api.grant_invoke_api(grantee, method=method, path=path)

    def grant_read_results(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` query the stored rows in the results table directly
        (``dynamodb:Query``, and the key's decrypt with a customer-managed key): for a
        consumer in the same account that reads more than the API pages."""
        return self.storage.grant_read_results(grantee)

    def metric(
        self,
        name: Metric | str,
        *,
        statistic: str = "Sum",
        period: Duration = METRIC_PERIOD,
    ) -> cloudwatch.Metric:
        """One of the functions' custom metrics (`financial_pipeline.contract.Metric`), with
        the dimensions this pipeline's functions record it under.

        Example::

            cloudwatch.Alarm(stack, "Rejects", threshold=1000, evaluation_periods=1,
                             metric=pipeline.metric(Metric.ROWS_REJECTED))
        """
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=str(choice(Metric, name, "metric")),
            dimensions_map={"service": METRICS_SERVICE, "environment": self.environment_name},
            period=period,
            statistic=statistic,
        )

    # The metrics a consumer most often alarms on, summed over ``period`` (default 5 minutes).

    def metric_rows_accepted(self, *, period: Duration = METRIC_PERIOD) -> cloudwatch.Metric:
        """Rows stored by single-pass jobs."""
        return self.metric(Metric.ROWS_ACCEPTED, period=period)

    def metric_rows_rejected(self, *, period: Duration = METRIC_PERIOD) -> cloudwatch.Metric:
        """Rows single-pass jobs reported as rejected."""
        return self.metric(Metric.ROWS_REJECTED, period=period)

    def metric_split_rows_written(self, *, period: Duration = METRIC_PERIOD) -> cloudwatch.Metric:
        """Rows the split path's partition writers stored."""
        return self.metric(Metric.ROWS_WRITTEN, period=period)

    def metric_job_duration(
        self, *, statistic: str = "p99", period: Duration = METRIC_PERIOD
    ) -> cloudwatch.Metric:
        """Milliseconds from a single-pass job's start to its end (default p99)."""
        return self.metric(Metric.JOB_DURATION, statistic=statistic, period=period)

    def metric_job_events_failed(self, *, period: Duration = METRIC_PERIOD) -> cloudwatch.Metric:
        """Job events that could not be published (what the pipeline's own alarm fires on)."""
        return self.metric(Metric.EVENTS_FAILED, period=period)


def default_split_max_concurrency(warm_throughput: dynamodb.WarmThroughput | None) -> int:
    """Partition writers of one file: ``max(1, W // 10,000)``.

    ``W`` is the results table's write warm throughput, else 4,000 writes/s (what a new
    on-demand table serves at once); 10,000 writes/s is what one partition writer sustains
    (one Python process at ~65-100 µs of client CPU per row, docs/CAPACITY.md). So the file's
    writers together ask for at most ``W``: 1 writer below 20,000 writes/s, 4 at 40,000.
    """
    writes = (
        warm_throughput.write_units_per_second
        if warm_throughput is not None and warm_throughput.write_units_per_second is not None
        else ON_DEMAND_INITIAL_WRITES_PER_SECOND
    )
    return max(1, int(writes) // PARTITION_WRITER_WRITES_PER_SECOND)
