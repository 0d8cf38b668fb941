"""Ingest: the processor behind the upload bucket, its failure queue, and the sweeper."""

from __future__ import annotations

import dataclasses
from typing import Final

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from financial_pipeline._defaults import (
    FUNCTION_TIMEOUT,
    METRIC_PERIOD,
    PROCESSOR_EPHEMERAL_STORAGE,
    PROCESSOR_MAX_RETRIES,
    PROCESSOR_RESERVED_CONCURRENCY,
    QUEUE_REQUIRED,
    SWEEP_INTERVAL,
    props_dict,
)
from financial_pipeline.contract import INCOMING_PREFIX, Env, Handler
from financial_pipeline.function import (
    FunctionGroup,
    FunctionOptions,
    PipelineFunction,
    identity_policy,
)
from financial_pipeline.nag import NIST, acknowledge, arn_of, compliance
from financial_pipeline.split import SplitProcessing
from financial_pipeline.storage import Storage

__all__ = ["Ingest"]

# The singleton custom resource CDK adds to a stack for S3 bucket notifications; CDK exports
# neither the construct nor its id.
_NOTIFICATIONS_HANDLER: Final = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"
_SCHEDULED: Final = (
    "The sweeper is idempotent and runs every few minutes: the next run repeats a failed "
    "one, and failures raise its error-rate alarm, so a queue would only keep stale ticks."
)
_TERMINAL: Final = (
    "This queue is itself the terminal dead-letter destination of the processor; its depth "
    "raises an alarm and an operator re-drives the jobs."
)


