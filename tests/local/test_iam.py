"""R29: IAM authorization emulated by the local gateway, and the local principals file."""

from __future__ import annotations

import base64
import configparser
import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from local_api import sign
from werkzeug.test import Client

from fpipe.client import signer_for
from local.apimodel import api_from_template
from local.cfn import Template
from local.gateway import ApiGateway
from local.iam import (
    LocalCredentials,
    Principal,
    SigV4Verifier,
    authorization_banner,
    curl_banner,
    ensure_credentials_file,
    read_principals,
)
from local.pipeline import LocalPipeline

REGION = "eu-west-1"
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
_OK = {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}


@pytest.fixture(scope="module")
def credentials_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("iam") / ".local" / "credentials"
    assert ensure_credentials_file(path, account_id="123456789012", region=REGION)
    return path


@pytest.fixture(scope="module")
def credentials(credentials_file: Path) -> LocalCredentials:
    return LocalCredentials(credentials_file)


def _gateway(
    template_body: dict[str, Any], credentials: LocalCredentials | None, seen: list[Any]
) -> Client:
    def invoke(arn: str, event: dict[str, Any]) -> Any:
        seen.append(event)
        return _OK

    api = api_from_template(Template(template_body, stack_name="test"))
    verifier = SigV4Verifier(credentials, REGION, clock=lambda: NOW)
    return Client(ApiGateway(api, invoke, iam=verifier))


def test_r29_credentials_file_is_a_standard_shared_credentials_file(
    credentials_file: Path,
) -> None:
    # When botocore (what the AWS CLI and boto3 use) reads each profile of the file
    parser = configparser.RawConfigParser()
    parser.read(credentials_file)
    for profile in ("local", "local-other"):
        session = botocore.session.Session(profile=profile)
        session.set_config_variable("credentials_file", str(credentials_file))
        session.set_config_variable("config_file", "/nonexistent")
        found = session.get_credentials()

        # Then it finds the profile's keys and region, and ignores principal_arn
        assert found is not None
        assert found.access_key == parser[profile]["aws_access_key_id"]
        assert found.secret_key == parser[profile]["aws_secret_access_key"]
        assert session.get_config_variable("region") == REGION
        assert parser[profile]["principal_arn"] == f"arn:aws:iam::123456789012:user/{profile}"
    # And only its owner may read it
    assert credentials_file.stat().st_mode & 0o077 == 0


def test_r29_an_existing_credentials_file_is_kept(credentials_file: Path) -> None:
    # Given the file's keys
    before = credentials_file.read_text()
    # When it is ensured again
    created = ensure_credentials_file(credentials_file, account_id="1", region="x")
    # Then nothing changed
    assert created is False
    assert credentials_file.read_text() == before


def test_r29_principals_are_read_again_when_the_file_changes(tmp_path: Path) -> None:
    # Given a credentials file with one principal, already read
    path = tmp_path / "credentials"
    path.write_text("[a]\naws_access_key_id = K1\naws_secret_access_key = S\nprincipal_arn = A\n")
    credentials = LocalCredentials(path)
    assert credentials.by_access_key("K1") is not None

    # When the key is replaced (a profile without principal_arn is not a principal)
    path.write_text(
        "[a]\naws_access_key_id = K2\naws_secret_access_key = S\nprincipal_arn = A\n\n"
        "[plain]\naws_access_key_id = K3\naws_secret_access_key = S\n"
    )

    # Then the old key is gone and the new one signs as the same principal
    assert credentials.by_access_key("K1") is None
    assert credentials.by_access_key("K2") == read_principals(path)["K2"]
    assert credentials.by_access_key("K3") is None


