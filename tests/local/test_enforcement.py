"""R34: the local endpoint refuses what AWS refuses. Each function signs as its execution role,
moto's Step Functions engine as the state machine's role, and every call is checked against the
template's policies."""

from __future__ import annotations

import logging
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from local_api import Api, make_rows, render_csv, unique_symbol

from local.enforcement import Enforcer
from local.iam import DEFAULT_PROFILE
from local.pipeline import LocalPipeline
from local.roles import ENGINE_ACCESS_KEY, RoleCredentials


def _function(pipeline: LocalPipeline, handler: str) -> str:
    for logical_id, spec in pipeline.functions.items():
        if spec.handler == f"runtime.handlers.{handler}.handler":
            return logical_id
    raise LookupError(handler)


def _role(pipeline: LocalPipeline, handler: str) -> RoleCredentials:
    found = pipeline.iam.function_credentials(_function(pipeline, handler))
    assert found is not None
    return found


def _client(
    pipeline: LocalPipeline, service: str, role: RoleCredentials | None, **keys: str
) -> Any:
    credentials = role.environment() if role is not None else {}
    credentials.update(keys)
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=pipeline.endpoint_url,
        region_name=pipeline.template.region,
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials.get("AWS_SESSION_TOKEN"),
        config=Config(retries={"max_attempts": 1}, signature_version="s3v4"),
    )


def _enforcer(pipeline: LocalPipeline) -> Enforcer:
    assert pipeline.enforcer is not None
    return pipeline.enforcer


def _bucket(pipeline: LocalPipeline) -> str:
    spec = pipeline.functions[_function(pipeline, "upload")]
    return spec.environment["BUCKET_NAME"]


def test_r34_each_function_gets_its_own_roles_session_credentials(pipeline: LocalPipeline) -> None:
    # Given the template's functions
    assert pipeline.lambdas is not None
    seen: dict[str, str] = {}
    for logical_id, spec in pipeline.functions.items():
        # When the local run builds a function's environment
        env = pipeline._function_environment(spec)
        role = pipeline.iam.function_credentials(logical_id)
        # Then it holds the session credentials of the function's own execution role
        assert role is not None
        assert env["AWS_ACCESS_KEY_ID"] == role.access_key
        assert env["AWS_SECRET_ACCESS_KEY"] == role.secret_key
        assert env["AWS_SESSION_TOKEN"] == role.session_token
        seen[role.access_key] = role.role_arn
    # And no two roles share a key
    assert len(set(seen.values())) == len(seen)
    # And moto's engine key is the state machine's role
    engine = _enforcer(pipeline).caller(ENGINE_ACCESS_KEY)
    assert engine is not None and "StateMachineRole" in engine.label


def test_r34_a_job_runs_with_every_call_checked_and_none_denied(
    pipeline: LocalPipeline, api: Api
) -> None:
    enforcer = _enforcer(pipeline)
    before = enforcer.allowed
    # When a job runs end to end
    symbol = unique_symbol()
    job = api.wait(api.upload(render_csv(make_rows(symbol, 50))))
    # Then it completes, its calls were checked as the functions' roles, and none was denied
    assert job["status"] == "COMPLETED", job
    assert enforcer.allowed > before
    assert not [d for d in enforcer.denials if "local administrator" not in d.caller], list(
        enforcer.denials
    )


def test_r34_a_call_the_role_has_no_grant_for_is_access_denied(
    pipeline: LocalPipeline, caplog: pytest.LogCaptureFixture
) -> None:
    # Given the results function's role (it reads the results table, nothing else)
    role = _role(pipeline, "results")
    s3 = _client(pipeline, "s3", role)
    dynamodb = _client(pipeline, "dynamodb", role)
    jobs_table = pipeline.functions[_function(pipeline, "status")].environment["JOBS_TABLE_NAME"]
    # When it reads an upload and writes the jobs table
    with caplog.at_level(logging.WARNING, logger="local.iam"):
        with pytest.raises(ClientError) as s3_error:
            s3.get_object(Bucket=_bucket(pipeline), Key="incoming/x/y.csv")
        with pytest.raises(ClientError) as ddb_error:
            dynamodb.put_item(TableName=jobs_table, Item={"jobId": {"S": "x"}})
    # Then both are refused with the error AWS returns, and the log names role, action, resource
    assert s3_error.value.response["Error"]["Code"] == "AccessDenied"
    assert ddb_error.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "dynamodb:PutItem" in ddb_error.value.response["Error"]["Message"]
    logged = caplog.text
    assert role.role_logical_id in logged and "s3:GetObject" in logged
    assert f"arn:aws:s3:::{_bucket(pipeline)}/incoming/x/y.csv" in logged


