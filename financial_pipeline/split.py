"""SplitProcessing: large files in parallel on a Step Functions Distributed Map."""

from __future__ import annotations

from typing import Any, Final

import jsii
from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct, IValidation

from financial_pipeline._defaults import (
    DEFAULT_PART_BYTES,
    DEFAULT_SPLIT_PARSE_MAX_CONCURRENCY,
    DEFAULT_SPLIT_THRESHOLD_BYTES,
    LOG_RETENTION,
    MAX_DISTRIBUTED_MAP_CONCURRENCY,
    MAX_PRESIGNED_POST_BYTES,
    METRIC_PERIOD,
    MIN_PART_BYTES,
    PROCESSOR_MAX_RETRIES,
    SPLIT_EXECUTION_TIMEOUT,
)
from financial_pipeline._names import name_prefix
from financial_pipeline.contract import Handler, SplitState
from financial_pipeline.function import (
    FunctionGroup,
    FunctionOptions,
    PipelineFunction,
    identity_policy,
)
from financial_pipeline.nag import NIST, acknowledge, arn_of, compliance, finding_resource
from financial_pipeline.storage import Storage

__all__ = [
    "EXECUTION_ENDED_STATUSES",
    "SplitProcessing",
]

# The handlers and the state names are the contract's (`Handler`, `SplitState`): finish_split
# reads a failure's stage and the CheckKeys step by those names.
# The execution statuses that end it without its definition's ending (a timeout or an abort
# cannot be caught inside it): Step Functions' own EventBridge events fail the job then.
EXECUTION_ENDED_STATUSES: Final = ("FAILED", "TIMED_OUT", "ABORTED")
# A state machine name is at most 80 characters.
_STATE_MACHINE_NAME_LENGTH: Final = 80
# Lambda's transient errors, and the task's own failure (a crash, a timeout, a throttled
# dependency): a part is retried as a whole, which its handler makes idempotent.
_RETRIED_ERRORS: Final = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    sfn.Errors.TASKS_FAILED,
)
_STATE_MACHINE_INVOKED: Final = (
    "Invoked synchronously by the state machine, which retries the task with backoff and "
    "catches what still fails to end the job FAILED; a dead-letter queue would stay empty."
)
_FINISH_INVOKED: Final = (
    "Invoked synchronously by the state machine (which retries it, then catches into FailJob) "
    "and asynchronously by the execution-status rule, whose failed events go to the failure "
    "queue as an on-failure destination, which keeps what a dead-letter queue would lose."
)
_STATUS_RULE_DELIVERY: Final = (
    "EventBridge hands the status change to Lambda's asynchronous queue, where retries and "
    "the failure queue (on-failure destination) take over; a delivery EventBridge itself "
    "cannot make within its retry policy leaves the job to the sweeper after the execution "
    "timeout, as before the rule."
)
_MAP_BOUNDED: Final = (
    "Invoked only by the state machine, whose Distributed Map MaxConcurrency bounds how many "
    "run at once; reserving concurrency would take capacity from the account's functions."
)


@jsii.implements(sfn.IItemReader)
class _ManifestReader(sfn.S3JsonItemReader):
    """The ItemReader of a manifest under ``split/``.

    CDK's reader grants ``s3:GetObject`` on every object of the bucket (its key is a JSONPath,
    so CDK cannot narrow it); the manifests all live under ``split/``, which
    `Storage.grant_read_split` grants instead, with the key's decrypt in the hardened profile.
    """

    def provide_policy_statements(self) -> list[iam.PolicyStatement]:
        return []


