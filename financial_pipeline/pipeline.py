"""FinancialPipeline: the L3 construct."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeVar

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from financial_pipeline._defaults import (
    DEFAULT_JOB_TTL_DAYS,
    DEFAULT_MAX_UPLOAD_BYTES,
    DEFAULT_PART_BYTES,
    DEFAULT_REPORT_URL_TTL,
    DEFAULT_SPLIT_PARSE_MAX_CONCURRENCY,
    DEFAULT_SPLIT_THRESHOLD_BYTES,
    DEFAULT_UPLOAD_URL_TTL,
    DEFAULT_WRITE_CONCURRENCY,
    LOG_LEVELS,
    MAX_PRESIGNED_POST_BYTES,
    MAX_UPLOAD_URL_TTL_DAYS,
    METRICS_NAMESPACE,
    METRICS_SERVICE,
    MIN_PART_BYTES,
    ON_DEMAND_INITIAL_WRITES_PER_SECOND,
    PARTITION_WRITER_WRITES_PER_SECOND,
    PROCESSOR_RESERVED_CONCURRENCY,
)
from financial_pipeline._names import name_prefix
from financial_pipeline._runtime import dependencies_code, function_code
from financial_pipeline.api import Api, AuthorizationMode
from financial_pipeline.contract import Env, JobEventType, JobStatus
from financial_pipeline.encryption import (
    allow_log_delivery,
    allow_log_groups,
    pipeline_key,
    use_only,
)
from financial_pipeline.firewall import Firewall, validate_web_acl_arn
from financial_pipeline.function import FunctionOptions
from financial_pipeline.ingest import Ingest
from financial_pipeline.job_events import job_events_pattern
from financial_pipeline.network import Network
from financial_pipeline.observability import Observability
from financial_pipeline.split import SplitProcessing
from financial_pipeline.storage import Storage

__all__ = ["FinancialPipeline", "Profile", "default_split_max_concurrency"]


class Profile(enum.StrEnum):
    """The security profile a pipeline is built with."""

    DEFAULT = "default"
    """SSE-S3 and AWS-managed encryption (R8), functions in Lambda's own network, no web ACL;
    each hardening prop may still be turned on by itself."""
    HARDENED = "hardened"
    """R26: every hardening prop on (one customer-managed key, a WAF web ACL, functions in a
    VPC, a versioned bucket); turning one off is refused."""


_ENVIRONMENT_NAME: Final = re.compile(r"^[a-z][a-z0-9-]{0,15}$")
_DEFAULT_EVENT_BUS: Final = "default"
_JOB_FINISHED_RULE: Final = "OnJobFinished"
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
        pipeline.on_job_finished(targets.SqsQueue(queue))  # one event per finished job

    Attributes:
        profile: the `Profile` the pipeline was built with.
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
        event_bus: the EventBridge bus the job events go to (R27).
        job_events_pattern: the pattern of every job event this pipeline publishes, for a
            rule of the consumer's own (`on_job_finished` makes one).
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
        api_cloud_watch_role: bool = False,
        bundle_dependencies: bool = True,
        code: lambda_.Code | None = None,
        dependencies_layer: lambda_.ILayerVersion | None = None,
        bucket_props: Mapping[str, Any] | s3.BucketProps | None = None,
        function_props: Mapping[str, Any] | lambda_.FunctionOptions | None = None,
        results_table_warm_throughput: dynamodb.WarmThroughput | None = None,
        split_threshold_bytes: int = DEFAULT_SPLIT_THRESHOLD_BYTES,
        part_bytes: int = DEFAULT_PART_BYTES,
        split_max_concurrency: int | None = None,
        split_parse_max_concurrency: int = DEFAULT_SPLIT_PARSE_MAX_CONCURRENCY,
        profile: Profile | str = Profile.DEFAULT,
        customer_managed_key: bool | None = None,
        existing_encryption_key: kms.IKey | None = None,
        web_acl: bool | None = None,
        existing_web_acl_arn: str | None = None,
        run_in_vpc: bool | None = None,
        existing_vpc: ec2.IVpc | None = None,
        vpc_endpoints: bool = True,
        bucket_versioning: bool | None = None,
        event_bus: events.IEventBus | None = None,
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
            api_cloud_watch_role: create a role for API Gateway to write CloudWatch Logs with
                and make it the account's (``AWS::ApiGateway::Account``); default False.
                The stage's access and execution logs need that role set once per account
                and region, but the setting is the account's, not this stack's: a second
                stack that sets it overwrites the first one's role. Turn it on in exactly one
                stack per account and region, or set the role outside CDK (see the README).
                The role is kept when the stack is deleted.
            bundle_dependencies: install ``runtime/requirements.txt`` into the layer at synth
                time (pip, no Docker); default True. Tests turn it off.
            code: Lambda code to use instead of the packaged ``runtime``; default: packaged.
            dependencies_layer: layer to use instead of the bundled one; default: bundled.
            bucket_props: extra upload bucket props, a mapping or an ``s3.BucketProps`` (see
                `Storage`); default none.
            function_props: extra props for every function, a mapping or a
                ``lambda_.FunctionOptions`` (``lambda_.FunctionProps`` is refused: code,
                handler and runtime are the construct's); default none. The processor's
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
            split_threshold_bytes: files larger than this are split into parts and processed
                in parallel on the state machine (R23); smaller ones keep the one-invocation
                path. At least ``part_bytes``, at most 5 GiB. Default 16 MiB: the single pass
                finishes such a file (~350k rows) well inside its timeout even on a table at
                the on-demand start, and the split's fixed cost pays back only above it (see
                docs/CAPACITY.md).
            part_bytes: target size of one part, cut on a record boundary; 1 MiB to
                ``split_threshold_bytes``. Default 8 MiB (~190k rows, ~6 s of parsing).
            split_max_concurrency: partitions written to the results table at once (the
                ``WritePartitions`` map), 1 to 10,000. Default:
                ``max(1, W // 10,000)``, where ``W`` is the results table's write warm
                throughput (``results_table_warm_throughput``, else 4,000/s, a new on-demand
                table's start) and 10,000 is the writes/s one partition writer sustains: the
                writers of one file together never ask for more than the table serves at
                once, so one large file does not throttle everyone else's writes. See
                `default_split_max_concurrency`.
            split_parse_max_concurrency: parts parsed at once (the ``ParseParts`` map), 1 to
                10,000. Parsing reads S3 and does not touch the results table, so this bounds
                only the Lambda concurrency one file takes from the account; default 50.
            profile: ``default`` or ``hardened`` (R26); default ``default``. ``hardened``
                turns on the four props below and refuses any of them set to False.
            customer_managed_key: encrypt the upload bucket (SSE-KMS with a bucket key), both
                tables, the failure queue, the alarm topic and every log group with one
                customer-managed key: ``existing_encryption_key``, else a new one with yearly
                rotation. Default: on in the hardened profile, else off (SSE-S3, R8).
            existing_encryption_key: the key to use (implies ``customer_managed_key``);
                default: a new key. Its owner maintains its policy, which must let CloudWatch
                Logs of the account and region use it (principal
                ``logs.<region>.amazonaws.com``, condition ``ArnLike
                kms:EncryptionContext:aws:logs:arn arn:<partition>:logs:<region>:<account>:
                log-group:*``) and CloudWatch publish this pipeline's alarms
                (``cloudwatch.amazonaws.com``, ``aws:SourceAccount`` and ``aws:SourceArn``
                of its alarms) and log delivery decrypt the state machine's logs
                (``delivery.logs.amazonaws.com``, ``kms:Decrypt``, ``aws:SourceAccount`` and
                ``aws:SourceArn`` ``arn:<partition>:logs:<region>:<account>:*``); the
                functions' grants go to their roles and need the key policy to delegate to
                the account's IAM policies.
            web_acl: associate a WAF web ACL with the API stage: ``existing_web_acl_arn``,
                else a new one (a per-address rate limit, AWS managed IP-reputation,
                known-bad-inputs and common rule groups, request logs with credentials
                redacted). Default: on in the hardened profile, else off.
            existing_web_acl_arn: a regional WAFv2 web ACL's ARN (implies ``web_acl``);
                default: a new web ACL. WAFv2 has no L2 construct to pass instead.
            run_in_vpc: run every function in a VPC: ``existing_vpc``, else a new one with
                private isolated subnets and no NAT, reaching S3 and DynamoDB through gateway
                endpoints and Lambda, X-Ray, EventBridge and Step Functions through interface
                endpoints (billed hourly, see `financial_pipeline.network.INTERFACE_ENDPOINTS`),
                each with a policy that admits only the functions' calls to this pipeline's
                resources (`financial_pipeline.network.Network.admit_only`). Default: on in
                the hardened profile, else off.
            existing_vpc: the VPC to run in (implies ``run_in_vpc``); default: a new VPC.
            vpc_endpoints: create the endpoints in the VPC; default True. Turn off for an
                existing VPC that already has them, or that other workloads share (the
                endpoints created here admit the pipeline's calls only); the VPC's own
                endpoints must then admit the calls `Network.admit_only` lists.
            bucket_versioning: version both buckets, noncurrent versions deleted after 30
                days. Default: on in the hardened profile, else off.
            event_bus: an existing EventBridge bus for the job events (R27): when a job
                reaches a final status, the function that finished it (the processor, the
                split path's ``finish_split``, the sweeper) publishes one event there, and
                only those three functions may (``events:PutEvents`` on this bus alone).
                A bus encrypted with a customer-managed key needs its key policy to let
                those roles use the key. Default: the account's default bus.
        """
        super().__init__(scope, construct_id)
        self.profile = _choice(Profile, profile, "profile")
        hardened = self.profile == Profile.HARDENED
        use_key = _hardening(
            "customer_managed_key",
            customer_managed_key,
            hardened=hardened,
            existing=("existing_encryption_key", existing_encryption_key),
        )
        use_web_acl = _hardening(
            "web_acl",
            web_acl,
            hardened=hardened,
            existing=("existing_web_acl_arn", existing_web_acl_arn),
        )
        use_vpc = _hardening(
            "run_in_vpc", run_in_vpc, hardened=hardened, existing=("existing_vpc", existing_vpc)
        )
        versioned = _hardening("bucket_versioning", bucket_versioning, hardened=hardened)
        if not vpc_endpoints and not use_vpc:
            raise ValueError("vpc_endpoints=False needs run_in_vpc or existing_vpc (got neither)")
        if existing_web_acl_arn is not None:
            validate_web_acl_arn(existing_web_acl_arn)
        mode = _choice(AuthorizationMode, authorization, "authorization")
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
        _validate_split(split_threshold_bytes=split_threshold_bytes, part_bytes=part_bytes)
        if split_max_concurrency is None:
            split_max_concurrency = default_split_max_concurrency(results_table_warm_throughput)
        # Physical names come from this construct's place in the app, so two pipelines in one
        # stack never clash.
        names = name_prefix(self)

        self.encryption_key: kms.IKey | None = None
        if use_key:
            self.encryption_key = existing_encryption_key or pipeline_key(
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
                existing_vpc=existing_vpc,
                endpoints=vpc_endpoints,
                encryption_key=self.encryption_key,
                removal_policy=removal_policy,
            )
            if use_vpc
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
            if use_web_acl and existing_web_acl_arn is None
            else None
        )
        web_acl_arn = (
            self.firewall.web_acl.attr_arn if self.firewall is not None else existing_web_acl_arn
        )

        self.storage = Storage(
            self,
            "Storage",
            removal_policy=removal_policy,
            job_ttl_days=job_ttl_days,
            cors_allow_origins=cors_allow_origins,
            bucket_props=bucket_props,
            results_table_warm_throughput=results_table_warm_throughput,
            encryption_key=self.encryption_key,
            versioned=versioned,
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
            _POWERTOOLS_SERVICE_NAME: METRICS_SERVICE,
            _POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
            _POWERTOOLS_LOG_LEVEL: log_level,
            Env.ENVIRONMENT: environment_name,
        }
        functions = FunctionOptions(
            code=code or function_code(),
            environment=environment,
            layers=[self.dependencies_layer],
            removal_policy=removal_policy,
            function_props=function_props,
            encryption_key=self.encryption_key,
            vpc=self.network.vpc if self.network else None,
            vpc_subnets=self.network.subnets if self.network else None,
            security_groups=[self.network.security_group] if self.network else (),
        )

        self.ingest = Ingest(
            self,
            "Ingest",
            storage=self.storage,
            functions=functions,
            reserved_concurrency=processor_reserved_concurrency,
            encryption_key=self.encryption_key,
        )
        self.split = SplitProcessing(
            self,
            "Split",
            storage=self.storage,
            functions=functions,
            max_concurrency=split_max_concurrency,
            parse_max_concurrency=split_parse_max_concurrency,
            # By ARN: given the key itself, CDK's state machine adds a log-delivery statement
            # without source conditions to its policy; allow_log_delivery adds it with them.
            encryption_key=(
                use_only(self, "SplitEncryptionKey", self.encryption_key)
                if self.encryption_key is not None
                else None
            ),
            # Execution-status events finish_split failed on join the processor's failures.
            failure_queue=self.ingest.failure_queue,
        )
        # The processor plans a large file: it writes the manifests under split/ and starts
        # the job's execution; the planning pass itself stays under its duration SLO alarm.
        processor = self.ingest.processor
        self.split.grant_start_job(processor)
        self.storage.grant_write_split(processor)
        processor.add_environment(Env.STATE_MACHINE_ARN, self.split.state_machine.state_machine_arn)
        processor.add_environment(Env.SPLIT_THRESHOLD_BYTES, str(split_threshold_bytes))
        processor.add_environment(Env.PART_BYTES, str(part_bytes))
        # A split job stays PROCESSING while its execution runs: the sweeper waits that long.
        self.ingest.sweeper.add_environment(
            Env.SPLIT_TIMEOUT_SECONDS, str(int(self.split.timeout.to_seconds()))
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
            authorization=mode,
            existing_user_pool=existing_user_pool,
            cors_allow_origins=cors_allow_origins,
            api_name=f"{names}-api",
            cloud_watch_role=api_cloud_watch_role,
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
            alarm_email=alarm_email,
            encryption_key=self.encryption_key,
            environment_name=environment_name,
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
            description=description or "Job events of the financial pipeline (R27)",
            targets=[target],
        )


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


