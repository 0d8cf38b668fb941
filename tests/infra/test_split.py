"""SplitProcessing: large files on a Step Functions Distributed Map (R23, R24, R26)."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk.assertions import Match, Template

from financial_pipeline import FinancialPipeline, LambdaOptions
from financial_pipeline.contract import Env
from financial_pipeline.pipeline import default_split_max_concurrency
from infra.config import EnvironmentConfig

from .conftest import REGION, Synthesized, logical_id, resources, stack_name

SPLIT_FUNCTIONS = ("ParsePart", "WritePartition", "FinishSplit")
LAMBDA_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "States.TaskFailed",
]
RETRY = [
    {
        "ErrorEquals": LAMBDA_ERRORS,
        "IntervalSeconds": 2,
        "MaxAttempts": 3,
        "BackoffRate": 2,
        "JitterStrategy": "FULL",
    }
]
JOB = {
    "jobId.$": "$.jobId",
    "bucket.$": "$.bucket",
    "key.$": "$.key",
    "etag.$": "$.etag",
    "attempt.$": "$.attempt",
}


def _machine(template: Template) -> tuple[str, dict[str, Any]]:
    ((machine_id, machine),) = resources(template, "AWS::StepFunctions::StateMachine").items()
    return machine_id, machine["Properties"]


def _placeholder(part: Any) -> str:
    if isinstance(part, str):
        return part
    if "Ref" in part:
        return f"${{{part['Ref']}}}"
    if "Fn::GetAtt" in part:
        return f"${{{part['Fn::GetAtt'][0]}.{part['Fn::GetAtt'][1]}}}"
    raise AssertionError(f"unexpected token in the definition: {part}")


def definition(template: Template) -> dict[str, Any]:
    """The state machine's definition with its tokens as ``${LogicalId}`` / ``${Id.Attr}``."""
    _, props = _machine(template)
    separator, parts = props["DefinitionString"]["Fn::Join"]
    parsed: dict[str, Any] = json.loads(separator.join(_placeholder(p) for p in parts))
    return parsed


def _function_id(template: Template, name: str) -> str:
    return logical_id(template, "AWS::Lambda::Function", f"{name}Function")


def _policy_statements(template: Template, fragment: str) -> list[dict[str, Any]]:
    policy_id = logical_id(template, "AWS::IAM::Policy", fragment)
    statements: list[dict[str, Any]] = resources(template, "AWS::IAM::Policy")[policy_id][
        "Properties"
    ]["PolicyDocument"]["Statement"]
    return statements


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _s3_grants(template: Template, fragment: str) -> set[tuple[str, str]]:
    pairs = set()
    for statement in _policy_statements(template, fragment):
        for action in _as_list(statement["Action"]):
            if action.startswith("s3:"):
                for arn in _as_list(statement["Resource"]):
                    pairs.add((action, arn["Fn::Join"][1][1] if "Fn::Join" in arn else "bucket"))
    return pairs


def _execution_arn(machine_id: str, suffix: str) -> dict[str, Any]:
    return {
        "Fn::Join": [
            "",
            [
                "arn:aws:states:eu-west-1:",
                {"Ref": "AWS::AccountId"},
                ":execution:",
                {"Fn::Select": [6, {"Fn::Split": [":", {"Ref": machine_id}]}]},
                suffix,
            ],
        ]
    }


# The state machine


def test_r23_state_machine_is_standard_named_traced_and_logs_everything_for_7_days(
    prod: Template,
) -> None:
    # Given the state machine and its log group
    _, props = _machine(prod)
    group_id = logical_id(prod, "AWS::Logs::LogGroup", "PipelineSplitLogGroup")
    group = resources(prod, "AWS::Logs::LogGroup")[group_id]["Properties"]
    # Then it is STANDARD (hours-long, redrivable), named after its place, traced, and logs
    # every event with its data to a 7-day vended-logs group
    assert props["StateMachineType"] == "STANDARD"
    assert props["StateMachineName"] == f"{stack_name('prod')}-Pipeline-Split"
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"] == {
        "Destinations": [
            {"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": [group_id, "Arn"]}}}
        ],
        "IncludeExecutionData": True,
        "Level": "ALL",
    }
    assert group["RetentionInDays"] == 7
    assert group["LogGroupName"] == f"/aws/vendedlogs/states/{stack_name('prod')}-Pipeline-Split"
    # And the default profile keeps AWS-owned encryption
    assert "EncryptionConfiguration" not in props