class SplitProcessing(FunctionGroup, Construct):
    """Processes one large file in parallel and counts its progress.

    The processor plans a file above the split threshold into byte-range parts on record
    boundaries, writes two manifests under ``split/{jobId}/`` and starts an execution named
    after the job. The state machine (STANDARD, so that it can run for hours and be redriven):

    - ``ParseParts``: a Distributed Map over the parts manifest; each part is one child
      execution running ``parse_part``, which parses its byte range by the CSV rules and routes
      accepted rows by key hash into partition objects under ``split/``;
    - ``CheckKeys``: ``finish_split`` sums the parts' rows per symbol and refuses, before any
      write, a file whose hottest symbol cannot be written in the time the execution has left
      at DynamoDB's 1,000 writes/s per partition key (the job FAILED with
      ``PARTITION_KEY_TOO_HOT``; ``WriteOrStop`` then ends the execution at ``NothingToWrite``);
    - ``WritePartitions``: a Distributed Map over the partitions manifest; ``write_partition``
      resolves duplicates and conflicts of one partition (first line wins) and writes the
      results table;
    - ``Finish``: ``finish_split`` merges the per-part reports into ``reports/{jobId}.csv``
      (streamed from S3, no disk), sums the counts, archives the upload and finishes the job;
    - a step that still fails after the task retries is caught: a Pass state records its
      ``stage`` (``ParsePartsFailed`` and so on), and ``FailJob`` (``finish_split`` with
      outcome ``FAILED``) fails the job with the error (saying rows may be stored when the
      writes had begun), then the execution fails, so it can be redriven.

    An execution that times out, is aborted or fails without its job finished (a timeout
    cannot be caught inside the definition) is seen by the rule ``ExecutionEnded`` on Step
    Functions' own "Execution Status Change" events of this state machine, which invokes
    ``finish_split`` asynchronously to fail the job at once (``EXECUTION_TIMED_OUT`` and so on,
    naming the execution); retried twice, then the event goes to ``failure_queue``.

    Each child task is retried on Lambda's transient errors and ``States.TaskFailed`` (2 s,
    doubling, 3 attempts, full jitter). Executions log every event with their data (the states
    carry object keys, counts and error names, never row contents) to a 7-day log group, and
    are traced with X-Ray.

    Attributes:
        parse_part: parses one part.
        write_partition: writes one partition.
        finish_split: checks the write budget, finishes (or fails) the job.
        execution_ended: the rule on this state machine's FAILED / TIMED_OUT / ABORTED
            status changes.
        state_machine: the state machine; its physical name derives from this construct's
            place in the app.
        log_group: the state machine's log group (``/aws/vendedlogs/states/...``).
        threshold_bytes: files larger than this take this path.
        part_bytes: the target size of one part.
        failure_queue: where ``finish_split``'s failed status events go, once set.
        functions, log_groups: the three functions and their log groups by role name
            (``ParsePart``, ``WritePartition``, ``FinishSplit``), the shape of `Api` and
            `Ingest`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        storage: Storage,
        functions: FunctionOptions,
        max_concurrency: int,
        parse_max_concurrency: int = DEFAULT_SPLIT_PARSE_MAX_CONCURRENCY,
        threshold_bytes: int = DEFAULT_SPLIT_THRESHOLD_BYTES,
        part_bytes: int = DEFAULT_PART_BYTES,
        timeout: Duration = SPLIT_EXECUTION_TIMEOUT,
        encryption_key: kms.IKey | None = None,
        failure_queue: sqs.IQueue | None = None,
    ) -> None:
        """Create the functions and the state machine.

        Args:
            storage: the bucket and tables the functions work on.
            functions: code, environment, layers, removal policy (also of the state machine's
                log group) and extra props of the three functions.
            max_concurrency: partitions written at once (``WritePartitions``); see
                `FinancialPipeline` ``split_max_concurrency`` for how its default follows
                from the results table's write capacity. 1 to 10,000.
            parse_max_concurrency: parts parsed at once (``ParseParts``); default 50. 1 to
                10,000.
            threshold_bytes: files larger than this are split (the `Ingest` given this split
                tells its processor); ``part_bytes`` to 5 GiB, default 16 MiB.
            part_bytes: target size of one part; 1 MiB to ``threshold_bytes``, default 8 MiB.
            timeout: how long one execution may run; default 12 hours (a 5 GiB file at the
                on-demand table's 4,000 writes/s takes about 8).
            encryption_key: encrypts the state machine's definition and execution history and
                its log group; default: AWS-owned keys.
            failure_queue: where the execution-status events ``finish_split`` failed on after
                its retries go (an on-failure destination). Default: the failure queue of the
                `Ingest` this split is given to (``Ingest(split=...)``), which is watched by an
                alarm; a split given neither fails synthesis, since a queue nobody watches
                would lose those events quietly.
        """
        super().__init__(scope, construct_id)
        for name, value in (
            ("max_concurrency", max_concurrency),
            ("parse_max_concurrency", parse_max_concurrency),
        ):
            if not 1 <= value <= MAX_DISTRIBUTED_MAP_CONCURRENCY:
                raise ValueError(
                    f"{name} must be between 1 and {MAX_DISTRIBUTED_MAP_CONCURRENCY} (got {value})"
                )
        check_split_sizes(threshold_bytes=threshold_bytes, part_bytes=part_bytes)
        self.threshold_bytes = threshold_bytes
        self.part_bytes = part_bytes
        self._encryption_key = encryption_key

        self.parse_part = self._function(
            "ParsePart", Handler.PARSE_PART, "Parses one byte-range part of a large file", functions
        )
        self.write_partition = self._function(
            "WritePartition",
            Handler.WRITE_PARTITION,
            "Writes one partition of a large file's rows",
            functions,
        )
        self.finish_split = self._function(
            "FinishSplit",
            Handler.FINISH_SPLIT,
            "Merges the reports of a large file and finishes its job",
            # The R13 defaults: the report merge streams from S3 (no ephemeral storage beyond
            # Lambda's default, memory two read blocks per fragment within 256 MiB).
            functions,
            dlq_reason=_FINISH_INVOKED,
        )
        # parse_part: its byte range of the upload in, partition objects and its report out.
        storage.grant_read_uploads(self.parse_part)
        storage.grant_write_split(self.parse_part)
        storage.grant_update_jobs(self.parse_part)
        # write_partition: reads its job (the earliest fatal line), lists and reads its
        # partition objects, writes rows and its own summary.
        storage.grant_get_jobs(self.write_partition)
        storage.grant_list_split(self.write_partition)
        storage.grant_read_split(self.write_partition)
        storage.grant_write_split_multipart(self.write_partition)
        storage.grant_write_results(self.write_partition)
        storage.grant_update_jobs(self.write_partition)
        # finish_split: summaries and part reports in, the report out; archives the upload as
        # the processor does, then deletes the job's split/ objects (listing them finds those
        # of retried attempts that no manifest names).
        storage.grant_read_split(self.finish_split)
        storage.grant_delete_split(self.finish_split)
        storage.grant_write_reports(self.finish_split)
        storage.grant_read_uploads(self.finish_split)
        storage.grant_archive_uploads(self.finish_split)
        storage.grant_key_lookup(self.finish_split)
        storage.grant_read_write_jobs(self.finish_split)

        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            # Step Functions delivers logs through CloudWatch vended logs; under this prefix
            # delivery needs no entry in the account's size-limited log resource policy.
            log_group_name=f"/aws/vendedlogs/states/{name_prefix(self, max_length=400)}",
            retention=LOG_RETENTION,
            encryption_key=encryption_key,
            removal_policy=functions.removal_policy,
        )
        definition = self._definition(
            storage,
            max_concurrency=max_concurrency,
            parse_max_concurrency=parse_max_concurrency,
            timeout=timeout,
        )
        self.timeout = timeout
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            # Named, so that CDK can spell the state machine's ARN in the encryption-context
            # condition of the role's key grant: without a name it writes an ARN ending in
            # ":stateMachine:", which matches no state machine, and executions cannot decrypt.
            state_machine_name=name_prefix(self, max_length=_STATE_MACHINE_NAME_LENGTH),
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            timeout=timeout,
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=self.log_group,
                level=sfn.LogLevel.ALL,
                # The states carry job ids, object keys, offsets, counts and error names;
                # row contents stay in S3, so the data is safe to log and is what an
                # operator needs to see which part failed and why.
                include_execution_data=True,
            ),
            encryption_configuration=(
                sfn.CustomerManagedEncryptionConfiguration(encryption_key)
                if encryption_key is not None
                else None
            ),
        )
        # The ItemReader reads the manifests (see _ManifestReader).
        storage.grant_read_split(self.state_machine)
        self._acknowledge_role()
        self.execution_ended = self._execution_ended_rule()
        self.failure_queue: sqs.IQueue | None = None
        if failure_queue is not None:
            self.send_failures_to(failure_queue)
        self.node.add_validation(_NeedsFailureQueue(self))

    def send_failures_to(self, queue: sqs.IQueue) -> None:
        """Send the execution-status events ``finish_split`` failed on after its retries to
        ``queue`` (its on-failure destination). Called once: by the constructor when given
        ``failure_queue``, else by the `Ingest` this split is given to."""
        if self.failure_queue is not None:
            raise ValueError("this split's failure queue is already set")
        self.failure_queue = queue
        self.finish_split.configure_async_invoke(
            retry_attempts=PROCESSOR_MAX_RETRIES,
            max_event_age=Duration.hours(6),
            on_failure=destinations.SqsDestination(queue),
        )

    def grant_start_job(self, grantee: iam.IGrantable) -> iam.Grant:
        """Start an execution for a job (``states:StartExecution`` on this state machine).

        With a customer-managed key the caller also needs ``kms:GenerateDataKey`` to encrypt
        the execution's input, granted for this state machine's encryption context only.
        """
        grant = self.state_machine.grant_start_execution(grantee)
        if self._encryption_key is None:
            return grant
        return grant.combine(
            iam.Grant.add_to_principal(
                grantee=grantee,
                actions=["kms:GenerateDataKey"],
                resource_arns=[self._encryption_key.key_arn],
                conditions={
                    "StringEquals": {
                        "kms:EncryptionContext:aws:states:stateMachineArn": (
                            self.state_machine.state_machine_arn
                        )
                    }
                },
            )
        )

    # Metrics: sums over ``period`` (default 5 minutes).

    def metric_executions_started(self, *, period: Duration = METRIC_PERIOD) -> cloudwatch.IMetric:
        """Executions started: one per split file."""
        return self.state_machine.metric_started(period=period, statistic="Sum")

    def metric_executions_succeeded(
        self, *, period: Duration = METRIC_PERIOD
    ) -> cloudwatch.IMetric:
        """Executions that finished their job (whatever the job's final status)."""
        return self.state_machine.metric_succeeded(period=period, statistic="Sum")

    def metric_executions_failed(self, *, period: Duration = METRIC_PERIOD) -> cloudwatch.IMetric:
        """Executions that failed: a part or partition failed after its retries."""
        return self.state_machine.metric_failed(period=period, statistic="Sum")

    def metric_executions_timed_out(
        self, *, period: Duration = METRIC_PERIOD
    ) -> cloudwatch.IMetric:
        """Executions stopped by the execution timeout."""
        return self.state_machine.metric_timed_out(period=period, statistic="Sum")

    def metric_executions_aborted(self, *, period: Duration = METRIC_PERIOD) -> cloudwatch.IMetric:
        """Executions stopped by an operator (StopExecution)."""
        return self.state_machine.metric_aborted(period=period, statistic="Sum")

    def metric_executions_unsuccessful(
        self, *, period: Duration = METRIC_PERIOD
    ) -> cloudwatch.MathExpression:
        """Failed plus timed-out executions: split files that did not finish."""
        return cloudwatch.MathExpression(
            expression="failed + timedOut",
            using_metrics={
                "failed": self.metric_executions_failed(period=period),
                "timedOut": self.metric_executions_timed_out(period=period),
            },
            label="Split executions failed or timed out",
            period=period,
        )

    def metric_parts_parsed(self, *, period: Duration = METRIC_PERIOD) -> cloudwatch.IMetric:
        """Part parses, retries included. Distributed Map's own item metrics are published per
        Map Run ARN, minted at run time, so no dashboard or alarm can name them in advance."""
        return self.parse_part.metric_invocations(period=period, statistic="Sum")

    def metric_part_errors(self, *, period: Duration = METRIC_PERIOD) -> cloudwatch.IMetric:
        """Failed part parses (each is retried before the job fails)."""
        return self.parse_part.metric_errors(period=period, statistic="Sum")

    def metric_partitions_written(self, *, period: Duration = METRIC_PERIOD) -> cloudwatch.IMetric:
        """Partition writes, retries included."""
        return self.write_partition.metric_invocations(period=period, statistic="Sum")

    def metric_partition_errors(self, *, period: Duration = METRIC_PERIOD) -> cloudwatch.IMetric:
        """Failed partition writes."""
        return self.write_partition.metric_errors(period=period, statistic="Sum")

    def _execution_ended_rule(self) -> events.Rule:
        """Step Functions' status changes of this state machine's executions that ended
        without finishing (FAILED, TIMED_OUT, ABORTED) invoke ``finish_split`` asynchronously.
        """
        rule = events.Rule(
            self,
            "ExecutionEnded",
            description="Fails the job of a split execution that ended without finishing it",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={
                    "status": list(EXECUTION_ENDED_STATUSES),
                    "stateMachineArn": [self.state_machine.state_machine_arn],
                },
            ),
            targets=[targets.LambdaFunction(self.finish_split)],
        )
        acknowledge(rule, "Serverless-EventBusDLQ", _STATUS_RULE_DELIVERY)
        return rule

    def _function(
        self,
        construct_id: str,
        handler: str,
        description: str,
        options: FunctionOptions,
        *,
        dlq_reason: str = _STATE_MACHINE_INVOKED,
    ) -> lambda_.Function:
        created = PipelineFunction(
            self, construct_id, handler=handler, description=description, options=options
        )
        acknowledge(
            created.function,
            ["Serverless-LambdaDLQ", *compliance("LambdaDLQ", packs=(NIST,))],
            dlq_reason,
        )
        acknowledge(created.function, compliance("LambdaConcurrency", packs=(NIST,)), _MAP_BOUNDED)
        return self._add_member(construct_id, created)

    def _definition(
        self,
        storage: Storage,
        *,
        max_concurrency: int,
        parse_max_concurrency: int,
        timeout: Duration,
    ) -> sfn.IChainable:
        job = {
            "jobId.$": "$.jobId",
            "bucket.$": "$.bucket",
            "key.$": "$.key",
            "etag.$": "$.etag",
            "attempt.$": "$.attempt",
        }
        fail_job = self._invoke(
            SplitState.FAIL_JOB,
            self.finish_split,
            payload={**job, "outcome": "FAILED", "failure.$": "$.failure", "stage.$": "$.stage"},
            result_path=sfn.JsonPath.DISCARD,
            retry=True,
        ).next(
            sfn.Fail(
                self,
                SplitState.JOB_FAILED,
                error="SplitJobFailed",
                cause="A step failed after its retries; the job records which and why.",
            )
        )

        def catch(state: sfn.TaskStateBase | sfn.DistributedMap, stage: str) -> None:
            # Which step failed: on AWS a failed child of a Distributed Map surfaces as
            # States.ExceedToleratedFailureThreshold, naming no item.
            record = sfn.Pass(
                self,
                f"{stage}Failed",
                result=sfn.Result.from_string(stage),
                result_path="$.stage",
            ).next(fail_job)
            state.add_catch(record, errors=[sfn.Errors.ALL], result_path="$.failure")

        parse_parts = self._map(
            SplitState.PARSE_PARTS,
            storage,
            manifest_path="$.partsKey",
            item_selector={
                "jobId.$": "$.jobId",
                "bucket.$": "$.bucket",
                "key.$": "$.key",
                "etag.$": "$.etag",
                "part.$": "$$.Map.Item.Value",
            },
            task=self._invoke(SplitState.PARSE_PART, self.parse_part, retry=True),
            max_concurrency=parse_max_concurrency,
        )
        check_keys = self._invoke(
            SplitState.CHECK_KEYS,
            self.finish_split,
            payload={
                **job,
                "step": SplitState.CHECK_KEYS,
                "startedAt.$": "$$.Execution.StartTime",
                "timeoutSeconds": int(timeout.to_seconds()),
            },
            result_path="$.keys",
            retry=True,
        )
        write_partitions = self._map(
            SplitState.WRITE_PARTITIONS,
            storage,
            manifest_path="$.partitionsKey",
            item_selector={
                "jobId.$": "$.jobId",
                "bucket.$": "$.bucket",
                "partition.$": "$$.Map.Item.Value",
            },
            task=self._invoke(SplitState.WRITE_PARTITION, self.write_partition, retry=True),
            max_concurrency=max_concurrency,
        )
        finish = self._invoke(
            SplitState.FINISH,
            self.finish_split,
            payload={**job, "outcome": "SUCCEEDED"},
            retry=True,
        )
        for state, stage in (
            (parse_parts, SplitState.PARSE_PARTS),
            (check_keys, SplitState.CHECK_KEYS),
            (write_partitions, SplitState.WRITE_PARTITIONS),
            (finish, SplitState.FINISH),
        ):
            catch(state, stage)
        # CheckKeys answers write=false when the job is final already (refused there, or
        # finished by something else): nothing is written, the execution just ends.
        write_or_stop = (
            sfn.Choice(self, SplitState.WRITE_OR_STOP)
            .when(
                sfn.Condition.boolean_equals("$.keys.write", False),
                sfn.Succeed(self, SplitState.NOTHING_TO_WRITE),
            )
            .otherwise(write_partitions.next(finish))
        )
        return sfn.Chain.start(parse_parts).next(check_keys).next(write_or_stop)

    def _map(
        self,
        state_name: str,
        storage: Storage,
        *,
        manifest_path: str,
        item_selector: dict[str, Any],
        task: tasks.LambdaInvoke,
        max_concurrency: int,
    ) -> sfn.DistributedMap:
        # One item per child execution and STANDARD children: moto's engine (the local run)
        # has no ItemBatcher and rejects EXPRESS children of a distributed map; no tolerated
        # failures, since any failed part fails the job.
        state = sfn.DistributedMap(
            self,
            state_name,
            item_reader=_ManifestReader(
                bucket=storage.bucket, key=sfn.JsonPath.string_at(manifest_path)
            ),
            item_selector=item_selector,
            max_concurrency=max_concurrency,
            result_path=sfn.JsonPath.DISCARD,
        )
        state.item_processor(
            task, mode=sfn.ProcessorMode.DISTRIBUTED, execution_type=sfn.ProcessorType.STANDARD
        )
        return state

    def _invoke(
        self,
        state_name: str,
        function: lambda_.IFunction,
        *,
        payload: dict[str, Any] | None = None,
        result_path: str | None = None,
        retry: bool = False,
    ) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self,
            # The functions hold the role names as construct ids; the state keeps its name.
            f"{state_name}Task",
            state_name=state_name,
            lambda_function=function,
            payload=sfn.TaskInput.from_object(payload) if payload is not None else None,
            payload_response_only=True,
            # The retrier below covers Lambda's service errors; CDK's own would add a second.
            retry_on_service_exceptions=not retry,
            result_path=result_path,
        )
        if retry:
            task.add_retry(
                errors=list(_RETRIED_ERRORS),
                interval=Duration.seconds(2),
                backoff_rate=2,
                max_attempts=3,
                jitter_strategy=sfn.JitterType.FULL,
            )
        return task

    def _acknowledge_role(self) -> None:
        role = self.state_machine.role
        policy = identity_policy(role)
        if policy is not None:
            acknowledge(
                policy,
                "AwsSolutions-IAM5",
                "Log delivery (CreateLogDelivery and the other vended-logs actions) and X-Ray's "
                "PutTraceSegments support no resource-level permissions; CDK adds them for "
                "logging ALL and tracing.",
                applies_to="Resource::*",
            )
            acknowledge(
                policy,
                "AwsSolutions-IAM5",
                "CDK's LambdaInvoke grant covers the function's versions and aliases too; the "
                "tasks invoke the unqualified function only, and no other function is named.",
                applies_to=[f"Resource::{arn_of(f)}:*" for f in self.functions.values()],
            )
            acknowledge(
                policy,
                compliance("IAMNoInlinePolicy"),
                "CDK writes the state machine's least-privilege statements into an inline "
                "policy of its own role; a managed policy could be attached to other roles.",
            )
        # CDK's Distributed Map statements (child executions) live in a policy of their own.
        child_policy = self.state_machine.node.try_find_child("DistributedMapPolicy")
        if isinstance(child_policy, iam.Policy):
            document = Stack.of(self).resolve(child_policy.document.to_json())
            acknowledge(
                child_policy,
                "AwsSolutions-IAM5",
                "A Distributed Map describes, stops and redrives the child executions of this "
                "state machine, whose ids Step Functions mints at run time; the ARN patterns "
                "name this state machine's executions and map runs only.",
                applies_to=[
                    f"Resource::{finding_resource(self, resource)}"
                    for statement in document["Statement"]
                    for resource in _as_list(statement["Resource"])
                    if "*" in finding_resource(self, resource)
                ],
            )
            acknowledge(
                child_policy,
                compliance("IAMNoInlinePolicy"),
                "CDK's Distributed Map grant on the state machine's own child executions is an "
                "inline policy of the state machine's role.",
            )


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def check_split_sizes(*, threshold_bytes: int, part_bytes: int) -> None:
    """Refuse a part size outside 1 MiB to 5 GiB, or a threshold below the part size or above
    the largest upload."""
    if not MIN_PART_BYTES <= part_bytes <= MAX_PRESIGNED_POST_BYTES:
        raise ValueError(
            f"part_bytes must be between {MIN_PART_BYTES} (1 MiB) and "
            f"{MAX_PRESIGNED_POST_BYTES} (5 GiB) (got {part_bytes})"
        )
    if not part_bytes <= threshold_bytes <= MAX_PRESIGNED_POST_BYTES:
        raise ValueError(
            f"threshold_bytes must be between part_bytes ({part_bytes}) and "
            f"{MAX_PRESIGNED_POST_BYTES} (5 GiB) (got {threshold_bytes})"
        )


@jsii.implements(IValidation)
class _NeedsFailureQueue:
    """Fails synthesis of a split whose failure queue was never set."""

    def __init__(self, split: SplitProcessing) -> None:
        self._split = split

    def validate(self) -> list[str]:
        if self._split.failure_queue is not None:
            return []
        return [
            "SplitProcessing has no failure queue: pass failure_queue, or give the split to "
            "an Ingest (Ingest(split=...)), whose failure queue it then shares"
        ]
