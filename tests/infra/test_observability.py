"""Observability: error-rate alarms, throttle alarms, queue and API alarms, topic, dashboard."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Match, Template
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from financial_pipeline.contract import (
    JOBS_EVENT_INDEX,
    METRIC_EVENTS_FAILED,
    METRIC_EVENTS_PUBLISHED,
    Env,
)

from .conftest import logical_id, resources, stack_name

FUNCTIONS = ("Upload", "Status", "Results", "Processor", "Sweeper")


# The stack name, then the construct path of the pipeline.
NAME_PREFIX = f"{stack_name('prod')}-Pipeline"


def _alarm(template: Template, name: str) -> dict[str, Any]:
    full = f"{NAME_PREFIX}-{name}"
    found = [
        a["Properties"]
        for a in resources(template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("AlarmName") == full
    ]
    assert len(found) == 1, f"no alarm named {full}"
    return found[0]


def _expression(alarm: dict[str, Any]) -> str:
    expressions = [m["Expression"] for m in alarm["Metrics"] if "Expression" in m]
    assert len(expressions) == 1
    return str(expressions[0])


def test_r17_error_rate_alarm_uses_metric_math_per_function(prod: Template) -> None:
    for name in ("Upload", "Status", "Results", "Processor"):
        # Given the function's error alarm
        alarm = _alarm(prod, f"{name}ErrorRate")
        # Then it alarms on errors / invocations above 1%, not on an error count
        assert _expression(alarm) == (
            f"IF(invocations{name} >= 20, 100 * errors{name} / invocations{name}, 0)"
        )
        assert alarm["Threshold"] == 1
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["TreatMissingData"] == "notBreaching"
        metric_names = {
            m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"] if "MetricStat" in m
        }
        assert metric_names == {"Errors", "Invocations"}
        assert all(not m["ReturnData"] for m in alarm["Metrics"] if "MetricStat" in m), (
            "only the rate may be evaluated"
        )


def test_r17_one_error_in_one_call_does_not_page() -> None:
    # Given the alarm expression evaluated the way CloudWatch does
    def rate(errors: int, invocations: int, guard: int = 20) -> float:
        return 100 * errors / invocations if invocations >= guard else 0.0

    # Then 1 error in 1 call stays quiet; 1 in 50 (2%) alarms; 1 in 200 (0.5%) does not
    assert rate(1, 1) <= 1
    assert rate(1, 50) > 1
    assert rate(1, 200) <= 1


def test_r17_scheduled_sweeper_alarms_on_two_failed_runs_of_three(prod: Template) -> None:
    # Given the sweeper, which runs once per period
    alarm = _alarm(prod, "SweeperErrorRate")
    # Then the volume guard is 1 call and 2 of 3 periods must breach
    assert _expression(alarm).startswith("IF(invocationsSweeper >= 1,")
    assert alarm["EvaluationPeriods"] == 3
    assert alarm["DatapointsToAlarm"] == 2


def test_r18_read_and_write_throttle_alarms_on_both_tables(prod: Template) -> None:
    for table in ("ResultsTable", "JobsTable"):
        table_id = logical_id(prod, "AWS::DynamoDB::GlobalTable", table)
        for kind in ("Read", "Write"):
            # Given the throttle alarm of that table and kind
            alarm = _alarm(prod, f"{table}{kind}Throttles")
            # Then it fires on the first throttled request of that table
            assert alarm["MetricName"] == f"{kind}ThrottleEvents"
            assert alarm["Namespace"] == "AWS/DynamoDB"
            assert alarm["Dimensions"] == [{"Name": "TableName", "Value": {"Ref": table_id}}]
            assert alarm["Threshold"] == 0
            assert alarm["Statistic"] == "Sum"


def test_r18_jobs_status_index_throttles_alarm_too(prod: Template) -> None:
    # Given the sweeper's index / Then its read and write throttles alarm
    for kind in ("Read", "Write"):
        alarm = _alarm(prod, f"JobsStatusIndex{kind}Throttles")
        assert {"Name": "GlobalSecondaryIndexName", "Value": "ByStatus"} in alarm["Dimensions"]


def test_r14_failure_queue_depth_alarm(prod: Template) -> None:
    # Given the failure queue / Then one message in it alarms
    queue = logical_id(prod, "AWS::SQS::Queue", "FailureQueue")
    alarm = _alarm(prod, "FailureQueueDepth")
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}
    ]
    assert alarm["Threshold"] == 0


def test_api_5xx_rate_alarm(prod: Template) -> None:
    # Given the API alarm / Then it is a 5XX rate with the same volume guard
    alarm = _alarm(prod, "Api5xxRate")
    assert _expression(alarm) == "IF(invocationsApi >= 20, 100 * errorsApi / invocationsApi, 0)"
    names = {m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert names == {"5XXError", "Count"}


def test_every_alarm_notifies_the_encrypted_topic(prod: Template) -> None:
    # Given the alarm topic
    topic = logical_id(prod, "AWS::SNS::Topic", "AlarmTopic")
    key = logical_id(prod, "AWS::KMS::Key", "TopicKey")
    # Then every alarm acts on it, and it is encrypted with a rotating key CloudWatch may use
    alarms = resources(prod, "AWS::CloudWatch::Alarm")
    assert alarms
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic}]
        assert alarm["Properties"]["OKActions"] == [{"Ref": topic}]
    prod.has_resource_properties(
        "AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [key, "Arn"]}}
    )
    prod.has_resource_properties(
        "AWS::KMS::Key",
        {
            "EnableKeyRotation": True,
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                            }
                        )
                    ]
                )
            },
        },
    )


def test_alarm_email_subscribes_to_the_topic(prod: Template) -> None:
    # Given prod's alarmEmail / Then it is an e-mail subscription of the topic
    prod.has_resource_properties(
        "AWS::SNS::Subscription",
        {"Protocol": "email", "Endpoint": "market-data-oncall@example.com"},
    )


def test_r20_dashboard_is_named_after_the_stack_and_the_construct(prod: Template) -> None:
    # Given the dashboard / Then it carries the environment and region (in the stack name)
    # and the pipeline's construct path
    prod.has_resource_properties("AWS::CloudWatch::Dashboard", {"DashboardName": NAME_PREFIX})


def test_topic_key_serves_only_this_accounts_alarms_of_this_pipeline(prod: Template) -> None:
    # Given the key policy statement that lets CloudWatch use the topic key
    key = next(iter(resources(prod, "AWS::KMS::Key").values()))
    (statement,) = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    # Then it names the stack's account and this pipeline's alarms, so no other account's
    # CloudWatch can use the key on the pipeline's behalf (confused deputy)
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnLike": {
            "aws:SourceArn": {
                "Fn::Join": [
                    "",
                    [
                        "arn:aws:cloudwatch:eu-west-1:",
                        {"Ref": "AWS::AccountId"},
                        f":alarm:{NAME_PREFIX}-*",
                    ],
                ]
            }
        },
    }
    # And every alarm of the pipeline matches that pattern
    for alarm in resources(prod, "AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmName"].startswith(f"{NAME_PREFIX}-")


def test_r21_processor_duration_alarm_guards_the_30_second_objective(prod: Template) -> None:
    # Given the processor's duration alarm / Then p99 above 30 s in 2 of 3 periods pages
    alarm = _alarm(prod, "ProcessorDurationSlo")
    assert alarm["MetricName"] == "Duration"
    assert alarm["ExtendedStatistic"] == "p99"
    assert alarm["Threshold"] == 30_000
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (3, 2)


def _dashboard_widgets(template: Template) -> list[dict[str, Any]]:
    """The dashboard's widgets, with every intrinsic reference in the body blanked out."""
    (dashboard,) = resources(template, "AWS::CloudWatch::Dashboard").values()
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    body = json.loads("".join(p if isinstance(p, str) else "" for p in parts))
    widgets: list[dict[str, Any]] = body["widgets"]
    return widgets


