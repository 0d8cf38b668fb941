"""Ingest: the processor, its notification and failure destination, and the sweeper."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match, Template

from financial_pipeline.contract import Env

from .conftest import logical_id, resources

HANDLERS = {
    "Upload": "runtime.handlers.upload.handler",
    "Status": "runtime.handlers.status.handler",
    "Results": "runtime.handlers.results.handler",
    "Processor": "runtime.handlers.processor.handler",
    "Sweeper": "runtime.handlers.sweeper.handler",
    "ParsePart": "runtime.handlers.parse_part.handler",
    "WritePartition": "runtime.handlers.write_partition.handler",
    "FinishSplit": "runtime.handlers.finish_split.handler",
}
SPLIT_FUNCTIONS = ("ParsePart", "WritePartition", "FinishSplit")


def _function(template: Template, name: str) -> dict[str, Any]:
    functions = resources(template, "AWS::Lambda::Function")
    return functions[logical_id(template, "AWS::Lambda::Function", f"{name}Function")]


def _statements(template: Template, function: str) -> list[dict[str, Any]]:
    policy_id = logical_id(template, "AWS::IAM::Policy", f"{function}RoleDefaultPolicy")
    policy = resources(template, "AWS::IAM::Policy")[policy_id]
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _actions(template: Template, function: str) -> set[str]:
    found: set[str] = set()
    for statement in _statements(template, function):
        action = statement["Action"]
        found.update([action] if isinstance(action, str) else action)
    return found


def test_r12_one_function_per_handler_of_the_contract(prod: Template) -> None:
    # Given the handler names of docs/ARCHITECTURE.md
    # Then each has exactly one function and no other pipeline function exists
    for name, handler in HANDLERS.items():
        assert _function(prod, name)["Properties"]["Handler"] == handler
    prod.resource_properties_count_is(
        "AWS::Lambda::Function", {"Handler": Match.string_like_regexp(r"^runtime\.")}, 8
    )


def test_r13_r7_every_function_is_python314_arm64_3gb_5min_and_traced(prod: Template) -> None:
    # Given every pipeline function / Then the runtime settings of R13 and R7 hold
    for name in HANDLERS:
        props = _function(prod, name)["Properties"]
        assert props["Runtime"] == "python3.14"
        assert props["Architectures"] == ["arm64"]
        assert props["MemorySize"] >= 3008
        assert props["Timeout"] == 300
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert len(props["Layers"]) == 1


def test_r16_every_function_logs_to_its_own_7_day_log_group(prod: Template) -> None:
    # Given every function / When its log group is resolved
    groups = resources(prod, "AWS::Logs::LogGroup")
    for name in HANDLERS:
        ref = _function(prod, name)["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        # Then the group exists and keeps logs 7 days
        assert groups[ref]["Properties"]["RetentionInDays"] == 7
    prod.all_resources_properties("AWS::Logs::LogGroup", {"RetentionInDays": 7})


def test_r13_configuration_comes_from_the_contract_environment(prod: Template) -> None:
    # Given the contract's environment variables, which the Lambda code's settings read
    ingest_only = {
        Env.PROCESSOR_FUNCTION_NAME,
        Env.PROCESSOR_TIMEOUT_SECONDS,
        Env.PROCESSOR_MAX_RETRIES,
    }
    sweeper_only = {Env.SPLIT_TIMEOUT_SECONDS}
    api_only = {Env.CORS_ALLOW_ORIGINS}
    planner_only = {Env.STATE_MACHINE_ARN, Env.SPLIT_THRESHOLD_BYTES, Env.PART_BYTES}
    # R27: the functions that finish jobs publish their events.
    publishers_only = {Env.EVENT_BUS_ARN}
    shared = set(Env) - ingest_only - api_only - planner_only - sweeper_only - publishers_only
    powertools = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}
    # Then every function has the shared ones, each side its own, and nothing outside the
    # contract but Powertools' settings
    for name in HANDLERS:
        variables = _function(prod, name)["Properties"]["Environment"]["Variables"]
        own = api_only if name in ("Upload", "Status", "Results") else ingest_only
        if name == "Processor":
            own = own - {Env.PROCESSOR_FUNCTION_NAME} | planner_only
        if name == "Sweeper":
            own = own | sweeper_only
        if name in SPLIT_FUNCTIONS:
            own = set()
        if name in ("Processor", "Sweeper", "FinishSplit"):
            own = own | publishers_only
        assert set(variables) == shared | own | powertools, name
        assert variables[Env.ENVIRONMENT] == "prod"
        assert variables[Env.MAX_UPLOAD_BYTES] == "524288000"
    for name in ("Processor", "Sweeper"):
        variables = _function(prod, name)["Properties"]["Environment"]["Variables"]
        assert variables[Env.PROCESSOR_TIMEOUT_SECONDS] == "300"
        assert variables[Env.PROCESSOR_MAX_RETRIES] == "2"
    sweeper = _function(prod, "Sweeper")["Properties"]["Environment"]["Variables"]
    assert sweeper[Env.PROCESSOR_FUNCTION_NAME] == {
        "Ref": logical_id(prod, "AWS::Lambda::Function", "ProcessorFunction")
    }


def test_r15_processor_reserved_concurrency_is_100(prod: Template) -> None:
    # Given the processor / Then it reserves 100 concurrent executions; nothing else reserves
    assert _function(prod, "Processor")["Properties"]["ReservedConcurrentExecutions"] == 100
    for name in ("Upload", "Status", "Results", "Sweeper", *SPLIT_FUNCTIONS):
        assert "ReservedConcurrentExecutions" not in _function(prod, name)["Properties"]


def test_processor_has_4_gib_of_ephemeral_storage_for_its_spill_files(prod: Template) -> None:
    # Given the functions of prod
    # When their ephemeral storage is read
    processor = _function(prod, "Processor")["Properties"]
    # Then the processor has 4 GiB of /tmp, the others keep Lambda's default
    assert processor["EphemeralStorage"] == {"Size": 4096}
    for name in ("Upload", "Status", "Results", "Sweeper"):
        assert "EphemeralStorage" not in _function(prod, name)["Properties"]


def test_r14_processor_retries_twice_then_sends_to_the_failure_queue(prod: Template) -> None:
    # Given the failure queue
    queue = logical_id(prod, "AWS::SQS::Queue", "FailureQueue")
    processor = logical_id(prod, "AWS::Lambda::Function", "ProcessorFunction")

    # Then the processor's async config retries twice and sends failures to the queue
    prod.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "FunctionName": {"Ref": processor},
            "MaximumRetryAttempts": 2,
            "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [queue, "Arn"]}}},
        },
    )


def test_r14_failure_queue_keeps_14_days_encrypted_and_tls_only(prod: Template) -> None:
    # Given the failure queue / Then it keeps 14 days, is SSE, and denies plain HTTP
    prod.has_resource_properties(
        "AWS::SQS::Queue", {"MessageRetentionPeriod": 14 * 24 * 3600, "SqsManagedSseEnabled": True}
    )
    prod.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_api_functions_have_no_dead_letter_queue(prod: Template) -> None:
    # Given the synchronously invoked API functions / Then none has a DLQ (it would stay empty)
    for name in ("Upload", "Status", "Results"):
        assert "DeadLetterConfig" not in _function(prod, name)["Properties"]


def test_r9_notification_only_for_csv_under_incoming(prod: Template) -> None:
    # Given the bucket notification / Then only created .csv objects under incoming/ invoke
    prod.has_resource_properties(
        "Custom::S3BucketNotifications",
        {
            "NotificationConfiguration": {
                "LambdaFunctionConfigurations": [
                    {
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {
                            "Key": {
                                "FilterRules": [
                                    {"Name": "suffix", "Value": ".csv"},
                                    {"Name": "prefix", "Value": "incoming/"},
                                ]
                            }
                        },
                        "LambdaFunctionArn": {
                            "Fn::GetAtt": [
                                logical_id(prod, "AWS::Lambda::Function", "ProcessorFunction"),
                                "Arn",
                            ]
                        },
                    }
                ]
            }
        },
    )


def test_sweeper_runs_every_5_minutes(prod: Template) -> None:
    # Given the schedule / Then it targets the sweeper every 5 minutes
    sweeper = logical_id(prod, "AWS::Lambda::Function", "SweeperFunction")
    prod.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "rate(5 minutes)",
            "State": "ENABLED",
            "Targets": [Match.object_like({"Arn": {"Fn::GetAtt": [sweeper, "Arn"]}})],
        },
    )


def _s3_grants(template: Template, function: str) -> set[tuple[str, str]]:
    """(action, key pattern) pairs; the pattern is "bucket" for the bucket ARN itself."""
    pairs = set()
    for statement in _statements(template, function):
        actions = statement["Action"]
        arns = statement["Resource"]
        for action in [actions] if isinstance(actions, str) else actions:
            if action.startswith("s3:"):
                for arn in arns if isinstance(arns, list) else [arns]:
                    pairs.add((action, arn["Fn::Join"][1][1] if "Fn::Join" in arn else "bucket"))
    return pairs


def test_r19_processor_has_only_the_object_actions_it_uses(prod: Template) -> None:
    # Given the processor's S3 grants / Then it reads, moves (to processed/ or quarantine/),
    # reports and writes a large file's manifests under split/ (R23), nothing else
    assert _s3_grants(prod, "Processor") == {
        ("s3:PutObject", "/split/*"),
        ("s3:GetObject", "/incoming/*"),
        ("s3:DeleteObject", "/incoming/*"),
        ("s3:PutObject", "/processed/*"),
        ("s3:PutObject", "/quarantine/*"),
        ("s3:AbortMultipartUpload", "/reports/*"),
        ("s3:PutObject", "/reports/*"),
        ("s3:ListBucket", "bucket"),
    }


def test_r19_sweeper_has_only_the_object_actions_it_uses(prod: Template) -> None:
    # Given the sweeper's S3 grants / Then it checks uploads, archives failed ones and
    # quarantines those of expired jobs, nothing else
    assert _s3_grants(prod, "Sweeper") == {
        ("s3:GetObject", "/incoming/*"),
        ("s3:DeleteObject", "/incoming/*"),
        ("s3:PutObject", "/processed/*"),
        ("s3:PutObject", "/quarantine/*"),
        ("s3:ListBucket", "bucket"),
    }


def test_r19_api_functions_s3_grants(prod: Template) -> None:
    # Given the API functions / Then upload may only sign puts to incoming/, status gets reports
    assert _s3_grants(prod, "Upload") == {("s3:PutObject", "/incoming/*")}
    assert _s3_grants(prod, "Status") == {("s3:GetObject", "/reports/*")}
    assert _s3_grants(prod, "Results") == set()


def test_r14_processor_may_send_to_the_failure_queue(prod: Template) -> None:
    assert "sqs:SendMessage" in _actions(prod, "Processor")


def test_r19_api_functions_only_get_what_their_route_needs(prod: Template) -> None:
    # Given the three API handlers' actions
    upload, status, results = (
        {a for a in _actions(prod, n) if not a.startswith(("logs:", "xray:"))}
        for n in ("Upload", "Status", "Results")
    )

    # Then upload writes jobs and signs puts, status reads jobs and reports, results reads rows
    assert "s3:PutObject" in upload
    assert "dynamodb:PutItem" in upload
    assert not any(a.startswith("dynamodb:Get") or a.startswith("dynamodb:Query") for a in upload)
    assert "s3:GetObject" in status
    assert "dynamodb:GetItem" in status
    assert not any("Write" in a or "Put" in a or "Delete" in a for a in status)
    assert "dynamodb:Query" in results
    assert not any(a.startswith("s3:") for a in results)
    assert not any("Write" in a or "Put" in a or "Delete" in a for a in results)


def test_r19_sweeper_may_invoke_the_processor_and_nothing_else(prod: Template) -> None:
    # Given the sweeper's invoke statement / Then it names only the processor
    processor = logical_id(prod, "AWS::Lambda::Function", "ProcessorFunction")
    invoke = [s for s in _statements(prod, "Sweeper") if s["Action"] == "lambda:InvokeFunction"]
    assert len(invoke) == 1
    assert {"Fn::GetAtt": [processor, "Arn"]} in invoke[0]["Resource"]


def test_r19_roles_have_no_managed_policies(prod: Template) -> None:
    # Given the function roles / Then none carries a managed policy (logging is scoped instead)
    for name in HANDLERS:
        role_id = logical_id(prod, "AWS::IAM::Role", f"{name}Role")
        role = resources(prod, "AWS::IAM::Role")[role_id]
        assert "ManagedPolicyArns" not in role["Properties"]
        assert {"logs:CreateLogStream", "logs:PutLogEvents"} <= _actions(prod, name)
