"""R34: each AWS call the runtime makes maps to the IAM checks AWS makes for it.

Every request here is botocore's own: a client with fake credentials and a local endpoint URL
builds and signs it, and a ``before-send`` hook captures it instead of sending it, so the method,
path, query, headers and body are exactly what the local endpoint will see. The calls are the
ones the code in ``runtime/`` makes (plus the neighbours the endpoint will meet).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError
from urllib3 import encode_multipart_formdata

from local.authz import (
    SUPPLIED_KEYS,
    Check,
    HttpRequest,
    KmsKey,
    access_denied,
    checks_for,
    denial_message,
    is_known_action,
    principal_context,
    reads_body,
    signing_service,
)
from local.policy import Evaluator, Outcome, Principal, Request

REGION = "eu-west-1"
ACCOUNT = "123456789012"
ENDPOINT = "http://127.0.0.1:4566"
ROLE = Principal.role(f"arn:aws:iam::{ACCOUNT}:role/Processor", "processor")
BUCKET = "uploads"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"
JOBS = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/jobs"
MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:Split"
EXECUTION = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:Split:job-1"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{KEY_ID}"


class Captured(Exception):
    def __init__(self, request: AWSPreparedRequest) -> None:
        super().__init__("captured")
        self.request = request


def _capture(request: AWSPreparedRequest, **_: Any) -> None:
    raise Captured(request)


def client(service: str, endpoint: str = ENDPOINT, **config: Any) -> Any:
    made = boto3.client(
        service,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": 1}, **config),
    )
    made.meta.events.register("before-send", _capture)
    return made


def to_http(prepared: AWSPreparedRequest) -> HttpRequest:
    url = urlsplit(prepared.url)
    body = prepared.body
    if hasattr(body, "read"):
        body = body.read()
    if isinstance(body, str):
        body = body.encode()
    headers = {
        key: value.decode() if isinstance(value, bytes) else value
        for key, value in prepared.headers.items()
    }
    headers.setdefault("Host", url.netloc)  # as the HTTP client puts it on the wire
    return HttpRequest(prepared.method, url.path, url.query, headers, body or b"")


def sent(made: Any, operation: str, **params: Any) -> HttpRequest:
    """The request botocore sends for ``operation``."""
    try:
        getattr(made, operation)(**params)
    except Captured as captured:
        return to_http(captured.request)
    raise AssertionError(f"{operation} sent nothing")


def checks(request: HttpRequest, **options: Any) -> list[Check]:
    """The checks of ``request``; every action they name must be one IAM defines."""
    found = checks_for(request, region=REGION, account=ACCOUNT, principal=ROLE, **options)
    for check in found:
        assert not check.known or is_known_action(check.action), check.action
    return found


def pairs(found: list[Check]) -> list[tuple[str, str]]:
    return [(c.action, c.resource) for c in found]


def s3_call(operation: str, **params: Any) -> list[Check]:
    return checks(sent(client("s3"), operation, **params))


# --- S3 (runtime/dal/objects.py, runtime/dal/report.py) ----------------------------------------


def test_get_object_with_a_range_is_get_object() -> None:
    found = s3_call("get_object", Bucket=BUCKET, Key="incoming/job 1", Range="bytes=0-99")
    assert pairs(found) == [("s3:GetObject", f"{BUCKET_ARN}/incoming/job 1")]
    assert found[0].operation == "S3.GetObject"
    assert found[0].context["s3:authType"] == "REST-HEADER"
    assert found[0].context["s3:signatureversion"] == "AWS4-HMAC-SHA256"


def test_a_versioned_get_is_get_object_version() -> None:
    found = s3_call("get_object", Bucket=BUCKET, Key="k", VersionId="v1")
    assert pairs(found) == [("s3:GetObjectVersion", f"{BUCKET_ARN}/k")]
    assert found[0].context["s3:VersionId"] == "v1"


def test_head_object_is_get_object() -> None:
    found = s3_call("head_object", Bucket=BUCKET, Key="incoming/j1")
    assert pairs(found) == [("s3:GetObject", f"{BUCKET_ARN}/incoming/j1")]
    assert found[0].operation == "S3.HeadObject"


def test_put_object() -> None:
    found = s3_call(
        "put_object", Bucket=BUCKET, Key="split/j1/manifest.json", Body=b"{}", ContentType="a/b"
    )
    assert pairs(found) == [("s3:PutObject", f"{BUCKET_ARN}/split/j1/manifest.json")]


def test_put_object_with_tags_and_an_acl_needs_their_permissions_too() -> None:
    found = s3_call(
        "put_object",
        Bucket=BUCKET,
        Key="k",
        Body=b"x",
        Tagging="a=b",
        ACL="private",
        ServerSideEncryption="AES256",
    )
    assert [c.action for c in found] == ["s3:PutObject", "s3:PutObjectTagging", "s3:PutObjectAcl"]
    assert found[0].context["s3:x-amz-server-side-encryption"] == "AES256"
    assert found[0].context["s3:x-amz-acl"] == "private"


def test_the_multipart_report_upload() -> None:
    key = f"{BUCKET_ARN}/reports/j1.csv"
    create = s3_call("create_multipart_upload", Bucket=BUCKET, Key="reports/j1.csv")
    part = s3_call(
        "upload_part", Bucket=BUCKET, Key="reports/j1.csv", UploadId="u1", PartNumber=1, Body=b"x"
    )
    complete = s3_call(
        "complete_multipart_upload",
        Bucket=BUCKET,
        Key="reports/j1.csv",
        UploadId="u1",
        MultipartUpload={"Parts": [{"ETag": '"e"', "PartNumber": 1}]},
    )
    abort = s3_call("abort_multipart_upload", Bucket=BUCKET, Key="reports/j1.csv", UploadId="u1")
    assert pairs(create) == pairs(part) == pairs(complete) == [("s3:PutObject", key)]
    assert [c.operation for c in create + part + complete] == [
        "S3.CreateMultipartUpload",
        "S3.UploadPart",
        "S3.CompleteMultipartUpload",
    ]
    assert pairs(abort) == [("s3:AbortMultipartUpload", key)]


def test_multipart_listings() -> None:
    uploads = s3_call("list_multipart_uploads", Bucket=BUCKET)
    parts = s3_call("list_parts", Bucket=BUCKET, Key="reports/j1.csv", UploadId="u1")
    assert pairs(uploads) == [("s3:ListBucketMultipartUploads", BUCKET_ARN)]
    assert pairs(parts) == [("s3:ListMultipartUploadParts", f"{BUCKET_ARN}/reports/j1.csv")]


def test_copy_object_reads_the_source_and_writes_the_target() -> None:
    found = s3_call(
        "copy_object",
        Bucket=BUCKET,
        Key="processed/j1.csv",
        CopySource={"Bucket": BUCKET, "Key": "incoming/j 1+x"},
        CopySourceIfMatch='"etag"',
    )
    assert pairs(found) == [
        ("s3:GetObject", f"{BUCKET_ARN}/incoming/j 1+x"),
        ("s3:PutObject", f"{BUCKET_ARN}/processed/j1.csv"),
    ]
    assert found[1].context["s3:x-amz-copy-source"] == f"{BUCKET}/incoming/j 1+x"


def test_copying_a_version_reads_it_as_get_object_version() -> None:
    found = s3_call(
        "copy_object",
        Bucket=BUCKET,
        Key="dst",
        CopySource={"Bucket": "other", "Key": "src", "VersionId": "v9"},
    )
    assert pairs(found)[0] == ("s3:GetObjectVersion", "arn:aws:s3:::other/src")


def test_delete_object_and_delete_objects_per_key() -> None:
    single = s3_call("delete_object", Bucket=BUCKET, Key="incoming/j1")
    assert pairs(single) == [("s3:DeleteObject", f"{BUCKET_ARN}/incoming/j1")]
    many = s3_call(
        "delete_objects",
        Bucket=BUCKET,
        Delete={
            "Objects": [
                {"Key": "split/j1/a"},
                {"Key": "split/j1/b&<c>"},
                {"Key": "v", "VersionId": "3"},
            ],
            "Quiet": True,
        },
    )
    assert pairs(many) == [
        ("s3:DeleteObject", f"{BUCKET_ARN}/split/j1/a"),
        ("s3:DeleteObject", f"{BUCKET_ARN}/split/j1/b&<c>"),
        ("s3:DeleteObjectVersion", f"{BUCKET_ARN}/v"),
    ]
    assert many[0].operation == "S3.DeleteObjects"


def test_list_objects_v2_is_list_bucket_with_the_prefix() -> None:
    made = client("s3")
    try:
        next(
            iter(made.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="split/j1/"))
        )
    except Captured as captured:
        found = checks(to_http(captured.request))
    assert pairs(found) == [("s3:ListBucket", BUCKET_ARN)]
    assert found[0].operation == "S3.ListObjectsV2"
    assert found[0].context["s3:prefix"] == "split/j1/"
    assert found[0].context["s3:max-keys"] == "1000"
    assert "s3:delimiter" not in found[0].context


def test_list_objects_v1_with_a_delimiter_and_max_keys() -> None:
    found = s3_call("list_objects", Bucket=BUCKET, Delimiter="/", MaxKeys=10)
    assert pairs(found) == [("s3:ListBucket", BUCKET_ARN)]
    assert found[0].operation == "S3.ListObjects"
    assert found[0].context["s3:delimiter"] == "/"
    assert found[0].context["s3:max-keys"] == "10"
    assert "s3:prefix" not in found[0].context


def test_bucket_and_object_subresources() -> None:
    assert pairs(s3_call("get_object_tagging", Bucket=BUCKET, Key="k")) == [
        ("s3:GetObjectTagging", f"{BUCKET_ARN}/k")
    ]
    assert pairs(s3_call("head_bucket", Bucket=BUCKET)) == [("s3:ListBucket", BUCKET_ARN)]
    assert pairs(s3_call("get_bucket_notification_configuration", Bucket=BUCKET)) == [
        ("s3:GetBucketNotification", BUCKET_ARN)
    ]
    assert pairs(
        s3_call(
            "put_bucket_notification_configuration",
            Bucket=BUCKET,
            NotificationConfiguration={},
        )
    ) == [("s3:PutBucketNotification", BUCKET_ARN)]
    assert pairs(s3_call("delete_bucket_tagging", Bucket=BUCKET)) == [
        ("s3:PutBucketTagging", BUCKET_ARN)
    ]
    assert pairs(s3_call("list_buckets")) == [("s3:ListAllMyBuckets", "*")]


def test_an_s3_operation_it_does_not_know_is_an_unknown_check() -> None:
    found = s3_call(
        "put_bucket_intelligent_tiering_configuration",
        Bucket=BUCKET,
        Id="x",
        IntelligentTieringConfiguration={
            "Id": "x",
            "Status": "Enabled",
            "Tierings": [{"Days": 90, "AccessTier": "ARCHIVE_ACCESS"}],
        },
    )
    assert len(found) == 1
    assert not found[0].known
    assert found[0].action.startswith("unknown:s3:")
    assert "intelligent-tiering" in found[0].operation


def test_a_presigned_post_upload_is_put_object_on_the_form_key() -> None:
    # runtime/dal/objects.py: presigned_post; the client then posts the form with the file last.
    signer = boto3.client(
        "s3",
        region_name=REGION,
        endpoint_url=ENDPOINT,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(signature_version="s3v4"),
    )
    post = signer.generate_presigned_post(
        BUCKET,
        "incoming/job-1",
        Fields={"Content-Type": "text/csv"},
        Conditions=[{"Content-Type": "text/csv"}, ["content-length-range", 1, 100]],
        ExpiresIn=300,
    )
    fields = [*post["fields"].items(), ("file", ("trades.csv", b"symbol,price\n" * 50))]
    body, content_type = encode_multipart_formdata(fields)
    url = urlsplit(post["url"])
    request = HttpRequest("POST", url.path, url.query, {"Content-Type": content_type}, body)
    assert signing_service(request) == "s3"
    found = checks(request)
    assert pairs(found) == [("s3:PutObject", f"{BUCKET_ARN}/incoming/job-1")]
    assert found[0].operation == "S3.PostObject"
    assert found[0].context["s3:authType"] == "POST"
    # The fields before the file are enough (the endpoint need not buffer the file).
    prefix = HttpRequest(
        "POST", url.path, "", {"Content-Type": content_type}, body[: body.index(b"symbol")]
    )
    assert pairs(checks(prefix)) == pairs(found)


def test_a_presigned_post_with_a_filename_variable() -> None:
    body, content_type = encode_multipart_formdata(
        [
            ("key", "incoming/${filename}"),
            ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
            ("file", ("t.csv", b"x")),
        ]
    )
    request = HttpRequest("POST", f"/{BUCKET}", "", {"Content-Type": content_type}, body, "s3")
    assert pairs(checks(request)) == [("s3:PutObject", f"{BUCKET_ARN}/incoming/t.csv")]


def test_a_presigned_get_url_is_get_object_signed_in_the_query() -> None:
    # runtime/dal/objects.py: report_url
    signer = boto3.client(
        "s3",
        region_name=REGION,
        endpoint_url=ENDPOINT,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(signature_version="s3v4"),
    )
    url = urlsplit(
        signer.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": BUCKET,
                "Key": "reports/j1.csv",
                "ResponseContentDisposition": 'attachment; filename="report-j1.csv"',
            },
            ExpiresIn=60,
        )
    )
    request = HttpRequest("GET", url.path, url.query, {"Host": url.netloc})
    assert signing_service(request) == "s3"
    found = checks(request)
    assert pairs(found) == [("s3:GetObject", f"{BUCKET_ARN}/reports/j1.csv")]
    assert found[0].context["s3:authType"] == "REST-QUERY-STRING"


def test_virtual_hosted_requests() -> None:
    made = client("s3", endpoint="http://localhost:4566", s3={"addressing_style": "virtual"})
    request = sent(made, "get_object", Bucket=BUCKET, Key="incoming/j1")
    assert request.header("Host") == f"{BUCKET}.localhost:4566"
    found = checks(request, s3_hosts=("localhost",))
    assert pairs(found) == [("s3:GetObject", f"{BUCKET_ARN}/incoming/j1")]
    aws = HttpRequest(
        "GET", "/a/b.csv", "", {"Host": f"{BUCKET}.s3.{REGION}.amazonaws.com"}, b"", "s3"
    )
    assert pairs(checks(aws)) == [("s3:GetObject", f"{BUCKET_ARN}/a/b.csv")]


def test_an_sse_kms_bucket_adds_the_kms_calls_s3_makes() -> None:
    keys = {BUCKET_ARN: KmsKey(KEY, bucket_key=True)}
    read = checks(sent(client("s3"), "get_object", Bucket=BUCKET, Key="k"), kms_keys=keys)
    assert pairs(read) == [("s3:GetObject", f"{BUCKET_ARN}/k"), ("kms:Decrypt", KEY)]
    via = read[1].context
    assert via["kms:ViaService"] == f"s3.{REGION}.amazonaws.com"
    assert via["kms:EncryptionContext:aws:s3:arn"] == BUCKET_ARN  # an S3 Bucket Key
    assert via["aws:ViaAWSService"] is True
    assert via["aws:CalledVia"] == ["s3.amazonaws.com"]
    assert via["kms:CallerAccount"] == ACCOUNT
    write = checks(
        sent(client("s3"), "put_object", Bucket=BUCKET, Key="k", Body=b"x"),
        kms_keys={BUCKET_ARN: KmsKey(KEY)},
    )
    assert pairs(write) == [("s3:PutObject", f"{BUCKET_ARN}/k"), ("kms:GenerateDataKey", KEY)]
    assert write[1].context["kms:EncryptionContext:aws:s3:arn"] == f"{BUCKET_ARN}/k"
    head = checks(sent(client("s3"), "head_object", Bucket=BUCKET, Key="k"), kms_keys=keys)
    assert pairs(head) == [("s3:GetObject", f"{BUCKET_ARN}/k")]  # metadata only


# --- DynamoDB (runtime/dal/jobs/, results_table.py, writer) --------------------------------------


def dynamodb_call(operation: str, **params: Any) -> list[Check]:
    return checks(sent(client("dynamodb"), operation, **params))


ITEM = {"jobId": {"S": "j1"}}


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("get_item", {"Key": ITEM, "ConsistentRead": True}),
        ("put_item", {"Item": ITEM, "ConditionExpression": "attribute_not_exists(jobId)"}),
        (
            "update_item",
            {
                "Key": ITEM,
                "UpdateExpression": "SET a = :a",
                "ExpressionAttributeValues": {":a": {"S": "x"}},
                "ReturnValues": "ALL_NEW",
            },
        ),
        ("delete_item", {"Key": ITEM}),
        ("describe_table", {}),
        (
            "query",
            {
                "KeyConditionExpression": "jobId = :j",
                "ExpressionAttributeValues": {":j": {"S": "j1"}},
            },
        ),
    ],
)
def test_table_operations_check_the_table(operation: str, params: dict[str, Any]) -> None:
    found = dynamodb_call(operation, TableName="jobs", **params)
    action = "dynamodb:" + "".join(part.title() for part in operation.split("_"))
    assert pairs(found) == [(action, JOBS)]


def test_a_query_or_scan_of_an_index_checks_the_index() -> None:
    query = dynamodb_call(
        "query",
        TableName="jobs",
        IndexName="byStatus",
        KeyConditionExpression="#s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "PROCESSING"}},
    )
    assert pairs(query) == [("dynamodb:Query", f"{JOBS}/index/byStatus")]
    scan = dynamodb_call("scan", TableName="jobs", IndexName="byEvent")
    assert pairs(scan) == [("dynamodb:Scan", f"{JOBS}/index/byEvent")]


def test_batches_check_every_table() -> None:
    writes = dynamodb_call(
        "batch_write_item",
        RequestItems={
            "results": [{"PutRequest": {"Item": {"symbol": {"S": "A"}}}}],
            "jobs": [{"DeleteRequest": {"Key": ITEM}}],
        },
    )
    results = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/results"
    assert pairs(writes) == [
        ("dynamodb:BatchWriteItem", results),
        ("dynamodb:BatchWriteItem", JOBS),
    ]
    reads = dynamodb_call("batch_get_item", RequestItems={"jobs": {"Keys": [ITEM]}})
    assert pairs(reads) == [("dynamodb:BatchGetItem", JOBS)]


def test_transactions_check_each_item_action() -> None:
    found = dynamodb_call(
        "transact_write_items",
        TransactItems=[
            {"Put": {"TableName": "results", "Item": {"symbol": {"S": "A"}}}},
            {
                "ConditionCheck": {
                    "TableName": "jobs",
                    "Key": ITEM,
                    "ConditionExpression": "attribute_exists(jobId)",
                }
            },
            {
                "Update": {
                    "TableName": "jobs",
                    "Key": ITEM,
                    "UpdateExpression": "SET a = :a",
                    "ExpressionAttributeValues": {":a": {"N": "1"}},
                }
            },
            {"Delete": {"TableName": "jobs", "Key": {"jobId": {"S": "j2"}}}},
        ],
    )
    assert pairs(found) == [
        ("dynamodb:PutItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/results"),
        ("dynamodb:ConditionCheckItem", JOBS),
        ("dynamodb:UpdateItem", JOBS),
        ("dynamodb:DeleteItem", JOBS),
    ]
    gets = dynamodb_call(
        "transact_get_items", TransactItems=[{"Get": {"TableName": "jobs", "Key": ITEM}}]
    )
    assert pairs(gets) == [("dynamodb:GetItem", JOBS)]


def test_a_table_named_by_its_arn_and_account_operations() -> None:
    assert pairs(dynamodb_call("get_item", TableName=JOBS, Key=ITEM)) == [
        ("dynamodb:GetItem", JOBS)
    ]
    assert pairs(dynamodb_call("list_tables")) == [("dynamodb:ListTables", "*")]
    partiql = dynamodb_call("execute_statement", Statement="SELECT * FROM jobs")
    assert not partiql[0].known


# --- Step Functions (runtime/logic/processor.py, and the map runs of the engine) ---------------


def states_call(operation: str, **options: Any) -> list[Check]:
    params = options.pop("params")
    return checks(sent(client("stepfunctions"), operation, **params), **options)


def test_start_execution_checks_the_state_machine() -> None:
    found = states_call(
        "start_execution", params={"stateMachineArn": MACHINE, "name": "job-1", "input": "{}"}
    )
    assert pairs(found) == [("states:StartExecution", MACHINE)]
    assert found[0].operation == "StepFunctions.StartExecution"


@pytest.mark.parametrize(
    ("operation", "extra"),
    [
        ("describe_execution", {}),
        ("stop_execution", {"error": "E"}),
        ("redrive_execution", {}),
        ("get_execution_history", {}),
    ],
)
def test_execution_operations_check_the_execution(operation: str, extra: dict[str, Any]) -> None:
    found = states_call(operation, params={"executionArn": EXECUTION, **extra})
    action = "states:" + "".join(part.title() for part in operation.split("_"))
    assert pairs(found) == [(action, EXECUTION)]


def test_map_runs_check_the_map_run() -> None:
    run = f"arn:aws:states:{REGION}:{ACCOUNT}:mapRun:Split/Parts:1a2b3c"
    assert pairs(states_call("describe_map_run", params={"mapRunArn": run})) == [
        ("states:DescribeMapRun", run)
    ]
    listed = states_call("list_map_runs", params={"executionArn": EXECUTION})
    assert pairs(listed) == [("states:ListMapRuns", EXECUTION)]


def test_create_state_machine_also_passes_its_role() -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/SplitRole"
    found = states_call(
        "create_state_machine", params={"name": "Split", "definition": "{}", "roleArn": role}
    )
    assert pairs(found) == [("states:CreateStateMachine", MACHINE), ("iam:PassRole", role)]
    assert found[1].context["iam:PassedToService"] == "states.amazonaws.com"


def test_an_encrypted_state_machine_adds_its_data_key_calls() -> None:
    keys = {MACHINE: KmsKey(KEY)}
    start = states_call(
        "start_execution", params={"stateMachineArn": MACHINE, "input": "{}"}, kms_keys=keys
    )
    assert pairs(start) == [("states:StartExecution", MACHINE), ("kms:GenerateDataKey", KEY)]
    assert start[1].context["kms:EncryptionContext:aws:states:stateMachineArn"] == MACHINE
    assert start[1].context["kms:ViaService"] == f"states.{REGION}.amazonaws.com"
    described = states_call("describe_execution", params={"executionArn": EXECUTION}, kms_keys=keys)
    assert pairs(described) == [("states:DescribeExecution", EXECUTION), ("kms:Decrypt", KEY)]


# --- EventBridge (runtime/logic/events.py) -----------------------------------------------------


def test_put_events_checks_each_entry_bus_with_source_and_detail_type() -> None:
    custom = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/audit"
    found = checks(
        sent(
            client("events"),
            "put_events",
            Entries=[
                {
                    "Source": "financial-pipeline",
                    "DetailType": "Job Completed",
                    "Detail": "{}",
                    "EventBusName": "default",
                },
                {"Source": "financial-pipeline", "DetailType": "Job Failed", "Detail": "{}"},
                {"Source": "x", "DetailType": "y", "Detail": "{}", "EventBusName": custom},
                {"Source": "x", "DetailType": "y", "Detail": "{}", "EventBusName": "audit"},
            ],
        )
    )
    default = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"
    assert pairs(found) == [
        ("events:PutEvents", default),
        ("events:PutEvents", default),
        ("events:PutEvents", custom),
    ]
    assert found[0].context["events:source"] == "financial-pipeline"
    assert found[0].context["events:detail-type"] == "Job Completed"
    assert found[1].context["events:detail-type"] == "Job Failed"


def test_rules_are_checked_by_their_arn() -> None:
    found = checks(
        sent(client("events"), "put_rule", Name="sweep", ScheduleExpression="rate(5 minutes)")
    )
    assert pairs(found) == [("events:PutRule", f"arn:aws:events:{REGION}:{ACCOUNT}:rule/sweep")]
    found = checks(sent(client("events"), "describe_rule", Name="r", EventBusName="audit"))
    assert pairs(found) == [
        ("events:DescribeRule", f"arn:aws:events:{REGION}:{ACCOUNT}:rule/audit/r")
    ]


# --- Lambda (runtime/logic/sweeper.py, the state machine's tasks) ------------------------------

FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:processor"


@pytest.mark.parametrize(
    ("name", "qualifier", "expected"),
    [
        ("processor", None, FUNCTION),
        (FUNCTION, None, FUNCTION),
        (f"{ACCOUNT}:function:processor", None, FUNCTION),
        ("processor", "live", f"{FUNCTION}:live"),
        (FUNCTION, "3", f"{FUNCTION}:3"),
        ("processor:live", None, f"{FUNCTION}:live"),
    ],
)
def test_invoke_checks_the_function_arn(name: str, qualifier: str | None, expected: str) -> None:
    params: dict[str, Any] = {"FunctionName": name, "InvocationType": "Event", "Payload": b"{}"}
    if qualifier:
        params["Qualifier"] = qualifier
    found = checks(sent(client("lambda"), "invoke", **params))
    assert pairs(found) == [("lambda:InvokeFunction", expected)]
    assert found[0].operation == "Lambda.Invoke"


def test_other_lambda_calls() -> None:
    got = checks(sent(client("lambda"), "get_function_configuration", FunctionName="processor"))
    assert pairs(got) == [("lambda:GetFunctionConfiguration", FUNCTION)]
    assert pairs(checks(sent(client("lambda"), "list_functions"))) == [
        ("lambda:ListFunctions", "*")
    ]
    unknown = checks(sent(client("lambda"), "get_account_settings"))
    assert not unknown[0].known


# --- SQS, SNS, KMS, CloudWatch, X-Ray, STS -----------------------------------------------------

QUEUE_URL = f"{ENDPOINT}/{ACCOUNT}/failures"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:failures"


def test_sqs_json_protocol_checks_the_queue_of_the_url() -> None:
    found = checks(sent(client("sqs"), "send_message", QueueUrl=QUEUE_URL, MessageBody="x"))
    assert pairs(found) == [("sqs:SendMessage", QUEUE)]
    batch = checks(
        sent(
            client("sqs"),
            "send_message_batch",
            QueueUrl=QUEUE_URL,
            Entries=[{"Id": "1", "MessageBody": "x"}],
        )
    )
    assert pairs(batch) == [("sqs:SendMessage", QUEUE)]
    url = checks(sent(client("sqs"), "get_queue_url", QueueName="failures"))
    assert pairs(url) == [("sqs:GetQueueUrl", QUEUE)]


def test_sqs_query_protocol_and_aws_queue_urls() -> None:
    aws_url = f"https://sqs.us-east-2.amazonaws.com/{ACCOUNT}/orders"
    body = f"Action=ReceiveMessage&QueueUrl={aws_url}&Version=2012-11-05".encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    found = checks(HttpRequest("POST", "/", "", headers, body, "sqs"))
    assert pairs(found) == [("sqs:ReceiveMessage", f"arn:aws:sqs:us-east-2:{ACCOUNT}:orders")]
    in_path = HttpRequest("POST", f"/{ACCOUNT}/failures", "", headers, b"Action=PurgeQueue", "sqs")
    assert pairs(checks(in_path)) == [("sqs:PurgeQueue", QUEUE)]


def test_an_encrypted_queue_adds_the_data_key_calls() -> None:
    found = checks(
        sent(client("sqs"), "send_message", QueueUrl=QUEUE_URL, MessageBody="x"),
        kms_keys={QUEUE: KmsKey(KEY)},
    )
    assert pairs(found) == [
        ("sqs:SendMessage", QUEUE),
        ("kms:GenerateDataKey", KEY),
        ("kms:Decrypt", KEY),
    ]
    assert found[1].context["kms:EncryptionContext:aws:sqs:arn"] == QUEUE


def test_sns_publish_checks_the_topic() -> None:
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:alarms"
    found = checks(sent(client("sns"), "publish", TopicArn=topic, Message="x"))
    assert pairs(found) == [("sns:Publish", topic)]
    assert found[0].service == "sns"


def test_kms_operations_check_the_key_with_the_encryption_context() -> None:
    found = checks(
        sent(
            client("kms"),
            "encrypt",
            KeyId=KEY_ID,
            Plaintext=b"x",
            EncryptionContext={"aws:s3:arn": BUCKET_ARN},
        )
    )
    assert pairs(found) == [("kms:Encrypt", KEY)]
    context = found[0].context
    assert context["kms:EncryptionContext:aws:s3:arn"] == BUCKET_ARN
    assert context["kms:EncryptionContextKeys"] == ["aws:s3:arn"]
    assert context["kms:CallerAccount"] == ACCOUNT


def test_kms_decrypt_finds_the_key_in_a_moto_ciphertext() -> None:
    blob = KEY_ID.encode() + b"\0" * 28 + b"ciphertext"
    found = checks(sent(client("kms"), "decrypt", CiphertextBlob=blob))
    assert pairs(found) == [("kms:Decrypt", KEY)]
    opaque = checks(sent(client("kms"), "decrypt", CiphertextBlob=uuid.uuid4().bytes))
    assert not opaque[0].known


def test_kms_aliases_resolve_through_the_given_map() -> None:
    found = checks(
        sent(client("kms"), "describe_key", KeyId="alias/pipeline"),
        kms_aliases={"alias/pipeline": KEY},
    )
    assert pairs(found) == [("kms:DescribeKey", KEY)]
    unresolved = checks(sent(client("kms"), "describe_key", KeyId="alias/other"))
    assert pairs(unresolved) == [("kms:DescribeKey", f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/other")]
    assert pairs(checks(sent(client("kms"), "list_keys"))) == [("kms:ListKeys", "*")]


def test_metrics_traces_and_the_caller_identity() -> None:
    metric = checks(
        sent(
            client("cloudwatch"),
            "put_metric_data",
            Namespace="Pipeline",
            MetricData=[{"MetricName": "m", "Value": 1.0}],
        )
    )
    assert pairs(metric) == [("cloudwatch:PutMetricData", "*")]
    trace = checks(sent(client("xray"), "put_trace_segments", TraceSegmentDocuments=["{}"]))
    assert pairs(trace) == [("xray:PutTraceSegments", "*")]
    assert checks(sent(client("sts"), "get_caller_identity")) == []


def test_cloudwatch_in_its_cbor_protocol() -> None:
    request = HttpRequest(
        "POST",
        "/service/GraniteServiceVersion20100801/operation/PutMetricData",
        "",
        {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"},
        b"\xa0",
        "monitoring",
    )
    assert pairs(checks(request)) == [("cloudwatch:PutMetricData", "*")]


def test_an_unknown_service_is_an_unknown_check() -> None:
    found = checks(sent(client("ssm"), "get_parameter", Name="x"))
    assert len(found) == 1 and not found[0].known
    assert found[0].action.startswith("unknown:ssm")


# --- the context of every check ----------------------------------------------------------------


def test_every_check_carries_the_global_keys() -> None:
    found = s3_call("get_object", Bucket=BUCKET, Key="k")
    context = found[0].context
    assert context["aws:SecureTransport"] is True
    assert context["aws:PrincipalArn"] == ROLE.arn  # the role, not the session
    assert context["aws:PrincipalAccount"] == ACCOUNT
    assert context["aws:PrincipalType"] == "AssumedRole"
    assert context["aws:RequestedRegion"] == REGION
    assert context["aws:ViaAWSService"] is False
    assert "aws:username" not in context  # a role has no user name


def test_extra_context_and_service_principals() -> None:
    s3 = Principal.for_service("s3.amazonaws.com")
    request = sent(client("lambda"), "invoke", FunctionName="processor", InvocationType="Event")
    found = checks_for(
        request,
        region=REGION,
        account=ACCOUNT,
        principal=s3,
        extra_context={"aws:SourceArn": BUCKET_ARN, "aws:SourceAccount": ACCOUNT},
    )
    assert found[0].context["aws:SourceArn"] == BUCKET_ARN
    assert found[0].context["aws:PrincipalIsAWSService"] is True
    assert found[0].context["aws:PrincipalServiceName"] == "s3.amazonaws.com"
    assert "aws:PrincipalArn" not in found[0].context


def test_without_a_principal_the_environment_keys_remain() -> None:
    request = sent(client("dynamodb"), "describe_table", TableName="jobs")
    found = checks_for(request, region=REGION, account=ACCOUNT)
    assert found[0].context["aws:SecureTransport"] is True
    assert "aws:PrincipalArn" not in found[0].context


def test_principal_context_of_a_user() -> None:
    alice = Principal(arn=f"arn:aws:iam::{ACCOUNT}:user/alice", account=ACCOUNT)
    context = principal_context(alice, region=REGION)
    assert context["aws:username"] == "alice"
    assert context["aws:PrincipalType"] == "User"


def test_only_the_requests_that_need_their_body_are_read() -> None:
    assert not reads_body(sent(client("s3"), "put_object", Bucket=BUCKET, Key="k", Body=b"x"))
    part = sent(
        client("s3"), "upload_part", Bucket=BUCKET, Key="k", UploadId="u", PartNumber=1, Body=b"x"
    )
    assert not reads_body(part)
    assert not reads_body(sent(client("lambda"), "invoke", FunctionName="processor", Payload=b"{}"))
    assert reads_body(
        sent(client("s3"), "delete_objects", Bucket=BUCKET, Delete={"Objects": [{"Key": "k"}]})
    )
    assert reads_body(sent(client("dynamodb"), "get_item", TableName="jobs", Key=ITEM))
    form = HttpRequest(
        "POST", f"/{BUCKET}", "", {"Content-Type": "multipart/form-data; boundary=x"}
    )
    assert reads_body(form)


def test_signing_service_reads_the_credential_scope() -> None:
    request = sent(client("dynamodb"), "describe_table", TableName="jobs")
    assert signing_service(request) == "dynamodb"
    assert signing_service(sent(client("stepfunctions"), "list_state_machines")) == "states"
    assert signing_service(HttpRequest("GET", "/")) is None


def test_the_checks_decide_against_the_template_policies() -> None:
    """End to end: the processor's grants (as the dev template has them) decide its calls."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:DeleteObject", "s3:GetObject"],
                "Resource": f"{BUCKET_ARN}/incoming/*",
            },
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": BUCKET_ARN},
        ],
    }
    tls_only = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "s3:*",
                "Resource": [BUCKET_ARN, f"{BUCKET_ARN}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
    evaluator = Evaluator(SUPPLIED_KEYS)

    def decide(found: list[Check]) -> list[Outcome]:
        return [evaluator.evaluate(c.request(ROLE), [policy], [tls_only]).outcome for c in found]

    assert decide(s3_call("get_object", Bucket=BUCKET, Key="incoming/j1")) == [Outcome.ALLOW]
    assert decide(s3_call("list_objects_v2", Bucket=BUCKET, Prefix="incoming/")) == [Outcome.ALLOW]
    copy = s3_call(
        "copy_object",
        Bucket=BUCKET,
        Key="processed/j1",
        CopySource={"Bucket": BUCKET, "Key": "incoming/j1"},
    )
    assert decide(copy) == [Outcome.ALLOW, Outcome.IMPLICIT_DENY]
    abort = s3_call("abort_multipart_upload", Bucket=BUCKET, Key="reports/j1.csv", UploadId="u")
    assert decide(abort) == [Outcome.IMPLICIT_DENY]


# --- denials as the services return them --------------------------------------------------------


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def _answer_with(made: Any, check: Check, request: HttpRequest) -> None:
    denied = access_denied(check, "User: x is not authorized", request=request)

    def respond(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        return AWSResponse(request.url, denied.status, dict(denied.headers), _Raw(denied.body))

    made.meta.events.unregister("before-send", _capture)
    made.meta.events.register("before-send", respond)


@pytest.mark.parametrize(
    ("service", "operation", "params", "code"),
    [
        ("s3", "get_object", {"Bucket": BUCKET, "Key": "k"}, "AccessDenied"),
        ("s3", "head_object", {"Bucket": BUCKET, "Key": "k"}, "403"),
        ("dynamodb", "get_item", {"TableName": "jobs", "Key": ITEM}, "AccessDeniedException"),
        ("stepfunctions", "start_execution", {"stateMachineArn": MACHINE}, "AccessDeniedException"),
        (
            "events",
            "put_events",
            {"Entries": [{"Source": "s", "DetailType": "d", "Detail": "{}"}]},
            "AccessDeniedException",
        ),
        ("lambda", "invoke", {"FunctionName": "processor"}, "AccessDeniedException"),
        ("sqs", "send_message", {"QueueUrl": QUEUE_URL, "MessageBody": "x"}, "AccessDenied"),
        (
            "sns",
            "publish",
            {"TopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:t", "Message": "x"},
            "AuthorizationError",
        ),
        ("kms", "describe_key", {"KeyId": KEY_ID}, "AccessDeniedException"),
        (
            "cloudwatch",
            "put_metric_data",
            {"Namespace": "N", "MetricData": [{"MetricName": "m", "Value": 1.0}]},
            "AccessDenied",
        ),
        ("xray", "put_trace_segments", {"TraceSegmentDocuments": ["{}"]}, "AccessDeniedException"),
        (
            "sts",
            "assume_role",
            {"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/r", "RoleSessionName": "session"},
            "AccessDenied",
        ),
    ],
)
def test_a_denial_raises_the_client_error_aws_clients_see(
    service: str, operation: str, params: dict[str, Any], code: str
) -> None:
    made = client(service)
    request = sent(made, operation, **params)
    found = checks(request)
    assert found and all(c.known for c in found)
    _answer_with(made, found[0], request)
    with pytest.raises(ClientError) as raised:
        getattr(made, operation)(**params)
    assert raised.value.response["Error"]["Code"] == code
    status = raised.value.response["ResponseMetadata"]["HTTPStatusCode"]
    assert status in (400, 403)


def test_a_cbor_cloudwatch_denial_is_parsed_as_access_denied() -> None:
    request = HttpRequest(
        "POST",
        "/service/GraniteServiceVersion20100801/operation/PutMetricData",
        "",
        {},
        b"",
        "monitoring",
    )
    denied = access_denied(checks(request)[0], "no", request=request)
    assert dict(denied.headers)["smithy-protocol"] == "rpc-v2-cbor"
    assert denied.body == b"\xa2f__typelAccessDeniedgmessagebno"


def test_the_denial_message_says_who_what_and_why() -> None:
    check = s3_call("get_object", Bucket=BUCKET, Key="k")[0]
    evaluator = Evaluator(SUPPLIED_KEYS)
    decision = evaluator.evaluate(check.request(ROLE))
    message = denial_message(check, ROLE, decision)
    assert message == (
        f"User: {ROLE.session_arn} is not authorized to perform: s3:GetObject on resource:"
        f" {BUCKET_ARN}/k because no identity-based policy allows the s3:GetObject action"
    )
    deny_all = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}],
    }
    denied = evaluator.evaluate(check.request(ROLE), [deny_all])
    assert denial_message(check, ROLE, denied).endswith(
        "with an explicit deny in a identity-based policy"
    )
    unknown = checks(sent(client("ssm"), "get_parameter", Name="x"))[0]
    assert "does not know this request" in denial_message(unknown, ROLE, None)


def test_action_names_are_checked_against_the_iam_data() -> None:
    # `checks` above asserts it for every check of every test; the data knows its actions.
    assert is_known_action("s3:ListBucketMultipartUploads")
    assert is_known_action("STATES:startexecution")
    assert not is_known_action("s3:ListObjectsV2")  # an API operation, not an IAM action
    assert not is_known_action("dynamodb:TransactWriteItems")


def test_checks_are_policy_requests() -> None:
    check = s3_call("get_object", Bucket=BUCKET, Key="k")[0]
    request = check.request(ROLE, resource_account=ACCOUNT)
    assert isinstance(request, Request)
    assert (request.action, request.resource, request.resource_account) == (
        "s3:GetObject",
        f"{BUCKET_ARN}/k",
        ACCOUNT,
    )
