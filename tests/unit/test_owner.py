"""R25: the owner of a request is what API Gateway authenticated, never what the client says."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from runtime.logic.owner import Caller, caller_of, may_read

ARN = "arn:aws:sts::123456789012:assumed-role/Trader/alice"


def _event(request_context: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    return APIGatewayProxyEvent(
        {"requestContext": request_context, "headers": headers or {}, "httpMethod": "GET"}
    )


def test_r25_iam_owner_is_the_principal_arn_with_its_caller_id() -> None:
    caller = caller_of(_event({"identity": {"userArn": ARN, "caller": "AROAX:alice"}}))
    assert caller == Caller(owner=f"iam:{ARN}", caller="AROAX:alice")


def test_r25_cognito_owner_is_the_token_sub() -> None:
    event = _event({"identity": {"userArn": None}, "authorizer": {"claims": {"sub": "u-1"}}})
    assert caller_of(event) == Caller(owner="cognito:u-1")


@pytest.mark.parametrize(
    "request_context",
    [
        pytest.param({}, id="no-identity-key"),
        pytest.param({"identity": None, "authorizer": None}, id="nulls"),
        pytest.param({"identity": {"userArn": ""}}, id="empty-arn"),
        pytest.param({"identity": {"userArn": 5}}, id="arn-not-a-string"),
        pytest.param({"authorizer": {"claims": None}}, id="null-claims"),
        pytest.param({"authorizer": {"claims": {"sub": ""}}}, id="empty-sub"),
        pytest.param({"authorizer": {"principalId": "x"}}, id="lambda-authorizer-only"),
    ],
)
def test_r25_request_without_an_authenticated_identity_has_no_owner(
    request_context: dict[str, Any],
) -> None:
    assert caller_of(_event(request_context)) == Caller(owner=None)


def test_fails_r25_client_headers_never_make_an_owner() -> None:
    # Given a client that claims an identity in its own headers
    event = _event({"identity": {}}, headers={"userArn": ARN, "X-Owner": "iam:" + ARN})
    # Then the request still has no owner
    assert caller_of(event).owner is None


def test_r25_iam_identity_wins_when_both_are_present() -> None:
    event = _event({"identity": {"userArn": ARN}, "authorizer": {"claims": {"sub": "u-1"}}})
    assert caller_of(event).owner == f"iam:{ARN}"


@pytest.mark.parametrize(
    ("job_owner", "caller", "allowed"),
    [
        (None, Caller(owner=None), True),
        (None, Caller(owner="iam:" + ARN), True),
        ("iam:" + ARN, Caller(owner="iam:" + ARN), True),
        ("iam:" + ARN, Caller(owner=None), False),
        ("iam:" + ARN, Caller(owner="iam:" + ARN + "x"), False),
        ("iam:" + ARN, Caller(owner="cognito:" + ARN), False),
        ("cognito:u-1", Caller(owner="cognito:u-2"), False),
        ("cognito:ü", Caller(owner="cognito:ü"), True),
    ],
)
def test_r25_only_the_owner_may_read_an_owned_job(
    job_owner: str | None, caller: Caller, allowed: bool
) -> None:
    assert may_read(job_owner, caller) is allowed