def test_r23_execution_times_out_after_12_hours(prod: Template) -> None:
    # Given the definition / Then an execution stops after 12 hours (a 5 GiB file at the
    # on-demand start of 4,000 writes/s takes about 8)
    assert definition(prod)["TimeoutSeconds"] == 12 * 3600


def test_r23_definition_is_the_runtime_contract(prod: Template) -> None:
    # Given the definition the runtime codes against and moto's engine runs
    states = definition(prod)["States"]
    bucket = "${" + logical_id(prod, "AWS::S3::Bucket", "UploadBucket") + "}"
    parse, write, finish = ("${" + _function_id(prod, name) + ".Arn}" for name in SPLIT_FUNCTIONS)
    # Then the states are the contract's, in its order
    assert definition(prod)["StartAt"] == "ParseParts"
    stages = ("ParseParts", "CheckKeys", "WritePartitions", "Finish")
    assert set(states) == {
        *stages,
        *(f"{stage}Failed" for stage in stages),
        "WriteOrStop",
        "NothingToWrite",
        "FailJob",
        "JobFailed",
    }

    def catch(stage: str) -> list[dict[str, Any]]:
        return [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": f"{stage}Failed"}
        ]

    # And ParseParts maps the parts manifest, one part per STANDARD child execution
    assert states["ParseParts"] == {
        "Type": "Map",
        "ResultPath": None,
        "Next": "CheckKeys",
        "Catch": catch("ParseParts"),
        "ItemReader": {
            "Resource": "arn:${AWS::Partition}:states:::s3:getObject",
            "ReaderConfig": {"InputType": "JSON"},
            "Parameters": {"Bucket": bucket, "Key.$": "$.partsKey"},
        },
        "ItemSelector": {
            "jobId.$": "$.jobId",
            "bucket.$": "$.bucket",
            "key.$": "$.key",
            "etag.$": "$.etag",
            "part.$": "$$.Map.Item.Value",
        },
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "ParsePart",
            "States": {
                "ParsePart": {"Type": "Task", "Resource": parse, "Retry": RETRY, "End": True}
            },
        },
        "MaxConcurrency": 50,
    }
    # And WritePartitions the partitions manifest, as many at once as the table allows
    assert states["WritePartitions"] == {
        "Type": "Map",
        "ResultPath": None,
        "Next": "Finish",
        "Catch": catch("WritePartitions"),
        "ItemReader": {
            "Resource": "arn:${AWS::Partition}:states:::s3:getObject",
            "ReaderConfig": {"InputType": "JSON"},
            "Parameters": {"Bucket": bucket, "Key.$": "$.partitionsKey"},
        },
        "ItemSelector": {
            "jobId.$": "$.jobId",
            "bucket.$": "$.bucket",
            "partition.$": "$$.Map.Item.Value",
        },
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "WritePartition",
            "States": {
                "WritePartition": {"Type": "Task", "Resource": write, "Retry": RETRY, "End": True}
            },
        },
        "MaxConcurrency": 1,
    }
    # And between them CheckKeys checks the hottest symbol's write budget against the time the
    # execution has left (12 h from its start), and stops before any write when it refuses
    assert states["CheckKeys"] == {
        "Type": "Task",
        "Resource": finish,
        "Parameters": {
            **JOB,
            "step": "CheckKeys",
            "startedAt.$": "$$.Execution.StartTime",
            "timeoutSeconds": 12 * 3600,
        },
        "ResultPath": "$.keys",
        "Retry": RETRY,
        "Catch": catch("CheckKeys"),
        "Next": "WriteOrStop",
    }
    assert states["WriteOrStop"] == {
        "Type": "Choice",
        "Choices": [{"Variable": "$.keys.write", "BooleanEquals": False, "Next": "NothingToWrite"}],
        "Default": "WritePartitions",
    }
    assert states["NothingToWrite"] == {"Type": "Succeed"}
    # And Finish finishes the job; every step's catch records its stage, FailJob fails the job
    # with the caught error and the stage, then the execution fails (redrivable)
    assert states["Finish"] == {
        "Type": "Task",
        "Resource": finish,
        "Parameters": {**JOB, "outcome": "SUCCEEDED"},
        "Retry": RETRY,
        "Catch": catch("Finish"),
        "End": True,
    }
    for stage in stages:
        assert states[f"{stage}Failed"] == {
            "Type": "Pass",
            "Result": stage,
            "ResultPath": "$.stage",
            "Next": "FailJob",
        }
    assert states["FailJob"] == {
        "Type": "Task",
        "Resource": finish,
        "Parameters": {
            **JOB,
            "outcome": "FAILED",
            "failure.$": "$.failure",
            "stage.$": "$.stage",
        },
        "ResultPath": None,
        "Retry": RETRY,
        "Next": "JobFailed",
    }
    assert states["JobFailed"]["Type"] == "Fail"


