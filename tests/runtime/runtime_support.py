"""Shared pieces of the runtime tests: environment, the local AWS endpoint, event builders,
fixtures.

The handlers run in this process (so that botocore hooks can inject faults into their clients)
against the backend of `make run`: one `local.endpoint.LocalAws` per session (dynalite for
DynamoDB, a moto server for the rest, behind one endpoint), emptied for every test module.

A module with its own name (not `conftest`), so test modules can import it without clashing
with the conftest.py of other test directories.
"""

from __future__ import annotations

import functools
import json
import os
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Context, Decimal
from typing import Any

import pytest

from local import backend
from local.cfn import Template
from local.context import LambdaContext
from local.endpoint import LocalAws
from local.lambdas import functions_from_template
from local.synth import SynthesizedStack, synthesize_cached

# Powertools reads these when a runtime module is imported; harmless for other test directories.
for _name, _value in {
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_SERVICE_NAME": "financial-pipeline-test",
    "POWERTOOLS_METRICS_NAMESPACE": "FinancialPipelineTest",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}.items():
    os.environ.setdefault(_name, _value)

# Smaller than the construct's cap, so the size tests need no 100 MiB file.
MAX_UPLOAD_BYTES = 1_000_000
TEST_OVERRIDES = {"MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES), "WRITE_CONCURRENCY": "4"}


@functools.cache
def synthesized() -> SynthesizedStack:
    """The dev stack's template (cached in cdk.out/local while its sources are unchanged)."""
    return synthesize_cached("dev")


def template() -> Template:
    stack = synthesized()
    return Template(stack.template, stack_name=stack.stack_name, region=stack.region)


@functools.cache
def function_environment() -> dict[str, str]:
    """What the construct sets on the functions (every function's variables merged), with the
    test overrides; Powertools' own settings stay the test ones above."""
    merged: dict[str, str] = {}
    for spec in functions_from_template(template()).values():
        merged.update(spec.environment)
    merged = {k: v for k, v in merged.items() if not k.startswith("POWERTOOLS_")}
    return {**merged, **TEST_OVERRIDES}


REGION = synthesized().region
BUCKET = function_environment()["BUCKET_NAME"]
JOBS_TABLE = function_environment()["JOBS_TABLE_NAME"]
RESULTS_TABLE = function_environment()["RESULTS_TABLE_NAME"]
PROCESSOR_FUNCTION_NAME = function_environment()["PROCESSOR_FUNCTION_NAME"]

# Set only while a module's tests run (then restored).
TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    **function_environment(),
}


def dynamodb_number(text: str) -> str:
    """A number as DynamoDB (and dynalite) gives it back: the same value in plain notation,
    without leading or trailing zeros (``1E+3`` is stored and read back as ``1000``)."""
    # DynamoDB keeps 38 significant digits: the default context (28) would round them.
    return format(Decimal(text).normalize(Context(prec=38)), "f")


def context(remaining_ms: int | None = None) -> LambdaContext:
    return LambdaContext(function_name="test-function", region=REGION, remaining_ms=remaining_ms)


def provision(endpoint: str) -> None:
    """The template's buckets, tables and queues, created by the local backend."""
    stack_template = template()
    backend.provision(stack_template, backend.Clients(endpoint, stack_template.region))


@pytest.fixture(scope="session")
def local_aws() -> Iterator[LocalAws]:
    """dynalite and moto behind the one local endpoint, for the whole session."""
    with LocalAws(table_ms=0) as aws:
        yield aws


@pytest.fixture(scope="module")
def aws_endpoint(local_aws: LocalAws) -> Iterator[str]:
    """The local endpoint, emptied and provisioned per test module; the environment and cached
    clients are restored after."""
    from runtime import clients
    from runtime.settings import get_settings

    touched = (
        set(TEST_ENV)
        | {"AWS_PROFILE"}
        | {n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")}
    )
    saved = {name: os.environ.get(name) for name in touched | {"AWS_ENDPOINT_URL"}}
    for name in touched:
        os.environ.pop(name, None)
    endpoint = local_aws.url
    os.environ.update(TEST_ENV)
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    get_settings.cache_clear()
    clients.reset()
    try:
        # Every module starts from an empty account.
        local_aws.reset()
        provision(endpoint)
        yield endpoint
    finally:
        clients.reset()
        get_settings.cache_clear()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def api_event(
    method: str,
    path: str,
    resource: str,
    *,
    body: Any = None,
    path_parameters: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway REST (v1) Lambda proxy event."""
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers or {},
        "multiValueHeaders": {key: [value] for key, value in (headers or {}).items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": (
            {key: [value] for key, value in query.items()} if query else None
        ),
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "resourcePath": resource,
            "httpMethod": method,
            "stage": "test",
            "path": f"/test{path}",
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": body if body is None or isinstance(body, str) else json.dumps(body),
        "isBase64Encoded": False,
    }


def s3_event(key: str, etag: str, bucket: str = BUCKET) -> dict[str, Any]:
    """An S3 notification as S3 sends it: the key URL-encoded."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventName": "ObjectCreated:Post",
                "s3": {
                    "bucket": {"name": bucket},
                    "object": {"key": urllib.parse.quote_plus(key), "eTag": etag, "size": 1},
                },
            }
        ]
    }


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


