"""Observability: alarms on error rates, throttling, failures and the API, plus a dashboard."""

from __future__ import annotations

import re
from typing import Final

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from financial_pipeline._defaults import (
    ERROR_RATE_THRESHOLD_PERCENT,
    METRIC_PERIOD,
    METRICS_NAMESPACE,
    METRICS_SERVICE,
    MIN_INVOCATIONS_FOR_ERROR_RATE,
)
from financial_pipeline._names import MAX_PREFIX_LENGTH
from financial_pipeline._names import name_prefix as derived_name_prefix
from financial_pipeline.api import Api
from financial_pipeline.contract import (
    JOBS_EVENT_INDEX,
    JOBS_STATUS_INDEX,
    METRIC_EVENTS_FAILED,
    METRIC_EVENTS_PUBLISHED,
)
from financial_pipeline.encryption import allow_alarms
from financial_pipeline.existing import check_topic
from financial_pipeline.ingest import Ingest
from financial_pipeline.nag import acknowledge
from financial_pipeline.split import SplitProcessing
from financial_pipeline.storage import Storage

__all__ = ["PROCESSING_SLO", "Observability", "error_rate", "pipeline_metric"]

_PERIOD: Final = METRIC_PERIOD
PROCESSING_SLO: Final = Duration.seconds(30)
# What a dashboard name allows; alarm names (255 characters) append at most about 30.
_NAME_PREFIX: Final = re.compile(rf"^[A-Za-z0-9_-]{{1,{MAX_PREFIX_LENGTH}}}$")


def error_rate(
    errors: cloudwatch.IMetric,
    invocations: cloudwatch.IMetric,
    *,
    min_invocations: int,
    label: str,
    key: str,
) -> cloudwatch.MathExpression:
    """Errors per 100 calls; 0 below ``min_invocations`` calls so one failed call cannot page.

    ``key`` keeps metric ids unique when several rates share one dashboard graph.
    """
    err, inv = f"errors{key}", f"invocations{key}"
    return cloudwatch.MathExpression(
        expression=f"IF({inv} >= {min_invocations}, 100 * {err} / {inv}, 0)",
        using_metrics={err: errors, inv: invocations},
        label=label,
        period=_PERIOD,
    )


def check_error_rate(
    threshold_percent: float, min_invocations: int, *, min_name: str = "min_invocations"
) -> None:
    """Refuse an error-rate threshold outside (0, 100] or a minimum below one invocation."""
    if not 0 < threshold_percent <= 100:
        raise ValueError(
            "error_rate_threshold_percent must be more than 0 and at most 100 "
            f"(got {threshold_percent})"
        )
    if min_invocations < 1:
        raise ValueError(f"{min_name} must be at least 1 (got {min_invocations})")


def pipeline_metric(
    name: str, *, environment_name: str, period: Duration = METRIC_PERIOD
) -> cloudwatch.Metric:
    """A custom metric of the pipeline's functions, summed over ``period``.

    The functions record them with Powertools: namespace ``FinancialPipeline`` (their
    ``POWERTOOLS_METRICS_NAMESPACE``), dimensions ``service`` (``POWERTOOLS_SERVICE_NAME``,
    which Powertools adds to every metric) and ``environment`` (the handlers' default
    dimension). A metric is the set of all its dimensions, so both must be named to read it.
    """
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": METRICS_SERVICE, "environment": environment_name},
        period=period,
        statistic="Sum",
    )