class Ingest(FunctionGroup, Construct):
    """Turns an uploaded CSV into rows.

    The processor runs asynchronously from the S3 notification. Lambda retries a failed event
    twice and then sends it to ``failure_queue``; the sweeper, on a schedule, expires
    jobs whose upload never came and re-drives or fails jobs stuck in ``PROCESSING``.

    Attributes:
        processor: the processor function.
        processor_log_group: its log group.
        sweeper: the scheduled sweeper function.
        sweeper_log_group: its log group.
        functions, log_groups: both functions and their log groups by role name
            (``Processor``, ``Sweeper``), the shape of `Api` and `SplitProcessing`.
        failure_queue: events the processor failed on after every retry.
        schedule: the EventBridge rule that runs the sweeper.
        split: the `SplitProcessing` large files go to, or None.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        storage: Storage,
        functions: FunctionOptions,
        reserved_concurrency: int = PROCESSOR_RESERVED_CONCURRENCY,
        sweep_interval: Duration = SWEEP_INTERVAL,
        encryption_key: kms.IKey | None = None,
        split: SplitProcessing | None = None,
    ) -> None:
        """Create the processor, the failure queue and the sweeper.

        Args:
            storage: the bucket and tables the functions work on.
            functions: code, environment, layers, log-group removal policy and extra props
                of both functions. The processor gets 4 GiB of ephemeral storage (``/tmp``),
                where it spills duplicate-detection data and the rejection report of large
                files; an ``ephemeral_storage_size`` in ``function_props`` replaces it.
                ``function_props`` cannot set ``reserved_concurrent_executions``.
            reserved_concurrency: processor reserved concurrency; default 100.
            sweep_interval: how often the sweeper runs; default 5 minutes.
            encryption_key: customer-managed key of the failure queue; default none
                (SQS-managed encryption). The processor's on-failure destination is granted
                its use.
            split: the split path for large files: the processor plans a file above its
                ``threshold_bytes`` into parts and starts its execution, the sweeper waits out
                an execution's timeout before it calls a split job stuck, and the split's
                failed status events join this failure queue. Default none: every file takes
                the single pass.
        """
        super().__init__(scope, construct_id)
        if reserved_concurrency < 1:
            raise ValueError(
                f"reserved_concurrency must be at least 1 (got {reserved_concurrency})"
            )
        user_props = props_dict(
            functions.function_props, what="function_props", struct=lambda_.FunctionOptions
        )
        if "reserved_concurrent_executions" in user_props:
            raise ValueError(
                "function_props cannot override 'reserved_concurrent_executions' "
                f"(got {user_props['reserved_concurrent_executions']!r}); "
                "use reserved_concurrency"
            )

        queue_encryption = (
            {"encryption": sqs.QueueEncryption.KMS, "encryption_master_key": encryption_key}
            if encryption_key is not None
            else {}
        )
        self.failure_queue = sqs.Queue(
            self, "FailureQueue", **{**QUEUE_REQUIRED, **queue_encryption}
        )
        acknowledge(self.failure_queue, "AwsSolutions-SQS3", _TERMINAL)
        acknowledge(self.failure_queue, "Serverless-SQSRedrivePolicy", _TERMINAL)

        processor = PipelineFunction(
            self,
            "Processor",
            handler=Handler.PROCESSOR,
            description="Validates an uploaded CSV and stores its rows",
            options=dataclasses.replace(
                functions,
                function_props={
                    "ephemeral_storage_size": PROCESSOR_EPHEMERAL_STORAGE,
                    **user_props,
                    "reserved_concurrent_executions": reserved_concurrency,
                },
            ),
        )
        self.processor = self._add_member("Processor", processor)
        self.processor_log_group = processor.log_group
        self.processor.configure_async_invoke(
            retry_attempts=PROCESSOR_MAX_RETRIES,
            max_event_age=Duration.hours(6),
            on_failure=destinations.SqsDestination(self.failure_queue),
        )
        acknowledge(
            self.processor,
            ["Serverless-LambdaDLQ", *compliance("LambdaDLQ", packs=(NIST,))],
            "Failed asynchronous events go to an on-failure destination (the failure queue), "
            "which records the error and request context a dead-letter queue would lose.",
        )
        # Reads the upload, then moves it to processed/ (or, when no job claims it, to
        # quarantine/) and writes the rejection report.
        storage.grant_read_uploads(self.processor)
        storage.grant_archive_uploads(self.processor)
        storage.grant_quarantine_uploads(self.processor)
        storage.grant_write_reports(self.processor)
        storage.grant_key_lookup(self.processor)
        storage.grant_write_results(self.processor)
        storage.grant_read_write_jobs(self.processor)
        storage.bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.LambdaDestination(self.processor),
            s3.NotificationKeyFilter(prefix=INCOMING_PREFIX, suffix=".csv"),
        )
        self._acknowledge_notifications_handler(storage.bucket)

        sweeper = PipelineFunction(
            self,
            "Sweeper",
            handler=Handler.SWEEPER,
            description="Expires abandoned jobs and re-drives stuck ones",
            options=functions,
        )
        self.sweeper = self._add_member("Sweeper", sweeper)
        self.sweeper_log_group = sweeper.log_group
        # A failed sweep is simply repeated by the next scheduled run.
        self.sweeper.configure_async_invoke(retry_attempts=0)
        acknowledge(
            self.sweeper,
            ["Serverless-LambdaDLQ", *compliance("LambdaDLQ", packs=(NIST,))],
            _SCHEDULED,
        )
        acknowledge(
            self.sweeper,
            compliance("LambdaConcurrency", packs=(NIST,)),
            "The sweeper runs once per schedule tick and its updates are conditional, so an "
            "overlapping run is harmless; reserving concurrency for it would only take "
            "capacity away from the account's other functions.",
        )
        acknowledge(self.sweeper, "Serverless-LambdaAsyncFailureDestination", _SCHEDULED)
        storage.grant_read_write_jobs(self.sweeper)
        # HeadObject (did the upload of a pending job arrive?), archiving the file of a job it
        # fails, and quarantining a file whose job expired before it was processed.
        storage.grant_read_uploads(self.sweeper)
        storage.grant_archive_uploads(self.sweeper)
        storage.grant_quarantine_uploads(self.sweeper)
        storage.grant_key_lookup(self.sweeper)
        self.processor.grant_invoke(self.sweeper)
        sweeper_policy = identity_policy(self.sweeper)
        if sweeper_policy is not None:
            acknowledge(
                sweeper_policy,
                "AwsSolutions-IAM5",
                "lambda:InvokeFunction on the processor and its versions, to re-drive stuck jobs.",
                applies_to=f"Resource::{arn_of(self.processor)}:*",
            )
        self.sweeper.add_environment(Env.PROCESSOR_FUNCTION_NAME, self.processor.function_name)
        timeout = self.processor.timeout or FUNCTION_TIMEOUT
        for function in (self.processor, self.sweeper):
            function.add_environment(Env.PROCESSOR_TIMEOUT_SECONDS, str(int(timeout.to_seconds())))
            function.add_environment(Env.PROCESSOR_MAX_RETRIES, str(PROCESSOR_MAX_RETRIES))
        self.schedule = events.Rule(
            self,
            "SweepSchedule",
            description="Runs the job sweeper",
            schedule=events.Schedule.rate(sweep_interval),
            targets=[targets.LambdaFunction(self.sweeper, retry_attempts=2)],
        )
        acknowledge(self.schedule, "Serverless-EventBusDLQ", _SCHEDULED)
        self.split = split
        if split is not None:
            self._use_split(storage, split)

    def _use_split(self, storage: Storage, split: SplitProcessing) -> None:
        # The processor plans a large file: it writes the manifests under split/ and starts
        # the job's execution; the planning pass itself stays under its duration SLO alarm.
        split.grant_start_job(self.processor)
        storage.grant_write_split(self.processor)
        self.processor.add_environment(Env.STATE_MACHINE_ARN, split.state_machine.state_machine_arn)
        self.processor.add_environment(Env.SPLIT_THRESHOLD_BYTES, str(split.threshold_bytes))
        self.processor.add_environment(Env.PART_BYTES, str(split.part_bytes))
        # A split job stays PROCESSING while its execution runs: the sweeper waits that long.
        self.sweeper.add_environment(
            Env.SPLIT_TIMEOUT_SECONDS, str(int(split.timeout.to_seconds()))
        )
        # Execution-status events finish_split failed on join the processor's failures.
        split.send_failures_to(self.failure_queue)

    def metric_failed_events(self, *, period: Duration = METRIC_PERIOD) -> cloudwatch.IMetric:
        """Events the processor gave up on after every retry: the failure queue's depth
        (maximum over ``period``, default 5 minutes)."""
        return self.failure_queue.metric_approximate_number_of_messages_visible(
            period=period, statistic="Maximum"
        )

    def metric_processor_duration(
        self, *, statistic: str = "p99", period: Duration = METRIC_PERIOD
    ) -> cloudwatch.IMetric:
        """How long the processor takes for one file (default: p99 over 5 minutes)."""
        return self.processor.metric_duration(period=period, statistic=statistic)

    def _acknowledge_notifications_handler(self, bucket: s3.IBucket) -> None:
        # CDK puts the handler's permissions on the bucket into a policy beside the bucket.
        notifications = bucket.node.try_find_child("Notifications")
        policy = notifications.node.try_find_child("HandlerPolicy") if notifications else None
        if policy is not None:
            acknowledge(
                policy,
                compliance("IAMNoInlinePolicy"),
                "CDK's bucket-notification custom resource gets s3:PutBucketNotification on "
                "this bucket only, in an inline policy of its own deploy-time role.",
            )
        handler = Stack.of(self).node.try_find_child(_NOTIFICATIONS_HANDLER)
        role = handler.node.try_find_child("Role") if handler is not None else None
        if role is not None:
            acknowledge(
                role,
                "AwsSolutions-IAM4",
                "CDK's bucket-notification custom resource runs only at deploy time and has no "
                "log group of its own to scope the logging permission to.",
                applies_to=(
                    "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                    "AWSLambdaBasicExecutionRole"
                ),
            )
