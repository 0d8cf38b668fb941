"""R29: IAM authorization emulated by the local gateway, and the local principals file."""

from __future__ import annotations

import base64
import configparser
import copy
import json
import re
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from local_api import sign
from werkzeug.test import Client

from fpipe.client import signer_for
from local.apimodel import api_from_template
from local.banner import authorization_banner, curl_banner
from local.cfn import Template
from local.gateway import ApiGateway
from local.iam import (
    AuthError,
    LocalCredentials,
    Principal,
    SignedRequest,
    SigV4Verifier,
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


def test_fails_r29_each_local_principal_has_a_unique_id_as_iam_gives_users(
    credentials_file: Path, dev_template: dict[str, Any], credentials: LocalCredentials
) -> None:
    # Given the created credentials file
    parser = configparser.RawConfigParser()
    parser.read(credentials_file)
    ids = [parser[profile]["principal_id"] for profile in ("local", "local-other")]

    # Then each principal has its own AIDA... id
    assert all(re.fullmatch(r"AIDA[A-Z2-7]{17}", found) for found in ids)
    assert len(set(ids)) == 2
    # And it is the principal id the handlers get, as API Gateway passes a user's
    seen: list[Any] = []
    client = _gateway(dev_template, credentials, seen)
    headers = sign(credentials.principal("local"), "GET", "http://localhost/results/A", at=NOW)
    assert client.get("/results/A", headers=headers).status_code == 200
    assert seen[0]["requestContext"]["identity"]["user"] == ids[0]


ROLE_PROFILES = (
    "[alice]\naws_access_key_id = ASIAALICE\naws_secret_access_key = S1\n"
    "principal_arn = arn:aws:sts::123456789012:assumed-role/Trader/alice\n"
    "principal_id = AROAEXAMPLETRADER0001\n\n"
    "[batch]\naws_access_key_id = ASIABATCH\naws_secret_access_key = S2\n"
    "principal_arn = arn:aws:sts::123456789012:assumed-role/Trader/nightly\n"
    "principal_id = AROAEXAMPLETRADER0001\n\n"
    "[guest]\naws_access_key_id = ASIAGUEST\naws_secret_access_key = S3\n"
    "principal_arn = arn:aws:sts::123456789012:assumed-role/Pool/CognitoIdentityCredentials\n"
    "principal_id = AROAEXAMPLEPOOLROLE01\n"
    "cognito_identity_id = eu-west-1:11111111-2222-3333-4444-555555555555\n"
    "cognito_identity_pool_id = eu-west-1:pool\n"
)


def _identity_of(
    dev_template: dict[str, Any], credentials: LocalCredentials, profile: str
) -> dict[str, Any]:
    seen: list[Any] = []
    client = _gateway(dev_template, credentials, seen)
    principal = credentials.principal(profile)
    headers = sign(principal, "GET", "http://localhost/results/A", at=NOW, region=REGION)
    response = client.get("/results/A", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    identity: dict[str, Any] = seen[0]["requestContext"]["identity"]
    return identity


def test_fails_r29_an_assumed_role_reaches_the_handlers_as_api_gateway_passes_it(
    dev_template: dict[str, Any], tmp_path: Path
) -> None:
    # Given two sessions of one role, each a local profile
    path = tmp_path / "credentials"
    path.write_text(ROLE_PROFILES)
    credentials = LocalCredentials(path)

    # When each signs a request
    alice = _identity_of(dev_template, credentials, "alice")
    batch = _identity_of(dev_template, credentials, "batch")

    # Then the principal id is the role's id and the session name, as API Gateway's REST
    # proxy event gives an assumed role, beside the session's ARN and account
    assert alice["user"] == alice["caller"] == "AROAEXAMPLETRADER0001:alice"
    assert batch["user"] == "AROAEXAMPLETRADER0001:nightly"
    assert alice["userArn"] == "arn:aws:sts::123456789012:assumed-role/Trader/alice"
    assert alice["accountId"] == "123456789012"
    assert alice["cognitoIdentityId"] is None
    assert "principalOrgId" in alice


def test_r29_identity_pool_credentials_reach_the_handlers_with_their_identity_id(
    dev_template: dict[str, Any], tmp_path: Path
) -> None:
    # Given a profile of a Cognito identity pool's credentials
    path = tmp_path / "credentials"
    path.write_text(ROLE_PROFILES)
    identity = _identity_of(dev_template, LocalCredentials(path), "guest")

    # Then the handlers get the identity id and pool beside the pool role's session
    assert identity["cognitoIdentityId"] == "eu-west-1:11111111-2222-3333-4444-555555555555"
    assert identity["cognitoIdentityPoolId"] == "eu-west-1:pool"
    assert identity["cognitoAuthenticationType"] == "authenticated"
    assert identity["user"] == "AROAEXAMPLEPOOLROLE01:CognitoIdentityCredentials"


def test_r29_a_profile_without_a_unique_id_gets_a_stable_one_from_its_arn(tmp_path: Path) -> None:
    # Given profiles of files written before principal ids were in them
    path = tmp_path / "credentials"
    path.write_text(
        "[u]\naws_access_key_id = K1\naws_secret_access_key = S\n"
        "principal_arn = arn:aws:iam::1:user/u\n\n"
        "[r]\naws_access_key_id = K2\naws_secret_access_key = S\n"
        "principal_arn = arn:aws:sts::1:assumed-role/R/s\n"
    )
    found = read_principals(path)

    # Then a user gets an AIDA... id and a role session its role's AROA... id, every time
    assert re.fullmatch(r"AIDA[A-Z2-7]{17}", found["K1"].principal_id)
    assert re.fullmatch(r"AROA[A-Z2-7]{17}:s", found["K2"].principal_id)
    assert read_principals(path) == found


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


# A signature covers one path, and that path is the one routed (R29).

NON_CANONICAL_PATHS = [
    pytest.param("/results/x/../A", id="dot-dot-segment"),
    pytest.param("/results/./A", id="dot-segment"),
    pytest.param("//results//A", id="empty-segments"),
    pytest.param("/results/A#z", id="fragment"),
]


@pytest.mark.parametrize("sent", NON_CANONICAL_PATHS)
def test_fails_r29_a_signature_over_one_path_never_routes_another(
    dev_template: dict[str, Any], credentials: LocalCredentials, sent: str
) -> None:
    # Given a request signed for /results/A (SigV4 signs the path with dot segments removed
    # and empty ones collapsed, so the signature also holds for these spellings of it)
    seen: list[Any] = []
    client = _gateway(dev_template, credentials, seen)
    headers = sign(credentials.principal(), "GET", "http://localhost/results/A", at=NOW)

    # When it is sent with another spelling of the path
    response = client.get(sent, headers=headers)

    # Then no resource matches, as in API Gateway: its 403 in the error shape, no function ran
    assert response.status_code == 403, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == "MISSING_AUTHENTICATION_TOKEN"
    assert seen == []


@pytest.mark.parametrize("sent", NON_CANONICAL_PATHS)
def test_fails_r29_the_verifier_refuses_a_path_other_than_the_one_it_signs(
    credentials: LocalCredentials, sent: str
) -> None:
    # Given a signature over /results/A, presented with another spelling of the path
    headers = sign(credentials.principal(), "GET", "http://localhost/results/A", at=NOW)
    request = SignedRequest(
        method="GET",
        raw_path=sent,
        raw_query="",
        headers=[("Host", "localhost"), *headers.items()],
        body=b"",
    )
    verifier = SigV4Verifier(credentials, REGION, clock=lambda: NOW)
    # (the path it was signed for passes)
    canonical = SignedRequest("GET", "/results/A", "", request.headers, b"")
    assert verifier.verify(canonical) == credentials.principal()

    # Then the verifier refuses it: a path is verified exactly as it is routed
    with pytest.raises(AuthError) as refused:
        verifier.verify(request)
    assert refused.value.response_type == "INVALID_SIGNATURE"


def test_fails_r29_a_fragment_sent_on_the_wire_is_not_routed(pipeline: LocalPipeline) -> None:
    # Given a request signed for /results/A, sent over HTTP with "#z" after the path
    principal = pipeline.credentials.principal("local")
    host = pipeline.url.removeprefix("http://")
    headers = sign(principal, "GET", f"{pipeline.url}/results/A")
    lines = ["GET /results/A#z HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    with socket.create_connection(tuple(host.rsplit(":", 1)), timeout=30) as connection:
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk

    # Then it is API Gateway's 403 for a path no resource has, in the error shape
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"403", answer[:300]
    assert json.loads(body)["error"]["code"] == "MISSING_AUTHENTICATION_TOKEN"
