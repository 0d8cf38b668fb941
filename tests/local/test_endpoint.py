"""The one local AWS endpoint: DynamoDB on dynalite (its limits are the backend's, not only our
code's), Lambda Invoke on the local functions (also for moto's Step Functions engine, through
``MOTO_PORT``), everything else on moto, streamed through unchanged."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from local.endpoint import LocalAws, route_of
from local.invoke_api import LambdaInvokeApi
from local.lambdas import FunctionSpec, LambdaService

REGION = "us-east-1"


def _client(service: str, url: str, **config: Any) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(**config),
    )


@pytest.fixture(scope="module")
def table(local_aws: LocalAws) -> str:
    name = f"endpoint-{uuid.uuid4().hex[:8]}"
    ddb = _client("dynamodb", local_aws.url)
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.05})
    return name


def test_requests_are_routed_by_target_credential_scope_and_invoke_path() -> None:
    # Given requests as each kind of client sends them
    scope = "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/{}/aws4_request, Signature=x"
    cases = {
        "dynamodb": {"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.BatchWriteItem"},
        "dynamodb-by-scope": {"HTTP_AUTHORIZATION": scope.format("dynamodb")},
        "lambda": {"REQUEST_METHOD": "POST", "PATH_INFO": "/2015-03-31/functions/f/invocations"},
        "moto-lambda-api": {"REQUEST_METHOD": "GET", "PATH_INFO": "/2015-03-31/functions/f"},
        "moto-s3": {"HTTP_AUTHORIZATION": scope.format("s3"), "PATH_INFO": "/bucket/key"},
    }

    # When they are routed
    routes = {name: route_of(environ) for name, environ in cases.items()}

    # Then DynamoDB goes to dynalite, Invoke to the functions and the rest to moto
    assert routes == {
        "dynamodb": "dynamodb",
        "dynamodb-by-scope": "dynamodb",
        "lambda": "lambda",
        "moto-lambda-api": "moto",
        "moto-s3": "moto",
    }


def test_fails_batch_write_naming_one_key_twice_because_the_backend_refuses_it(
    local_aws: LocalAws, table: str
) -> None:
    # Given a client that skips botocore's own validation, as the runtime's writer does
    ddb = _client("dynamodb", local_aws.url, parameter_validation=False)
    put = {"PutRequest": {"Item": {"k": {"S": "same"}}}}

    # When one batch names the same key twice / Then DynamoDB's rule is enforced by the backend
    with pytest.raises(ClientError) as twice:
        ddb.batch_write_item(RequestItems={table: [put, put]})
    assert twice.value.response["Error"]["Code"] == "ValidationException"
    assert "duplicates" in twice.value.response["Error"]["Message"]


def test_fails_batch_write_of_more_than_25_items_because_the_backend_refuses_it(
    local_aws: LocalAws, table: str
) -> None:
    # Given 26 distinct items
    ddb = _client("dynamodb", local_aws.url, parameter_validation=False)
    items = [{"PutRequest": {"Item": {"k": {"S": f"k{i}"}}}} for i in range(26)]

    # When they are sent in one batch / Then the backend refuses the batch
    with pytest.raises(ClientError) as too_many:
        ddb.batch_write_item(RequestItems={table: items})
    assert too_many.value.response["Error"]["Code"] == "ValidationException"
    assert ddb.scan(TableName=table, Select="COUNT")["Count"] == 0


def test_large_chunked_upload_and_ranged_get_stream_through_unchanged(local_aws: LocalAws) -> None:
    # Given a bucket behind the endpoint and a 6 MiB body sent with chunked transfer encoding
    bucket = f"endpoint-{uuid.uuid4().hex[:8]}"
    s3 = _client("s3", local_aws.url)
    s3.create_bucket(Bucket=bucket)
    body = bytes(range(256)) * (6 * 4096)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 1 << 20):
            yield body[start : start + (1 << 20)]

    # When it is PUT through the endpoint and read back whole and by range, with a key to escape
    put = requests.put(f"{local_aws.url}/{bucket}/a%20b/c%2Bd.bin", data=chunks(), timeout=60)
    whole = s3.get_object(Bucket=bucket, Key="a b/c+d.bin")["Body"].read()
    ranged = s3.get_object(Bucket=bucket, Key="a b/c+d.bin", Range="bytes=1000-1999")

    # Then every byte arrived, and the ranged answer keeps its status and headers
    assert put.status_code == 200
    assert whole == body
    assert ranged["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert ranged["ContentRange"] == f"bytes 1000-1999/{len(body)}"
    assert ranged["Body"].read() == body[1000:2000]


def test_r29_a_state_machine_on_motos_engine_invokes_the_local_function_through_the_endpoint(
    local_aws: LocalAws,
) -> None:
    # Given a local function behind the endpoint's Lambda Invoke API
    seen: list[dict[str, Any]] = []

    def double(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(event)
        return {"doubled": event["n"] * 2}

    name = f"double-{uuid.uuid4().hex[:6]}"
    spec = FunctionSpec(
        logical_id="Double",
        name=name,
        arn=f"arn:aws:lambda:{REGION}:123456789012:function:{name}",
        handler="test.double",
        environment={},
        timeout_seconds=10,
        memory_mb=128,
        reserved_concurrency=None,
    )
    lambdas = LambdaService(
        {"Double": spec}, send_to_queue=lambda *_: None, handlers={"test.double": double}
    )
    assert local_aws.router is not None
    local_aws.router.lambda_app = LambdaInvokeApi(lambdas)
    sfn = _client("stepfunctions", local_aws.url)
    definition = {
        "StartAt": "Double",
        "States": {"Double": {"Type": "Task", "Resource": spec.arn, "End": True}},
    }
    try:
        machine = sfn.create_state_machine(
            name=f"m-{uuid.uuid4().hex[:6]}",
            definition=json.dumps(definition),
            roleArn="arn:aws:iam::123456789012:role/local",
        )

        # When an execution runs on moto's engine
        run = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input='{"n": 21}')
        deadline = time.monotonic() + 60
        while (done := sfn.describe_execution(executionArn=run["executionArn"]))[
            "status"
        ] == "RUNNING":
            assert time.monotonic() < deadline, "execution still RUNNING"
            time.sleep(0.1)
    finally:
        local_aws.router.lambda_app = None

    # Then its Lambda task ran the local function, and the output is the function's result
    assert done["status"] == "SUCCEEDED", done
    assert seen == [{"n": 21}]
    assert json.loads(done["output"]) == {"doubled": 42}