@pytest.mark.parametrize("env", ["dev", "prod", "regulated"])
def test_r23_r29_definition_parses_with_motos_engine(synthesized: Synthesized, env: str) -> None:
    # Given the definition with its tokens replaced by plausible values
    from moto.stepfunctions.parser.asl.parse import asl_parser as parser

    _, props = _machine(synthesized.template(env))
    separator, parts = props["DefinitionString"]["Fn::Join"]

    def value(part: Any) -> str:
        if isinstance(part, str):
            return part
        if part.get("Ref") == "AWS::Partition":
            return "aws"
        if "Ref" in part:
            return "bucket"
        return f"arn:aws:lambda:eu-west-1:123456789012:function:{part['Fn::GetAtt'][0]}"

    text = separator.join(value(p) for p in parts)
    # Then the local run's engine accepts it (it rejects ItemBatcher, EXPRESS children of a
    # distributed map and tolerated-failure settings)
    parser.AmazonStateLanguageParser.parse(text)
    assert "ItemBatcher" not in text and "Tolerated" not in text and "EXPRESS" not in text


# Permissions


def test_r23_state_machine_starts_describes_stops_and_redrives_only_its_own_children(
    prod: Template,
) -> None:
    # Given CDK's Distributed Map policy on the state machine's role
    machine_id, _ = _machine(prod)
    statements = _policy_statements(prod, "SplitStateMachineDistributedMapPolicy")
    # Then child executions are started on the state machine itself, described and stopped by
    # the execution ARN pattern, and map runs redriven by the map-run execution pattern
    assert statements == [
        {"Action": "states:StartExecution", "Effect": "Allow", "Resource": {"Ref": machine_id}},
        {
            "Action": ["states:DescribeExecution", "states:StopExecution"],
            "Effect": "Allow",
            "Resource": _execution_arn(machine_id, ":*"),
        },
        {
            "Action": "states:RedriveExecution",
            "Effect": "Allow",
            "Resource": _execution_arn(machine_id, "/*:*"),
        },
    ]
    # And the policy is attached to the state machine's role
    role = logical_id(prod, "AWS::IAM::Role", "SplitStateMachineRole")
    policy = resources(prod, "AWS::IAM::Policy")[
        logical_id(prod, "AWS::IAM::Policy", "SplitStateMachineDistributedMapPolicy")
    ]
    assert policy["Properties"]["Roles"] == [{"Ref": role}]


def test_r23_item_reader_reads_only_the_split_prefix(prod: Template) -> None:
    # Given the state machine role's S3 grants / Then the manifests' reads are limited to
    # split/ (CDK's S3JsonItemReader would grant GetObject on every object of the bucket)
    assert _s3_grants(prod, "SplitStateMachineRoleDefaultPolicy") == {("s3:GetObject", "/split/*")}


def test_r23_state_machine_invokes_exactly_the_three_functions(prod: Template) -> None:
    # Given the role's invoke statement
    statements = _policy_statements(prod, "SplitStateMachineRoleDefaultPolicy")
    (invoke,) = [s for s in statements if s["Action"] == "lambda:InvokeFunction"]
    arns = [{"Fn::GetAtt": [_function_id(prod, n), "Arn"]} for n in SPLIT_FUNCTIONS]
    # Then it names the three split functions (and their versions), nothing else
    expected = arns + [{"Fn::Join": ["", [arn, ":*"]]} for arn in arns]
    assert sorted(map(json.dumps, invoke["Resource"])) == sorted(map(json.dumps, expected))
    # And the rest is log delivery and X-Ray, the object read, nothing more
    actions = {a for s in statements for a in _as_list(s["Action"])}
    assert {a.split(":")[0] for a in actions} == {"lambda", "logs", "xray", "s3"}