def test_r34_the_signature_is_checked(pipeline: LocalPipeline) -> None:
    role = _role(pipeline, "upload")
    table = pipeline.functions[_function(pipeline, "status")].environment["JOBS_TABLE_NAME"]
    # A key nobody has, a role's key with the wrong secret, without its session token
    unknown = _client(
        pipeline, "dynamodb", None, AWS_ACCESS_KEY_ID="ASIANOBODY", AWS_SECRET_ACCESS_KEY="x"
    )
    wrong_secret = _client(pipeline, "dynamodb", role, AWS_SECRET_ACCESS_KEY="not-the-secret")
    no_token = _client(pipeline, "s3", role, AWS_SESSION_TOKEN="")
    with pytest.raises(ClientError) as unknown_error:
        unknown.describe_table(TableName=table)
    with pytest.raises(ClientError) as secret_error:
        wrong_secret.describe_table(TableName=table)
    with pytest.raises(ClientError) as token_error:
        no_token.put_object(Bucket=_bucket(pipeline), Key="incoming/a/b.csv", Body=b"x")
    assert unknown_error.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert secret_error.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert token_error.value.response["Error"]["Code"] == "InvalidToken"
    # And an unsigned request is anonymous, which no bucket policy allows
    anonymous = requests.get(f"{pipeline.endpoint_url}/{_bucket(pipeline)}/incoming/a", timeout=10)
    assert anonymous.status_code == 403


def test_r34_presigned_requests_are_the_signers(pipeline: LocalPipeline) -> None:
    bucket = _bucket(pipeline)
    key = f"reports/{unique_symbol()}.csv"
    pipeline.clients.s3.put_object(Bucket=bucket, Key=key, Body=b"report")
    # The status function's role may read reports; the upload function's may not
    allowed = _client(pipeline, "s3", _role(pipeline, "status"))
    denied = _client(pipeline, "s3", _role(pipeline, "upload"))
    ok = requests.get(
        allowed.generate_presigned_url("get_object", {"Bucket": bucket, "Key": key}), timeout=10
    )
    refused = requests.get(
        denied.generate_presigned_url("get_object", {"Bucket": bucket, "Key": key}), timeout=10
    )
    assert ok.status_code == 200 and ok.content == b"report"
    assert refused.status_code == 403 and b"AccessDenied" in refused.content
    # A presigned POST needs s3:PutObject of its signer on the form's key
    for handler, target, status in (
        ("upload", "incoming/p/q.csv", 204),
        ("upload", "reports/p.csv", 403),
        ("status", "incoming/p/q.csv", 403),
    ):
        form = _client(pipeline, "s3", _role(pipeline, handler)).generate_presigned_post(
            bucket, target
        )
        answer = requests.post(
            form["url"], data=form["fields"], files={"file": ("f.csv", b"a,b\n")}, timeout=10
        )
        assert answer.status_code == status, (handler, target, answer.text)


def test_r34_local_principals_are_administrators(pipeline: LocalPipeline) -> None:
    # A user's `aws --endpoint-url` with a profile of .local/credentials is not evaluated
    principal = pipeline.credentials.principal(DEFAULT_PROFILE)
    s3 = _client(
        pipeline,
        "s3",
        None,
        AWS_ACCESS_KEY_ID=principal.access_key,
        AWS_SECRET_ACCESS_KEY=principal.secret_key,
    )
    assert s3.list_objects_v2(Bucket=_bucket(pipeline), MaxKeys=1)["ResponseMetadata"]


def test_r34_resource_policies_come_from_the_template(pipeline: LocalPipeline) -> None:
    # Each Lambda permission is a statement of its function's policy, a bucket policy applies to
    # the bucket and its objects
    processor = pipeline.functions[_function(pipeline, "processor")]
    function_policy = pipeline.iam.resource_policies(processor.arn + ":live")
    statements = [s for p in function_policy for s in p.document["Statement"]]
    assert {"Service": "s3.amazonaws.com"} in [s["Principal"] for s in statements]
    assert all("AWS:SourceArn" in s["Condition"]["ArnLike"] for s in statements)
    bucket_arn = f"arn:aws:s3:::{_bucket(pipeline)}"
    assert pipeline.iam.resource_policies(bucket_arn + "/incoming/x")
    assert pipeline.iam.resource_policies(bucket_arn) == pipeline.iam.resource_policies(
        bucket_arn + "/a"
    )


def test_r34_the_banner_says_enforcement_is_on(pipeline: LocalPipeline) -> None:
    import time

    from local.banner import banner

    text = banner(pipeline, time.monotonic())
    assert "IAM enforcement:             on: each function signs as its own role" in text
    assert "--no-iam" in text
    # and which of Lambda's limits hold: /tmp is capped only where a tmpfs could be mounted
    from local.workers import tmp_capped

    capped = "each worker's /tmp a tmpfs of the function's EphemeralStorage"
    assert (capped in text) == tmp_capped()
    assert ("/tmp is NOT capped" in text) != tmp_capped()
