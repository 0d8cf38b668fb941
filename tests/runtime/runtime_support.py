"""Shared pieces of the runtime tests: environment, the local AWS endpoint, event builders,
fixtures.

The handlers run in this process (so that botocore hooks can inject faults into their clients)
against the backend of `make run`: one `local.endpoint.LocalAws` per session (dynalite for
DynamoDB, a moto server for the rest, behind one endpoint), emptied for every test module.

IAM is enforced on that endpoint as in `make run` (R34, `local.enforcement`): while a test calls a
handler (``runtime.handlers.<name>.handler``), every AWS call it makes, from any thread, is
signed with the session credentials of its function's execution role in the template
(`handlers_sign_as_their_roles`); the tests' own calls, and logic called without its handler,
sign with the harness key ``testing``, a local administrator.

A module with its own name (not `conftest`), so test modules can import it without clashing
with the conftest.py of other test directories.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import threading
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Context, Decimal
from typing import Any

import boto3
import pytest
from botocore.credentials import Credentials
from botocore.signers import RequestSigner

from local import backend
from local.cfn import Template
from local.context import LambdaContext
from local.endpoint import LocalAws
from local.enforcement import Enforcer
from local.lambdas import functions_from_template
from local.roles import RoleCredentials, TemplateIam
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


class StackNames:
    """The dev stack's region and physical names, and the environment the handlers run with,
    read from its template on first use: importing a test module synthesizes nothing."""

    @functools.cached_property
    def region(self) -> str:
        return synthesized().region

    @functools.cached_property
    def bucket(self) -> str:
        return function_environment()["BUCKET_NAME"]

    @functools.cached_property
    def jobs_table(self) -> str:
        return function_environment()["JOBS_TABLE_NAME"]

    @functools.cached_property
    def results_table(self) -> str:
        return function_environment()["RESULTS_TABLE_NAME"]

    @functools.cached_property
    def processor_function_name(self) -> str:
        return function_environment()["PROCESSOR_FUNCTION_NAME"]

    @functools.cached_property
    def test_env(self) -> dict[str, str]:
        """Set only while a module's tests run (then restored)."""
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            **function_environment(),
        }


NAMES = StackNames()


def dynamodb_number(text: str) -> str:
    """A number as DynamoDB (and dynalite) gives it back: the same value in plain notation,
    without leading or trailing zeros (``1E+3`` is stored and read back as ``1000``)."""
    # DynamoDB keeps 38 significant digits: the default context (28) would round them.
    return format(Decimal(text).normalize(Context(prec=38)), "f")


def context(remaining_ms: int | None = None) -> LambdaContext:
    return LambdaContext(
        function_name="test-function", region=NAMES.region, remaining_ms=remaining_ms
    )


def provision(endpoint: str) -> None:
    """The template's buckets, tables and queues, created by the local backend."""
    stack_template = template()
    backend.provision(stack_template, backend.Clients(endpoint, stack_template.region))


@functools.cache
def template_iam() -> TemplateIam:
    """The template's roles, their local credentials and policies (one set per session)."""
    return TemplateIam(template())


@functools.cache
def handler_roles() -> dict[str, RoleCredentials]:
    """``runtime.handlers.<name>.handler`` -> its function's role credentials."""
    found: dict[str, RoleCredentials] = {}
    for logical_id, spec in functions_from_template(template()).items():
        role = template_iam().function_credentials(logical_id)
        if role is not None and spec.handler.startswith("runtime.handlers."):
            found[spec.handler] = role
    return found


class _Signing:
    """The credentials every botocore client of this process signs with while a handler runs
    (any thread: the handlers' pools too); None: each client's own."""

    lock = threading.Lock()
    current: Credentials | None = None


def _get_auth_instance(original: Any) -> Any:
    @functools.wraps(original)
    def get_auth_instance(self: RequestSigner, *args: Any, **kwargs: Any) -> Any:
        credentials = _Signing.current
        if credentials is not None and kwargs.get("request_credentials") is None:
            kwargs["request_credentials"] = credentials
        return original(self, *args, **kwargs)

    return get_auth_instance