def test_r23_processor_plans_large_files_and_starts_their_executions(
    prod: Template, dev: Template
) -> None:
    # Given the processor
    machine_id, _ = _machine(prod)
    statements = _policy_statements(prod, "ProcessorRoleDefaultPolicy")
    # Then it may start executions of this state machine only
    (start,) = [s for s in statements if "states:StartExecution" in _as_list(s["Action"])]
    assert start["Action"] == "states:StartExecution"
    assert start["Resource"] == {"Ref": machine_id}
    assert not any(
        a.startswith("states:") and a != "states:StartExecution"
        for s in statements
        for a in _as_list(s["Action"])
    )
    # And it knows the state machine and the split settings (defaults in prod, cdk.json in dev)
    functions = resources(prod, "AWS::Lambda::Function")
    variables = functions[_function_id(prod, "Processor")]["Properties"]["Environment"]["Variables"]
    assert variables[Env.STATE_MACHINE_ARN] == {"Ref": machine_id}
    assert variables[Env.SPLIT_THRESHOLD_BYTES] == str(16 * 1024 * 1024)
    assert variables[Env.PART_BYTES] == str(8 * 1024 * 1024)
    dev_variables = resources(dev, "AWS::Lambda::Function")[_function_id(dev, "Processor")][
        "Properties"
    ]["Environment"]["Variables"]
    assert dev_variables[Env.SPLIT_THRESHOLD_BYTES] == str(8 * 1024 * 1024)
    assert dev_variables[Env.PART_BYTES] == str(4 * 1024 * 1024)


def test_r23_split_functions_have_only_the_object_actions_they_use(prod: Template) -> None:
    # Given each split function's S3 grants / Then parse_part reads the upload and writes
    # split/; write_partition reads and writes split/ (aborting its conflicts upload);
    # finish_split reads split/, writes the
    # report, archives the upload and deletes split/ objects
    assert _s3_grants(prod, "ParsePartRoleDefaultPolicy") == {
        ("s3:GetObject", "/incoming/*"),
        ("s3:PutObject", "/split/*"),
    }
    assert _s3_grants(prod, "WritePartitionRoleDefaultPolicy") == {
        ("s3:GetObject", "/split/*"),
        ("s3:PutObject", "/split/*"),
        ("s3:AbortMultipartUpload", "/split/*"),
        ("s3:ListBucket", "bucket"),
    }
    assert _s3_grants(prod, "FinishSplitRoleDefaultPolicy") == {
        ("s3:GetObject", "/split/*"),
        ("s3:DeleteObject", "/split/*"),
        ("s3:PutObject", "/reports/*"),
        ("s3:AbortMultipartUpload", "/reports/*"),
        ("s3:GetObject", "/incoming/*"),
        ("s3:DeleteObject", "/incoming/*"),
        ("s3:PutObject", "/processed/*"),
        ("s3:ListBucket", "bucket"),
    }


def test_r24_parts_may_only_update_the_job(prod: Template) -> None:
    # Given parse_part's jobs-table grants
    jobs = {"Fn::GetAtt": [logical_id(prod, "AWS::DynamoDB::GlobalTable", "JobsTable"), "Arn"]}
    statements = _policy_statements(prod, "ParsePartRoleDefaultPolicy")
    on_jobs = [s for s in statements if jobs in _as_list(s["Resource"])]
    # Then the only one is UpdateItem on the table (progress counters), no index, no read
    assert on_jobs == [{"Action": "dynamodb:UpdateItem", "Effect": "Allow", "Resource": jobs}]
    # And only write_partition writes rows
    results = logical_id(prod, "AWS::DynamoDB::GlobalTable", "ResultsTable")
    writers = [
        name
        for name in SPLIT_FUNCTIONS
        if any(
            {"Fn::GetAtt": [results, "Arn"]} in _as_list(s["Resource"])
            for s in _policy_statements(prod, f"{name}RoleDefaultPolicy")
        )
    ]
    assert writers == ["WritePartition"]