def _emitted_metric(template: Template, function: str, name: str) -> tuple[str, set[str], dict]:
    """What Powertools emits for ``name`` in ``function``'s environment, as the handlers set it
    up (service and namespace from the variables, the ``environment`` default dimension):
    namespace, dimension names and the EMF document."""
    function_id = logical_id(template, "AWS::Lambda::Function", f"{function}Function")
    variables = resources(template, "AWS::Lambda::Function")[function_id]["Properties"][
        "Environment"
    ]["Variables"]
    emitter = EphemeralMetrics(
        service=variables["POWERTOOLS_SERVICE_NAME"],
        namespace=variables["POWERTOOLS_METRICS_NAMESPACE"],
    )
    emitter.set_default_dimensions(environment=variables[Env.ENVIRONMENT])
    emitter.add_metric(name=name, unit=MetricUnit.Count, value=1)
    document = emitter.serialize_metric_set()
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    (dimensions,) = directive["Dimensions"]
    return directive["Namespace"], set(dimensions), document


def test_r27_failed_publish_alarm_reads_the_metric_the_functions_emit(prod: Template) -> None:
    # Given the alarm on failed job-event publishes
    alarm = _alarm(prod, "JobEventsFailed")
    topic = logical_id(prod, "AWS::SNS::Topic", "AlarmTopic")
    # Then it fires on the first failed publish in 5 minutes and notifies the topic
    assert alarm["MetricName"] == METRIC_EVENTS_FAILED
    assert alarm["Statistic"] == "Sum"
    assert alarm["Period"] == 300
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == [{"Ref": topic}]
    # And it names exactly the namespace and dimensions each publisher's metric carries: a
    # metric is the set of all its dimensions, so one missing or extra would read nothing
    for function in ("Processor", "FinishSplit", "Sweeper"):
        namespace, dimension_names, document = _emitted_metric(prod, function, METRIC_EVENTS_FAILED)
        assert alarm["Namespace"] == namespace
        assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {
            name: document[name] for name in dimension_names
        }


def test_r27_dashboard_graphs_events_published_and_failed(prod: Template) -> None:
    # Given the dashboard's job-events graph
    (widget,) = [
        w for w in _dashboard_widgets(prod) if w["properties"].get("title") == "Job events"
    ]
    # Then it sums both metrics with the publishers' namespace and dimensions
    namespace, dimension_names, document = _emitted_metric(
        prod, "Processor", METRIC_EVENTS_PUBLISHED
    )
    dimensions = sorted(dimension_names)
    expected = [
        [
            namespace,
            name,
            *(x for d in dimensions for x in (d, document[d])),
            {"label": label, "stat": "Sum"},
        ]
        for name, label in (
            (METRIC_EVENTS_PUBLISHED, "Job events published"),
            (METRIC_EVENTS_FAILED, "Job events failed"),
        )
    ]
    assert widget["properties"]["metrics"] == expected


def test_r18_job_event_index_throttles_alarm_too(prod: Template) -> None:
    # Given the outbox index the sweeper queries / Then its read and write throttles alarm
    for kind in ("Read", "Write"):
        alarm = _alarm(prod, f"JobsEventIndex{kind}Throttles")
        assert alarm["MetricName"] == f"{kind}ThrottleEvents"
        assert {"Name": "GlobalSecondaryIndexName", "Value": JOBS_EVENT_INDEX} in alarm[
            "Dimensions"
        ]