RequestSigner.get_auth_instance = _get_auth_instance(  # type: ignore[method-assign]
    RequestSigner.get_auth_instance
)


@contextlib.contextmanager
def signed_as(role: RoleCredentials | None) -> Iterator[None]:
    """Every AWS call of this process signs as ``role`` (None: the clients' own credentials)."""
    previous = _Signing.current
    _Signing.current = (
        Credentials(role.access_key, role.secret_key, role.session_token) if role else None
    )
    try:
        yield
    finally:
        _Signing.current = previous


def _as_role(handler: Any, role: RoleCredentials) -> Any:
    @functools.wraps(handler)
    def run(event: Any, lambda_context: Any) -> Any:
        with signed_as(role):
            return handler(event, lambda_context)

    run.__wrapped_handler__ = handler  # type: ignore[attr-defined]
    return run


@pytest.fixture(autouse=True)
def handlers_sign_as_their_roles(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a test on the local endpoint, each handler's calls sign as its function's role."""
    if "aws_endpoint" not in request.fixturenames:
        return
    request.getfixturevalue("aws_endpoint")
    for path, role in handler_roles().items():
        module_name, _, attribute = path.rpartition(".")
        module = importlib.import_module(module_name)
        handler = getattr(module, attribute)
        original = getattr(handler, "__wrapped_handler__", handler)
        monkeypatch.setattr(module, attribute, _as_role(original, role))


@pytest.fixture(scope="session")
def local_aws() -> Iterator[LocalAws]:
    """dynalite and moto behind the one local endpoint, for the whole session, with the
    template's IAM enforced on it (R34)."""
    with LocalAws(table_ms=0) as aws:
        assert aws.router is not None
        enforcer = Enforcer(template_iam())
        aws.router.enforcer = enforcer
        yield aws


@pytest.fixture(scope="module")
def aws_endpoint(local_aws: LocalAws) -> Iterator[str]:
    """The local endpoint, emptied and provisioned per test module; the environment and cached
    clients are restored after."""
    from runtime import clients
    from runtime.settings import get_settings

    touched = (
        set(NAMES.test_env)
        | {"AWS_PROFILE"}
        | {n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")}
    )
    saved = {name: os.environ.get(name) for name in touched | {"AWS_ENDPOINT_URL"}}
    for name in touched:
        os.environ.pop(name, None)
    endpoint = local_aws.url
    os.environ.update(NAMES.test_env)
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    get_settings.cache_clear()
    clients.reset()
    # boto3's default session keeps the credentials it first resolved (another directory's
    # tests may have set theirs): this module's come from NAMES.test_env.
    boto3.DEFAULT_SESSION = None
    try:
        # Every module starts from an empty account.
        local_aws.reset()
        provision(endpoint)
        yield endpoint
    finally:
        clients.reset()
        get_settings.cache_clear()
        boto3.DEFAULT_SESSION = None
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


def s3_event(key: str, etag: str, bucket: str | None = None) -> dict[str, Any]:
    bucket = NAMES.bucket if bucket is None else bucket
    """An S3 notification as S3 sends it: the key URL-encoded."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": NAMES.region,
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
        return str(self.s3.head_object(Bucket=NAMES.bucket, Key=key)["ETag"]).strip('"')

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

        return JobStore(self.dynamodb, NAMES.jobs_table).get(job_id)

    def report(self, job_id: str) -> list[list[str]]:
        import csv
        import io

        from runtime.dal.objects import report_key

        text = self.s3.get_object(Bucket=NAMES.bucket, Key=report_key(job_id))["Body"].read()
        return list(csv.reader(io.StringIO(text.decode("utf-8"))))

    def rows_of(self, symbol: str) -> list[dict[str, str]]:
        pages = self.dynamodb.get_paginator("query").paginate(
            TableName=NAMES.results_table,
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
            self.s3.head_object(Bucket=NAMES.bucket, Key=key)
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
