"""Observability: alarms on error rates, throttling, failures and the API, plus a dashboard."""

from __future__ import annotations

from typing import Final

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from financial_pipeline._defaults import (
    ERROR_RATE_THRESHOLD_PERCENT,
    MIN_INVOCATIONS_FOR_ERROR_RATE,
)
from financial_pipeline.api import Api
from financial_pipeline.ingest import Ingest
from financial_pipeline.storage import JOBS_STATUS_INDEX, Storage

__all__ = ["Observability"]

_PERIOD: Final = Duration.minutes(5)
PROCESSING_SLO: Final = Duration.seconds(30)


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


class Observability(Construct):
    """Alarms and a dashboard over the other sub-constructs' metrics (R17, R18).

    Attributes:
        topic: the alarm topic (KMS-encrypted; CloudWatch may use the key).
        topic_key: the topic's customer-managed key. An AWS-managed key cannot be used: its
            policy does not let CloudWatch publish, and alarms would fail silently.
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
        name_prefix: str,
        alarm_email: str | None = None,
        error_rate_threshold_percent: float = ERROR_RATE_THRESHOLD_PERCENT,
        min_invocations: int = MIN_INVOCATIONS_FOR_ERROR_RATE,
    ) -> None:
        """Create the alarms, their topic and the dashboard.

        Args:
            storage, ingest, api: the sub-constructs to watch.
            name_prefix: prefix of alarm and dashboard names (carries environment and region).
            alarm_email: subscribed to the topic when given; default none.
            error_rate_threshold_percent: function and API error-rate threshold; default 1.
            min_invocations: calls per 5 minutes below which the error rate counts as 0;
                default 20.
        """
        super().__init__(scope, construct_id)
        if not 0 < error_rate_threshold_percent <= 100:
            raise ValueError(
                "error_rate_threshold_percent must be in (0, 100] "
                f"(got {error_rate_threshold_percent})"
            )
        if min_invocations < 1:
            raise ValueError(f"min_invocations must be at least 1 (got {min_invocations})")

        self.topic_key = kms.Key(
            self,
            "TopicKey",
            description=f"{name_prefix} alarm topic",
            enable_key_rotation=True,
        )
        self.topic_key.grant(
            iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*"
        )
        self.topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name=f"{name_prefix} alarms",
            master_key=self.topic_key,
            enforce_ssl=True,
        )
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        action = cw_actions.SnsAction(self.topic)
        self.alarms: dict[str, cloudwatch.Alarm] = {}

        def alarm(
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
                alarm_name=f"{name_prefix}-{name}",
                alarm_description=description,
                metric=metric,
                threshold=threshold,
                evaluation_periods=evaluation_periods,
                datapoints_to_alarm=datapoints_to_alarm,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            created.add_alarm_action(action)
            created.add_ok_action(action)
            self.alarms[name] = created

        functions: dict[str, lambda_.IFunction] = {
            "Upload": api.upload_function,
            "Status": api.status_function,
            "Results": api.results_function,
            "Processor": ingest.processor,
            "Sweeper": ingest.sweeper,
        }
        rate_metrics: dict[str, cloudwatch.MathExpression] = {}
        for name, function in functions.items():
            # The sweeper runs once per 5 minutes: a volume guard would silence it forever, so
            # it alarms when 2 of 3 consecutive runs fail instead.
            scheduled = function is ingest.sweeper
            guard = 1 if scheduled else min_invocations
            rate_metrics[name] = error_rate(
                function.metric_errors(period=_PERIOD, statistic="Sum"),
                function.metric_invocations(period=_PERIOD, statistic="Sum"),
                min_invocations=guard,
                label=f"{name} error rate (%)",
                key=name,
            )
            alarm(
                f"{name}ErrorRate",
                rate_metrics[name],
                error_rate_threshold_percent,
                f"{name} function: more than {error_rate_threshold_percent}% of at least "
                f"{guard} invocations failed in 5 minutes (R17)",
                evaluation_periods=3 if scheduled else 1,
                datapoints_to_alarm=2 if scheduled else 1,
            )

        tables: dict[str, dynamodb.TableV2] = {
            "ResultsTable": storage.results_table,
            "JobsTable": storage.jobs_table,
        }
        throttle_metrics: list[cloudwatch.IMetric] = []
        for name, table in tables.items():
            for kind in ("Read", "Write"):
                metric = table.metric(f"{kind}ThrottleEvents", period=_PERIOD, statistic="Sum")
                throttle_metrics.append(metric)
                alarm(
                    f"{name}{kind}Throttles",
                    metric,
                    0,
                    f"{name}: {kind.lower()} requests throttled (R18)",
                )
        for kind in ("Read", "Write"):
            metric = cloudwatch.Metric(
                namespace="AWS/DynamoDB",
                metric_name=f"{kind}ThrottleEvents",
                dimensions_map={
                    "TableName": storage.jobs_table.table_name,
                    "GlobalSecondaryIndexName": JOBS_STATUS_INDEX,
                },
                period=_PERIOD,
                statistic="Sum",
            )
            throttle_metrics.append(metric)
            alarm(
                f"JobsStatusIndex{kind}Throttles",
                metric,
                0,
                f"JobsTable index {JOBS_STATUS_INDEX}: {kind.lower()} requests throttled (R18)",
            )

        queue_depth = ingest.failure_queue.metric_approximate_number_of_messages_visible(
            period=_PERIOD, statistic="Maximum"
        )
        alarm(
            "FailureQueueDepth",
            queue_depth,
            0,
            "Uploads the processor failed on after every retry (R14)",
        )

        # R21: a file is processed within 30 s. Duration is the processing time of one file;
        # two slow periods out of three page, one slow outlier does not.
        alarm(
            "ProcessorDurationSlo",
            ingest.processor.metric_duration(period=_PERIOD, statistic="p99"),
            PROCESSING_SLO.to_milliseconds(),
            "Processor: p99 time to process one file is above the 30 s objective (R21)",
            evaluation_periods=3,
            datapoints_to_alarm=2,
        )

        api_error_rate = error_rate(
            api.rest_api.metric_server_error(period=_PERIOD, statistic="Sum"),
            api.rest_api.metric_count(period=_PERIOD, statistic="Sum"),
            min_invocations=min_invocations,
            label="API 5XX rate (%)",
            key="Api",
        )
        alarm(
            "Api5xxRate",
            api_error_rate,
            error_rate_threshold_percent,
            f"API: more than {error_rate_threshold_percent}% of requests answered 5XX",
        )

        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=name_prefix,
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
                    api.rest_api.metric_count(period=_PERIOD),
                    api.rest_api.metric_client_error(period=_PERIOD),
                    api.rest_api.metric_server_error(period=_PERIOD),
                ],
                right=[api.rest_api.metric_latency(period=_PERIOD, statistic="p99")],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Function error rates (%)", left=list(rate_metrics.values()), width=12
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Processor duration (SLO: file processed within 30 s, R21)",
                left=[
                    ingest.processor.metric_duration(period=_PERIOD, statistic="p99"),
                    ingest.processor.metric_duration(period=_PERIOD, statistic="Average"),
                ],
                right=[queue_depth],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="DynamoDB throttled requests", left=throttle_metrics, width=12
            ),
        )