def test_r29_signed_request_carries_the_principal_into_request_context(
    dev_template: dict[str, Any], credentials: LocalCredentials
) -> None:
    # Given the gateway of the dev template (AWS_IAM methods) and the local principal
    seen: list[Any] = []
    client = _gateway(dev_template, credentials, seen)
    principal = credentials.principal("local")

    # When a request signed as that principal arrives
    headers = sign(principal, "GET", "http://localhost/results/AAPL?limit=5", at=NOW)
    response = client.get("/results/AAPL?limit=5", headers=headers)

    # Then the function gets the principal in requestContext.identity, as API Gateway gives it
    assert response.status_code == 200, response.get_data(as_text=True)
    identity = seen[0]["requestContext"]["identity"]
    assert identity["userArn"] == principal.arn
    assert identity["accessKey"] == principal.access_key
    assert identity["accountId"] == "123456789012"
    assert identity["caller"] == identity["user"] == principal.principal_id
    assert identity["caller"].startswith("AIDA")
    assert identity["sourceIp"]


@pytest.mark.parametrize(
    ("age", "accepted"),
    [
        pytest.param(timedelta(minutes=4, seconds=59), True, id="4m59s-old"),
        pytest.param(timedelta(minutes=-4, seconds=-59), True, id="4m59s-ahead"),
        pytest.param(timedelta(minutes=5, seconds=1), False, id="5m01s-old"),
        pytest.param(timedelta(minutes=-5, seconds=-1), False, id="5m01s-ahead"),
    ],
)
def test_r29_signature_is_valid_for_five_minutes_either_way(
    dev_template: dict[str, Any], credentials: LocalCredentials, age: timedelta, accepted: bool
) -> None:
    # Given a request signed ``age`` before the gateway's clock
    seen: list[Any] = []
    client = _gateway(dev_template, credentials, seen)
    headers = sign(credentials.principal(), "GET", "http://localhost/results/A", at=NOW - age)

    # When it arrives
    response = client.get("/results/A", headers=headers)

    # Then it passes inside the window and is INVALID_SIGNATURE outside it
    if accepted:
        assert response.status_code == 200
    else:
        assert response.status_code == 403
        body = response.get_json()
        assert body["error"]["code"] == "INVALID_SIGNATURE"
        assert body["error"]["message"].startswith(("Signature expired", "Signature not yet"))
        assert seen == []


def test_r29_encoded_path_and_unordered_query_are_signed_as_sent(
    dev_template: dict[str, Any], credentials: LocalCredentials
) -> None:
    # Given a path with an encoded slash and space, and a query out of order with "+"
    seen: list[Any] = []
    client = _gateway(dev_template, credentials, seen)
    target = "/results/BRK%2FB%20X?order=asc&limit=5&startTime=2024-01-01+09%3A30"
    headers = sign(credentials.principal(), "GET", "http://localhost" + target, at=NOW)

    # When it arrives
    response = client.get(target, headers=headers)

    # Then the signature holds, and the parameter reaches the function decoded
    assert response.status_code == 200, response.get_data(as_text=True)
    assert seen[0]["pathParameters"] == {"symbol": "BRK/B X"}
    assert seen[0]["queryStringParameters"]["startTime"] == "2024-01-01 09:30"


def test_r29_a_session_token_is_checked_when_the_profile_has_one(
    dev_template: dict[str, Any], tmp_path: Path
) -> None:
    # Given a principal with temporary credentials
    path = tmp_path / "credentials"
    path.write_text(
        "[t]\naws_access_key_id = ASIAX\naws_secret_access_key = S\n"
        "aws_session_token = TOKEN1\nprincipal_arn = arn:aws:sts::1:assumed-role/R/s\n"
    )
    credentials = LocalCredentials(path)
    principal = credentials.principal("t")
    client = _gateway(dev_template, credentials, [])

    # When it signs with its token, and with another one
    good = sign(principal, "GET", "http://localhost/results/A", at=NOW, region=REGION)
    forged = Principal("t", "ASIAX", "S", "TOKEN2", principal.arn)
    bad = sign(forged, "GET", "http://localhost/results/A", at=NOW, region=REGION)

    # Then only the right token passes
    assert client.get("/results/A", headers=good).status_code == 200
    refused = client.get("/results/A", headers=bad)
    assert refused.status_code == 403
    assert refused.headers["x-amzn-ErrorType"] == "UnrecognizedClientException"


