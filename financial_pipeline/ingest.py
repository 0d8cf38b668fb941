"""Ingest: the processor behind the upload bucket, its failure queue, and the sweeper."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from financial_pipeline._defaults import (
    FUNCTION_TIMEOUT,
    PROCESSOR_EPHEMERAL_STORAGE,
    PROCESSOR_MAX_RETRIES,
    PROCESSOR_RESERVED_CONCURRENCY,
    QUEUE_REQUIRED,
    SWEEP_INTERVAL,
)
from financial_pipeline.function import PipelineFunction
from financial_pipeline.storage import (
    INCOMING_PREFIX,
    PROCESSED_PREFIX,
    REPORTS_PREFIX,
    Storage,
)

__all__ = ["Ingest"]


class Ingest(Construct):
    """Turns an uploaded CSV into rows (R9, R12-R16, R21).

    The processor runs asynchronously from the S3 notification. Lambda retries a failed event
    twice (R14) and then sends it to ``failure_queue``; the sweeper, on a schedule, expires
    jobs whose upload never came and re-drives or fails jobs stuck in ``PROCESSING``.

    Attributes:
        processor: the processor function.
        processor_log_group: its log group.
        sweeper: the scheduled sweeper function.
        sweeper_log_group: its log group.
        failure_queue: events the processor failed on after every retry.
        schedule: the EventBridge rule that runs the sweeper.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        storage: Storage,
        code: lambda_.Code,
        environment: Mapping[str, str],
        layers: Sequence[lambda_.ILayerVersion] = (),
        reserved_concurrency: int = PROCESSOR_RESERVED_CONCURRENCY,
        sweep_interval: Duration = SWEEP_INTERVAL,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        function_props: Mapping[str, Any] | None = None,
    ) -> None:
        """Create the processor, the failure queue and the sweeper.

        Args:
            storage: the bucket and tables the functions work on.
            code: the Lambda code asset (``runtime`` package at its root).
            environment: the contract's environment variables, shared by every function.
            layers: layers with the code's dependencies; default none.
            reserved_concurrency: processor reserved concurrency; default 100 (R15).
            sweep_interval: how often the sweeper runs; default 5 minutes.
            removal_policy: for the log groups; default RETAIN.
            function_props: extra ``lambda.Function`` props for both functions; default none.
                The processor gets 4 GiB of ephemeral storage (``/tmp``), where it spills
                duplicate-detection data and the rejection report of large files; an
                ``ephemeral_storage_size`` here replaces it.
        """
        super().__init__(scope, construct_id)
        if reserved_concurrency < 1:
            raise ValueError(
                f"reserved_concurrency must be at least 1 (got {reserved_concurrency})"
            )

        bucket, jobs, results = storage.bucket, storage.jobs_table, storage.results_table

        self.failure_queue = sqs.Queue(self, "FailureQueue", **QUEUE_REQUIRED)

        processor = PipelineFunction(
            self,
            "Processor",
            handler="runtime.processor.handler",
            code=code,
            layers=layers,
            environment=environment,
            description="Validates an uploaded CSV and stores its rows",
            removal_policy=removal_policy,
            function_props={
                "ephemeral_storage_size": PROCESSOR_EPHEMERAL_STORAGE,
                **(function_props or {}),
                "reserved_concurrent_executions": reserved_concurrency,
            },
        )
        self.processor = processor.function
        self.processor_log_group = processor.log_group
        self.processor.configure_async_invoke(
            retry_attempts=PROCESSOR_MAX_RETRIES,
            max_event_age=Duration.hours(6),
            on_failure=destinations.SqsDestination(self.failure_queue),
        )
        # Reads the upload, then moves it (copy + delete) to processed/ and writes a report.
        storage.grant_objects(self.processor, INCOMING_PREFIX, "s3:GetObject", "s3:DeleteObject")
        storage.grant_objects(self.processor, PROCESSED_PREFIX, "s3:PutObject")
        storage.grant_objects(self.processor, REPORTS_PREFIX, "s3:PutObject")
        storage.grant_key_lookup(self.processor)
        results.grant_write_data(self.processor)
        jobs.grant_read_write_data(self.processor)
        bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.LambdaDestination(self.processor),
            s3.NotificationKeyFilter(prefix=INCOMING_PREFIX, suffix=".csv"),
        )

        sweeper = PipelineFunction(
            self,
            "Sweeper",
            handler="runtime.sweeper.handler",
            code=code,
            layers=layers,
            environment=environment,
            description="Expires abandoned jobs and re-drives stuck ones",
            removal_policy=removal_policy,
            function_props=function_props,
        )
        self.sweeper = sweeper.function
        self.sweeper_log_group = sweeper.log_group
        # A failed sweep is simply repeated by the next scheduled run.
        self.sweeper.configure_async_invoke(retry_attempts=0)
        jobs.grant_read_write_data(self.sweeper)
        # HeadObject (did the upload of a pending job arrive?), and archiving the file of a
        # job it fails: copy to processed/, delete from incoming/.
        storage.grant_objects(self.sweeper, INCOMING_PREFIX, "s3:GetObject", "s3:DeleteObject")
        storage.grant_objects(self.sweeper, PROCESSED_PREFIX, "s3:PutObject")
        storage.grant_key_lookup(self.sweeper)
        self.processor.grant_invoke(self.sweeper)
        self.sweeper.add_environment("PROCESSOR_FUNCTION_NAME", self.processor.function_name)
        timeout = self.processor.timeout or FUNCTION_TIMEOUT
        for function in (self.processor, self.sweeper):
            function.add_environment("PROCESSOR_TIMEOUT_SECONDS", str(int(timeout.to_seconds())))
            function.add_environment("PROCESSOR_MAX_RETRIES", str(PROCESSOR_MAX_RETRIES))
        self.schedule = events.Rule(
            self,
            "SweepSchedule",
            description="Runs the job sweeper",
            schedule=events.Schedule.rate(sweep_interval),
            targets=[targets.LambdaFunction(self.sweeper, retry_attempts=2)],
        )