@dataclass
class Pipeline:
    """Drives the handlers like API Gateway and S3 would."""

    endpoint: str
    outcomes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def s3(self) -> Any:
        from runtime import clients

        return clients.s3()

    @property
    def dynamodb(self) -> Any:
        from runtime import clients

        return clients.dynamodb()

    def create_job(self, file_name: str = "trades.csv", **extra: Any) -> dict[str, Any]:
        from runtime.handlers import upload

        event = api_event(
            "POST", "/upload", "/upload", body={"fileName": file_name, "fileType": "csv", **extra}
        )
        response = upload.handler(event, context())
        assert response["statusCode"] == 201, response
        return dict(body_of(response))

    def post_file(self, upload: dict[str, Any], data: bytes) -> str:
        """The client's multipart POST to the presigned URL; returns the object's ETag."""
        import requests

        answer = requests.post(
            upload["url"],
            data=upload["fields"],
            files={"file": ("ignored.csv", data)},
            timeout=30,
        )
        assert answer.status_code in (200, 201, 204), answer.text
        key = upload["fields"]["key"]
        return str(self.s3.head_object(Bucket=BUCKET, Key=key)["ETag"]).strip('"')

    def process(
        self, key: str, etag: str, lambda_context: LambdaContext | None = None
    ) -> dict[str, Any]:
        from runtime.handlers import processor

        result = processor.handler(s3_event(key, etag), lambda_context or context())
        self.outcomes.append(result)
        return dict(result)

    def run(self, data: bytes, file_name: str = "trades.csv") -> tuple[str, dict[str, Any]]:
        """Create a job, upload `data`, deliver the notification; returns (jobId, job status)."""
        created = self.create_job(file_name)
        etag = self.post_file(created["upload"], data)
        self.process(created["upload"]["fields"]["key"], etag)
        return created["jobId"], self.status(created["jobId"])

    def status(self, job_id: str) -> dict[str, Any]:
        from runtime.handlers import status

        event = api_event(
            "GET", f"/status/{job_id}", "/status/{jobId}", path_parameters={"jobId": job_id}
        )
        response = status.handler(event, context())
        assert response["statusCode"] == 200, response
        return dict(body_of(response))

    def job_item(self, job_id: str) -> Any:
        from runtime.dal.jobs import JobStore

        return JobStore(self.dynamodb, JOBS_TABLE).get(job_id)

    def report(self, job_id: str) -> list[list[str]]:
        import csv
        import io

        from runtime.dal.objects import report_key

        text = self.s3.get_object(Bucket=BUCKET, Key=report_key(job_id))["Body"].read()
        return list(csv.reader(io.StringIO(text.decode("utf-8"))))

    def rows_of(self, symbol: str) -> list[dict[str, str]]:
        pages = self.dynamodb.get_paginator("query").paginate(
            TableName=RESULTS_TABLE,
            KeyConditionExpression="#s = :s",
            ExpressionAttributeNames={"#s": "symbol"},
            ExpressionAttributeValues={":s": {"S": symbol}},
        )
        return [
            {
                "timestamp": item["timestamp"]["S"],
                "price": item["price"]["N"],
                "volume": item["volume"]["N"],
            }
            for page in pages
            for item in page["Items"]
        ]

    def exists(self, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=BUCKET, Key=key)
        except Exception:
            return False
        return True


@pytest.fixture
def pipeline(aws_endpoint: str) -> Pipeline:
    return Pipeline(aws_endpoint)


@pytest.fixture
def symbol() -> str:
    """A symbol no other test writes, so table assertions are exact."""
    return "T" + uuid.uuid4().hex[:10].upper()