def test_fails_r29_without_local_principals_every_iam_request_is_refused(
    dev_template: dict[str, Any], credentials: LocalCredentials
) -> None:
    # Given a gateway that knows no principal
    client = _gateway(dev_template, None, [])
    headers = sign(credentials.principal(), "GET", "http://localhost/results/A", at=NOW)

    # When a signed request arrives
    response = client.get("/results/A", headers=headers)

    # Then it is refused as an unknown key
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "INVALID_SIGNATURE"


def test_r29_methods_without_authorization_need_no_signature(
    dev_template: dict[str, Any],
) -> None:
    # When the CORS preflight (authorization NONE in the template) arrives unsigned
    client = _gateway(dev_template, None, [])
    response = client.options(
        "/upload",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
    )
    # Then the MOCK integration answers it
    assert response.status_code == 204


def _cognito(template_body: dict[str, Any]) -> dict[str, Any]:
    template = copy.deepcopy(template_body)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::ApiGateway::Method":
            props = resource["Properties"]
            if props.get("AuthorizationType") == "AWS_IAM":
                props["AuthorizationType"] = "COGNITO_USER_POOLS"
    return template


def test_r29_cognito_claims_are_passed_on_unverified(dev_template: dict[str, Any]) -> None:
    # Given a Cognito-authorized API and a JWT whose signature nobody checks locally
    seen: list[Any] = []
    client = _gateway(_cognito(dev_template), None, seen)
    payload = json.dumps({"sub": "user-1", "exp": 1}).encode()
    token = "e30." + base64.urlsafe_b64encode(payload).decode().rstrip("=") + ".sig"

    # When it is sent, and when no token is
    response = client.get("/results/A", headers={"Authorization": token})
    missing = client.get("/results/A")

    # Then its claims reach the function as strings, and no token is a 401
    assert response.status_code == 200
    assert seen[0]["requestContext"]["authorizer"]["claims"] == {"sub": "user-1", "exp": "1"}
    assert missing.status_code == 401
    assert missing.get_json()["error"]["code"] == "UNAUTHORIZED"


def test_r29_banner_names_the_principals_and_signs_its_curl_examples(
    pipeline: LocalPipeline,
) -> None:
    # When the banner lines of the running dev pipeline are rendered
    lines = "\n".join(authorization_banner(pipeline) + curl_banner(pipeline))

    # Then they name the file, both principals, the aws variables and a signed curl
    principal = pipeline.credentials.principal("local")
    assert "AWS_SHARED_CREDENTIALS_FILE=" in lines
    assert "AWS_PROFILE=local" in lines
    assert pipeline.credentials.principal("local-other").arn in lines
    assert f'--aws-sigv4 "aws:amz:{pipeline.template.region}:execute-api"' in lines
    assert f"{principal.access_key}:{principal.secret_key}" in lines


def test_r29_fpipe_signs_local_requests_with_the_local_file_over_the_environment(
    credentials_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given keys in the environment and the local file in the working directory
    monkeypatch.chdir(credentials_file.parent.parent)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ENVKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.delenv("AWS_SHARED_CREDENTIALS_FILE", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    local = LocalCredentials(credentials_file)

    # When fpipe's signer is chosen for a local URL, with and without --profile
    default = signer_for("http://127.0.0.1:8000")
    other = signer_for("http://127.0.0.1:8000", "local-other")

    # Then it signs as the local principals, in the file's region
    assert default is not None and other is not None
    assert default.credentials.access_key == local.principal("local").access_key
    assert other.credentials.access_key == local.principal("local-other").access_key
    assert default.region == REGION