@pytest.mark.parametrize("env", ["prod", "regulated"])
def test_fails_r23_write_partition_may_read_its_job_and_list_its_split_objects(
    synthesized: Synthesized, env: str
) -> None:
    # Given write_partition's role, whose code reads its job (GetItem, for the earliest fatal
    # line) and lists its partition objects (ListObjectsV2 under split/)
    template = Template.from_json(synthesized.templates[env])
    jobs = {"Fn::GetAtt": [logical_id(template, "AWS::DynamoDB::GlobalTable", "JobsTable"), "Arn"]}
    statements = _policy_statements(template, "WritePartitionRoleDefaultPolicy")
    # Then it may GetItem and UpdateItem the jobs table itself, and nothing else there
    on_jobs = sorted(
        (a for s in statements if jobs in _as_list(s["Resource"]) for a in _as_list(s["Action"])),
    )
    assert on_jobs == ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    # And it may list the bucket, for keys under split/ only
    (listing,) = [s for s in statements if "s3:ListBucket" in _as_list(s["Action"])]
    assert listing["Action"] == "s3:ListBucket"
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["split/*"]}}
    assert "/" not in json.dumps(listing["Resource"])


def test_fails_r23_write_partition_may_abort_its_conflicts_upload(prod: Template) -> None:
    # Given write_partition's role, whose conflicts object is a multipart upload under split/
    # that it aborts when the partition fails
    grants = _s3_grants(prod, "WritePartitionRoleDefaultPolicy")
    # Then it may abort uploads under split/, and nowhere else
    assert {g for g in grants if g[0] == "s3:AbortMultipartUpload"} == {
        ("s3:AbortMultipartUpload", "/split/*")
    }
    # And the other split writer, which only puts whole objects, may not
    parse_part = _s3_grants(prod, "ParsePartRoleDefaultPolicy")
    assert not {g for g in parse_part if g[0] == "s3:AbortMultipartUpload"}


def test_fails_r23_every_report_writer_may_abort_its_multipart_upload(prod: Template) -> None:
    # Given the roles that write reports (the single pass and the split finisher), which abort
    # the report's multipart upload when a file error follows
    for name in ("ProcessorRoleDefaultPolicy", "FinishSplitRoleDefaultPolicy"):
        # Then the abort is granted where the report is written, and nowhere else
        grants = _s3_grants(prod, name)
        assert ("s3:AbortMultipartUpload", "/reports/*") in grants
        assert {g for g in grants if g[0] == "s3:AbortMultipartUpload"} == {
            ("s3:AbortMultipartUpload", "/reports/*")
        }


def test_r23_split_objects_expire_after_2_days(prod: Template) -> None:
    # Given the upload bucket's lifecycle rules / Then split/ objects a crash left go in 2 days
    prod.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [
                        {
                            "Id": "ExpireSplitObjects",
                            "Prefix": "split/",
                            "ExpirationInDays": 2,
                            "Status": "Enabled",
                        }
                    ]
                )
            }
        },
    )


# Observability