def _validate_split(*, split_threshold_bytes: int, part_bytes: int) -> None:
    if not MIN_PART_BYTES <= part_bytes <= MAX_PRESIGNED_POST_BYTES:
        raise ValueError(
            f"part_bytes must be between {MIN_PART_BYTES} (1 MiB) and "
            f"{MAX_PRESIGNED_POST_BYTES} (5 GiB) (got {part_bytes})"
        )
    if not part_bytes <= split_threshold_bytes <= MAX_PRESIGNED_POST_BYTES:
        raise ValueError(
            f"split_threshold_bytes must be between part_bytes ({part_bytes}) and "
            f"{MAX_PRESIGNED_POST_BYTES} (5 GiB) (got {split_threshold_bytes})"
        )


_E = TypeVar("_E", bound=enum.StrEnum)


def _choice(kind: type[_E], value: _E | str, what: str) -> _E:
    """``value`` as a member of ``kind``; a ValueError that lists the allowed values if not."""
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(repr(member.value) for member in kind)
        raise ValueError(f"{what} must be one of {allowed} (got {value!r})") from None


def _hardening(
    name: str,
    value: bool | None,
    *,
    hardened: bool,
    existing: tuple[str, object | None] = ("", None),
) -> bool:
    """Whether one hardening prop is on: its own value, else implied by an existing resource
    or the hardened profile. Turning it off against either is a contradiction."""
    existing_name, resource = existing
    if value is False and resource is not None:
        raise ValueError(f"{existing_name} needs {name} (got {name}=False)")
    if value is False and hardened:
        raise ValueError(f"profile 'hardened' needs {name} (got {name}=False)")
    return value if value is not None else hardened or resource is not None


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