class Observability(Construct):
    """Alarms and a dashboard over the other sub-constructs' metrics and the
    functions' job-event metrics.

    Attributes:
        topic: the alarm topic (KMS-encrypted; CloudWatch may use the key), or the
            ``existing_topic`` given.
        topic_key: the topic's customer-managed key: ``encryption_key`` when given, else a
            key of its own; an existing topic's ``master_key`` (None when it has none or it
            was imported without it). An AWS-managed key cannot be used: its policy does not
            let CloudWatch publish, and alarms would fail silently.
        alarms: every alarm, by a stable name.
        dashboard: the CloudWatch dashboard.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        storage: Storage,
        ingest: Ingest,
        api: Api,
        split: SplitProcessing | None = None,
        name_prefix: str | None = None,
        alarm_email: str | None = None,
        error_rate_threshold_percent: float = ERROR_RATE_THRESHOLD_PERCENT,
        min_invocations: int = MIN_INVOCATIONS_FOR_ERROR_RATE,
        encryption_key: kms.IKey | None = None,
        environment_name: str = "dev",
        existing_topic: sns.ITopic | None = None,
    ) -> None:
        """Create the alarms, their topic and the dashboard.

        Args:
            storage, ingest, api: the sub-constructs to watch.
            split: the large-file state machine to watch (its functions' error rates, failed
                or timed-out executions, executions and parts on the dashboard); default none.
            name_prefix: prefix of alarm and dashboard names, at most 200 characters of
                ``[A-Za-z0-9_-]``. Default: the stack name and this construct's path from the
                stack down (e.g. ``MyStack-Observability``), unique within the app.
            alarm_email: subscribed to the topic when given; default none.
            error_rate_threshold_percent: function and API error-rate threshold; default 1.
            min_invocations: calls per 5 minutes below which the error rate counts as 0;
                default 20.
            encryption_key: the key to encrypt the topic with (the hardened profile's one
                key); its policy gets the statement that lets this pipeline's alarms use
                it (an imported key's owner adds it). Default: a new key for the topic.
            environment_name: the ``environment`` dimension of the functions' custom metrics
                (the pipeline's ``environment_name``); default ``dev``.
            existing_topic: the topic to send the alarms to instead of a new one. Its key,
                when it is a key of this app, gets the statement that lets these alarms use
                it; an imported key's owner adds it. With ``encryption_key`` (the hardened
                profile) it must be encrypted, and imported with its key. Default: a new
                topic.
        """
        super().__init__(scope, construct_id)
        check_error_rate(error_rate_threshold_percent, min_invocations)
        prefix = derived_name_prefix(self) if name_prefix is None else name_prefix
        if not _NAME_PREFIX.match(prefix):
            raise ValueError(
                f"name_prefix must be 1-{MAX_PREFIX_LENGTH} letters, digits, '-' or '_' "
                f"(got {prefix!r})"
            )
        self._prefix = prefix
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self._topic(existing_topic, encryption_key, alarm_email)
        self._action = cw_actions.SnsAction(self.topic)
        functions = {**api.functions, **ingest.functions, **(split.functions if split else {})}
        rate_metrics = self._error_rate_alarms(
            functions,
            scheduled=ingest.sweeper,
            threshold_percent=error_rate_threshold_percent,
            min_invocations=min_invocations,
        )
        throttle_metrics = self._throttle_alarms(storage)
        queue_depth, events_published, events_failed = self._pipeline_alarms(
            ingest, split, environment_name
        )
        self._api_alarm(api, error_rate_threshold_percent, min_invocations)
        self._dashboard(
            api=api,
            ingest=ingest,
            split=split,
            rate_metrics=list(rate_metrics.values()),
            throttle_metrics=throttle_metrics,
            queue_depth=queue_depth,
            events=(events_published, events_failed),
        )

    def _topic(
        self,
        existing_topic: sns.ITopic | None,
        encryption_key: kms.IKey | None,
        alarm_email: str | None,
    ) -> None:
        """The alarm topic (new, or the user's), its key's statement for the alarms, and the
        e-mail subscription."""
        self.topic_key: kms.IKey | None
        self.topic: sns.ITopic
        if existing_topic is not None:
            check_topic(self, existing_topic, customer_managed_key=encryption_key is not None)
            self.topic, self.topic_key = existing_topic, existing_topic.master_key
        else:
            self.topic_key = encryption_key or kms.Key(
                self,
                "TopicKey",
                description=f"{self._prefix} alarm topic",
                enable_key_rotation=True,
            )
            self.topic = sns.Topic(
                self,
                "AlarmTopic",
                display_name=f"{self._prefix} alarms",
                master_key=self.topic_key,
                enforce_ssl=True,
            )
        if self.topic_key is not None:
            # Only this account's alarms of this pipeline may use the key.
            allow_alarms(self.topic_key, self._prefix)
        if alarm_email:
            acknowledge(
                self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email)),
                "Serverless-SNSRedrivePolicy",
                "E-mail is a courtesy copy of the alarm; the alarm state and history stay in "
                "CloudWatch when a message cannot be delivered.",
            )

    def _alarm(
        self,
        name: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        description: str,
        *,
        evaluation_periods: int = 1,
        datapoints_to_alarm: int = 1,
    ) -> None:
        created = cloudwatch.Alarm(
            self,
            f"{name}Alarm",
            alarm_name=f"{self._prefix}-{name}",
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        created.add_alarm_action(self._action)
        created.add_ok_action(self._action)
        self.alarms[name] = created

    def _error_rate_alarms(
        self,
        functions: dict[str, lambda_.IFunction],
        *,
        scheduled: lambda_.IFunction,
        threshold_percent: float,
        min_invocations: int,
    ) -> dict[str, cloudwatch.MathExpression]:
        """One error-rate alarm per function; returns the rates, by function name."""
        rate_metrics: dict[str, cloudwatch.MathExpression] = {}
        for name, function in functions.items():
            # The sweeper runs once per sweep interval: a volume guard would silence it
            # forever, so it alarms when 2 of 3 consecutive runs fail instead.
            is_scheduled = function is scheduled
            guard = 1 if is_scheduled else min_invocations
            rate_metrics[name] = error_rate(
                function.metric_errors(period=_PERIOD, statistic="Sum"),
                function.metric_invocations(period=_PERIOD, statistic="Sum"),
                min_invocations=guard,
                label=f"{name} error rate (%)",
                key=name,
            )
            self._alarm(
                f"{name}ErrorRate",
                rate_metrics[name],
                threshold_percent,
                f"{name} function: more than {threshold_percent}% of at least "
                f"{guard} invocations failed in 5 minutes",
                evaluation_periods=3 if is_scheduled else 1,
                datapoints_to_alarm=2 if is_scheduled else 1,
            )
        return rate_metrics

    def _throttle_alarms(self, storage: Storage) -> list[cloudwatch.IMetric]:
        """An alarm on any throttled request of either table or index; returns the metrics."""
        throttles = {
            "ResultsTableReadThrottles": (
                storage.metric_results_read_throttles(),
                "ResultsTable: read requests throttled",
            ),
            "ResultsTableWriteThrottles": (
                storage.metric_results_write_throttles(),
                "ResultsTable: write requests throttled",
            ),
            "JobsTableReadThrottles": (
                storage.metric_jobs_read_throttles(),
                "JobsTable: read requests throttled",
            ),
            "JobsTableWriteThrottles": (
                storage.metric_jobs_write_throttles(),
                "JobsTable: write requests throttled",
            ),
            "JobsStatusIndexReadThrottles": (
                storage.metric_jobs_index_read_throttles(),
                f"JobsTable index {JOBS_STATUS_INDEX}: read requests throttled",
            ),
            "JobsStatusIndexWriteThrottles": (
                storage.metric_jobs_index_write_throttles(),
                f"JobsTable index {JOBS_STATUS_INDEX}: write requests throttled",
            ),
            "JobsEventIndexReadThrottles": (
                storage.metric_jobs_index_read_throttles(index=JOBS_EVENT_INDEX),
                f"JobsTable index {JOBS_EVENT_INDEX}: read requests throttled",
            ),
            "JobsEventIndexWriteThrottles": (
                storage.metric_jobs_index_write_throttles(index=JOBS_EVENT_INDEX),
                f"JobsTable index {JOBS_EVENT_INDEX}: write requests throttled",
            ),
        }
        for name, (metric, description) in throttles.items():
            self._alarm(name, metric, 0, description)
        return [metric for metric, _ in throttles.values()]

    def _pipeline_alarms(
        self, ingest: Ingest, split: SplitProcessing | None, environment_name: str
    ) -> tuple[cloudwatch.IMetric, cloudwatch.Metric, cloudwatch.Metric]:
        """Failed events, failed split executions, failed job events and the processing SLO;
        returns the failure queue's depth and the job-event metrics."""
        queue_depth = ingest.metric_failed_events()
        self._alarm(
            "FailureQueueDepth",
            queue_depth,
            0,
            "Uploads the processor failed on after every retry, and split executions' "
            "status changes finish_split failed on",
        )
        if split is not None:
            self._alarm(
                "SplitExecutionsFailed",
                split.metric_executions_unsuccessful(),
                0,
                "Large files: a state machine execution failed or timed out; its job is "
                "FAILED and the execution can be redriven",
            )
        # R27: an event EventBridge refused or that could not be sent. The invocation fails
        # and its retry (or the sweeper) publishes it, so this pages on a bus or grant that
        # keeps refusing, which the retries cannot fix.
        events_published = pipeline_metric(
            METRIC_EVENTS_PUBLISHED, environment_name=environment_name
        )
        events_failed = pipeline_metric(METRIC_EVENTS_FAILED, environment_name=environment_name)
        self._alarm(
            "JobEventsFailed",
            events_failed,
            0,
            "Job events: at least one publish to EventBridge failed; it is retried, "
            "consumers hear of the job late until it succeeds",
        )
        # R21: a file is processed within 30 s. Duration is the processing time of one file;
        # two slow periods out of three page, one slow outlier does not. A split file's
        # processor invocation only plans it, so for those files this covers the planning;
        # their end-to-end time is the execution's (the dashboard's split graphs).
        self._alarm(
            "ProcessorDurationSlo",
            ingest.metric_processor_duration(statistic="p99"),
            PROCESSING_SLO.to_milliseconds(),
            "Processor: p99 time to process one file is above the 30 s objective",
            evaluation_periods=3,
            datapoints_to_alarm=2,
        )
        return queue_depth, events_published, events_failed

    def _api_alarm(self, api: Api, threshold_percent: float, min_invocations: int) -> None:
        api_error_rate = error_rate(
            api.metric_server_errors(),
            api.metric_requests(),
            min_invocations=min_invocations,
            label="API 5XX rate (%)",
            key="Api",
        )
        self._alarm(
            "Api5xxRate",
            api_error_rate,
            threshold_percent,
            f"API: more than {threshold_percent}% of requests answered 5XX",
        )

    def _dashboard(
        self,
        *,
        api: Api,
        ingest: Ingest,
        split: SplitProcessing | None,
        rate_metrics: list[cloudwatch.MathExpression],
        throttle_metrics: list[cloudwatch.IMetric],
        queue_depth: cloudwatch.IMetric,
        events: tuple[cloudwatch.Metric, cloudwatch.Metric],
    ) -> None:
        events_published, events_failed = events
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=self._prefix,
            default_interval=Duration.hours(3),
        )
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(
                title="Alarms", alarms=list(self.alarms.values()), width=24
            )
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="API requests",
                left=[
                    api.metric_requests(),
                    api.metric_client_errors(),
                    api.metric_server_errors(),
                ],
                right=[api.metric_latency(statistic="p99")],
                width=12,
            ),
            cloudwatch.GraphWidget(title="Function error rates (%)", left=rate_metrics, width=12),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Processor duration (SLO: file processed within 30 s)",
                left=[
                    ingest.metric_processor_duration(statistic="p99"),
                    ingest.metric_processor_duration(statistic="Average"),
                ],
                right=[queue_depth],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="DynamoDB throttled requests", left=throttle_metrics, width=12
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Job events",
                left=[
                    events_published.with_(label="Job events published"),
                    events_failed.with_(label="Job events failed"),
                ],
                width=12,
            ),
        )
        if split is not None:
            self.dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title="Large files: executions",
                    left=[
                        split.metric_executions_started(),
                        split.metric_executions_succeeded(),
                        split.metric_executions_failed(),
                        split.metric_executions_timed_out(),
                        split.metric_executions_aborted(),
                    ],
                    width=12,
                ),
                cloudwatch.GraphWidget(
                    title="Large files: parts and partitions",
                    left=[split.metric_parts_parsed(), split.metric_partitions_written()],
                    right=[split.metric_part_errors(), split.metric_partition_errors()],
                    width=12,
                ),
            )