def test_r23_alarm_on_failed_or_timed_out_executions(prod: Template) -> None:
    # Given the execution alarm
    machine_id, _ = _machine(prod)
    (alarm,) = [
        a["Properties"]
        for a in resources(prod, "AWS::CloudWatch::Alarm").values()
        if a["Properties"]["AlarmName"].endswith("-SplitExecutionsFailed")
    ]
    # Then it fires on one failed or timed-out execution in 5 minutes
    (expression,) = [m for m in alarm["Metrics"] if "Expression" in m]
    assert expression["Expression"] == "failed + timedOut"
    stats = {m["Id"]: m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert {k: s["Metric"]["MetricName"] for k, s in stats.items()} == {
        "failed": "ExecutionsFailed",
        "timedOut": "ExecutionsTimedOut",
    }
    for stat in stats.values():
        assert stat["Metric"]["Namespace"] == "AWS/States"
        assert stat["Metric"]["Dimensions"] == [
            {"Name": "StateMachineArn", "Value": {"Ref": machine_id}}
        ]
        assert (stat["Stat"], stat["Period"]) == ("Sum", 300)
    assert alarm["Threshold"] == 0
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"


@pytest.mark.parametrize("name", SPLIT_FUNCTIONS)
def test_r17_split_functions_have_error_rate_alarms(prod: Template, name: str) -> None:
    # Given the alarms / Then each split function has its error-rate alarm (R17)
    names = {
        a["Properties"]["AlarmName"] for a in resources(prod, "AWS::CloudWatch::Alarm").values()
    }
    assert f"{stack_name('prod')}-Pipeline-{name}ErrorRate" in names


def test_r23_dashboard_shows_executions_and_parts(prod: Template) -> None:
    # Given the dashboard body
    (dashboard,) = resources(prod, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    # Then it graphs executions started, succeeded, failed and timed out, and the parts' and
    # partitions' invocations and errors
    for metric in ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed"):
        assert metric in body
    assert "ExecutionsTimedOut" in body
    assert "Large files: executions" in body and "Large files: parts and partitions" in body
    for name in ("ParsePart", "WritePartition"):
        assert _function_id(prod, name) in body


# Hardened profile


def test_r26_state_machine_and_its_log_group_use_the_pipeline_key(regulated: Template) -> None:
    # Given the one key and the state machine
    key = logical_id(regulated, "AWS::KMS::Key", "EncryptionKey")
    _, props = _machine(regulated)
    group_id = logical_id(regulated, "AWS::Logs::LogGroup", "PipelineSplitLogGroup")
    group = resources(regulated, "AWS::Logs::LogGroup")[group_id]["Properties"]
    # Then the definition and execution history, and the logs, are encrypted with it
    assert props["EncryptionConfiguration"] == {
        "KmsDataKeyReusePeriodSeconds": 300,
        "KmsKeyId": {"Fn::GetAtt": [key, "Arn"]},
        "Type": "CUSTOMER_MANAGED_KMS_KEY",
    }
    assert group["KmsKeyId"] == {"Fn::GetAtt": [key, "Arn"]}


def test_r26_state_machine_role_may_use_the_key_for_its_own_executions(
    regulated: Template,
) -> None:
    # Given the state machine role's key statements
    key = {"Fn::GetAtt": [logical_id(regulated, "AWS::KMS::Key", "EncryptionKey"), "Arn"]}
    statements = _policy_statements(regulated, "SplitStateMachineRoleDefaultPolicy")
    (own,) = [s for s in statements if s["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]]
    # Then the encryption context names this state machine: CDK writes an ARN ending in
    # ":stateMachine:" for an unnamed one, which matches none, so executions could not decrypt
    assert own["Resource"] == key
    assert own["Condition"] == {
        "StringEquals": {
            "kms:EncryptionContext:aws:states:stateMachineArn": {
                "Fn::Join": [
                    "",
                    [
                        "arn:aws:states:eu-west-1:",
                        {"Ref": "AWS::AccountId"},
                        f":stateMachine:{stack_name('regulated')}-Pipeline-Split",
                    ],
                ]
            }
        }
    }
    # And the ItemReader may decrypt the SSE-KMS manifests
    assert {"Action": "kms:Decrypt", "Effect": "Allow", "Resource": key} in statements


def test_r26_processor_may_encrypt_execution_input_for_this_state_machine_only(
    regulated: Template,
) -> None:
    # Given the processor's key statements
    machine_id, _ = _machine(regulated)
    statements = _policy_statements(regulated, "ProcessorRoleDefaultPolicy")
    (start,) = [s for s in statements if s.get("Condition")]
    # Then StartExecution's data key is scoped to this state machine's encryption context
    assert start["Action"] == "kms:GenerateDataKey"
    assert start["Condition"] == {
        "StringEquals": {"kms:EncryptionContext:aws:states:stateMachineArn": {"Ref": machine_id}}
    }


# Props


def _build(stack: cdk.Stack, **props: Any) -> FinancialPipeline:
    return FinancialPipeline(
        stack,
        "Pipeline",
        environment_name="dev",
        lambda_options=LambdaOptions(bundle_dependencies=False),
        **props,
    )


@pytest.mark.parametrize(
    ("warm", "expected"),
    [(None, 1), (4_000, 1), (10_000, 1), (19_999, 1), (20_000, 2), (40_000, 4)],
)
def test_r23_default_write_concurrency_follows_the_tables_write_capacity(
    warm: int | None, expected: int
) -> None:
    # Given the results table's write warm throughput (None: the on-demand start, 4,000/s)
    throughput = None if warm is None else dynamodb.WarmThroughput(write_units_per_second=warm)
    # Then one 10,000 writes/s writer per 10,000 units, at least one
    assert default_split_max_concurrency(throughput) == expected


def test_r23_write_concurrency_is_derived_or_given(stack: cdk.Stack) -> None:
    # Given a pipeline with a 40,000 writes/s table and one with an explicit concurrency
    _build(
        stack, results_table_warm_throughput=dynamodb.WarmThroughput(write_units_per_second=40_000)
    )
    app = stack.node.root
    assert isinstance(app, cdk.App)
    other = cdk.Stack(app, "Other", env=cdk.Environment(region=REGION))
    _build(other, split_max_concurrency=7, split_parse_max_concurrency=9)
    # When synthesized
    derived = definition(Template.from_stack(stack))["States"]
    given = definition(Template.from_stack(other))["States"]
    # Then the writers follow the table, or the prop
    assert derived["WritePartitions"]["MaxConcurrency"] == 4
    assert derived["ParseParts"]["MaxConcurrency"] == 50
    assert given["WritePartitions"]["MaxConcurrency"] == 7
    assert given["ParseParts"]["MaxConcurrency"] == 9


@pytest.mark.parametrize("part", [0, 1024 * 1024 - 1, 5 * 1024**3 + 1])
def test_fails_on_a_part_size_out_of_range(stack: cdk.Stack, part: int) -> None:
    with pytest.raises(ValueError, match=rf"part_bytes must be between .* \(got {part}\)"):
        _build(stack, part_bytes=part, split_threshold_bytes=5 * 1024**3)


def test_fails_on_a_threshold_below_the_part_size(stack: cdk.Stack) -> None:
    with pytest.raises(
        ValueError,
        match=r"threshold_bytes must be between part_bytes \(8388608\) .* \(got 4194304\)",
    ):
        _build(stack, split_threshold_bytes=4 * 1024 * 1024, part_bytes=8 * 1024 * 1024)


def test_fails_on_a_threshold_above_the_upload_cap(stack: cdk.Stack) -> None:
    size = 5 * 1024**3 + 1
    with pytest.raises(ValueError, match=rf"threshold_bytes must be .* \(got {size}\)"):
        _build(stack, split_threshold_bytes=size)


@pytest.mark.parametrize(
    ("prop", "name"),
    [
        ("split_max_concurrency", "max_concurrency"),
        ("split_parse_max_concurrency", "parse_max_concurrency"),
    ],
)
@pytest.mark.parametrize("value", [0, 10_001])
def test_fails_on_a_map_concurrency_out_of_range(
    stack: cdk.Stack, prop: str, name: str, value: int
) -> None:
    with pytest.raises(ValueError, match=rf"{name} must be between 1 and 10000 \(got {value}\)"):
        _build(stack, **{prop: value})


@pytest.mark.parametrize("key", ["splitThresholdBytes", "partBytes"])
@pytest.mark.parametrize("value", ["8MiB", 0, True])
def test_fails_on_a_bad_split_setting_in_cdk_json(key: str, value: Any) -> None:
    # Given an environment whose split setting is not a positive integer / Then it is refused
    raw = {"team": "t", "costCenter": "c", key: value}
    with pytest.raises(ValueError, match=rf"environment 'x': {key} must be a positive integer"):
        EnvironmentConfig.from_context("x", raw)


def test_split_settings_of_cdk_json_reach_the_config() -> None:
    # Given dev's split settings / Then they are parsed as given
    raw = {"team": "t", "costCenter": "c", "splitThresholdBytes": 8388608, "partBytes": 4194304}
    config = EnvironmentConfig.from_context("dev", raw)
    assert (config.split_threshold_bytes, config.part_bytes) == (8388608, 4194304)
