"""R25: the owner of a request is what API Gateway authenticated and the caller cannot choose,
never what the client says."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from runtime.errors import PipelineError
from runtime.logic.owner import Caller, caller_of, may_read

ACCOUNT = "123456789012"
ROLE_ID = "AROAEXAMPLEROLEID0001"
USER_ID = "AIDAEXAMPLEUSERID0001"
ALICE_USER = f"arn:aws:iam::{ACCOUNT}:user/alice"


def _session(name: str, role: str = "Trader") -> str:
    return f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{name}"


def _iam(arn: str, principal_id: str, **extra: Any) -> dict[str, Any]:
    """``requestContext`` of a REST API call signed with SigV4, as API Gateway fills it."""
    identity = {
        "userArn": arn,
        "user": principal_id,
        "caller": principal_id,
        "accountId": ACCOUNT,
        "accessKey": "ASIAEXAMPLE",
        **extra,
    }
    return {"identity": identity}


def _event(request_context: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    return APIGatewayProxyEvent(
        {"requestContext": request_context, "headers": headers or {}, "httpMethod": "GET"}
    )


def test_r25_iam_user_owner_is_its_unique_id_with_its_caller_id() -> None:
    caller = caller_of(_event(_iam(ALICE_USER, USER_ID)))
    assert caller == Caller(owner=f"iam:{USER_ID}", caller=USER_ID)


def test_fails_r25_the_owner_of_an_assumed_role_is_the_role_never_the_session_name() -> None:
    # Given two sessions of one role, one of them named after someone else
    alice = caller_of(_event(_iam(_session("alice"), f"{ROLE_ID}:alice")))
    named_alice = caller_of(_event(_iam(_session("mallory"), f"{ROLE_ID}:mallory")))

    # Then both are the role's unique id (the session name is the caller's choice, so it
    # never tells owners apart), and the session name is nowhere in the owner
    assert alice.owner == named_alice.owner == f"iam:{ROLE_ID}"
    assert alice.caller == f"{ROLE_ID}:alice"
    # And a user called alice is another owner than a session called alice
    assert caller_of(_event(_iam(ALICE_USER, USER_ID))).owner != alice.owner


def test_fails_r25_identity_pool_users_sharing_one_role_are_different_owners() -> None:
    # Given two Cognito identity-pool users: the same role, the same session name
    pool = {"cognitoIdentityPoolId": "eu-west-1:pool", "cognitoAuthenticationType": "authenticated"}
    role_session = f"{ROLE_ID}:CognitoIdentityCredentials"
    arn = _session("CognitoIdentityCredentials", role="PoolUsers")
    one = caller_of(_event(_iam(arn, role_session, cognitoIdentityId="eu-west-1:one", **pool)))
    two = caller_of(_event(_iam(arn, role_session, cognitoIdentityId="eu-west-1:two", **pool)))

    # Then each is its own identity id
    assert one.owner == "cognito-identity:eu-west-1:one"
    assert two.owner == "cognito-identity:eu-west-1:two"


@pytest.mark.parametrize(
    ("arn", "principal_id", "owner"),
    [
        pytest.param(f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT, f"iam:{ACCOUNT}", id="root"),
        pytest.param(
            f"arn:aws:sts::{ACCOUNT}:federated-user/bob",
            f"{ACCOUNT}:bob",
            f"iam:{ACCOUNT}:federated-user",
            id="federated-user-name-is-chosen-by-its-caller",
        ),
    ],
)
def test_r25_other_iam_principals_are_keyed_on_what_they_cannot_choose(
    arn: str, principal_id: str, owner: str
) -> None:
    assert caller_of(_event(_iam(arn, principal_id))).owner == owner


def test_r25_the_caller_id_stands_in_for_a_missing_user_id() -> None:
    context = _iam(ALICE_USER, USER_ID)
    del context["identity"]["user"]
    assert caller_of(_event(context)).owner == f"iam:{USER_ID}"


def test_fails_r25_an_iam_identity_without_a_principal_id_is_refused() -> None:
    # An ARN alone would be a session name again: no owner is made from it, and no ownerless
    # job either
    context = {"identity": {"userArn": _session("alice"), "user": None, "caller": ""}}
    with pytest.raises(PipelineError):
        caller_of(_event(context))


def test_r25_cognito_owner_is_the_token_sub() -> None:
    event = _event({"identity": {"userArn": None}, "authorizer": {"claims": {"sub": "u-1"}}})
    assert caller_of(event) == Caller(owner="cognito:u-1")


@pytest.mark.parametrize(
    "request_context",
    [
        pytest.param({}, id="no-identity-key"),
        pytest.param({"identity": None, "authorizer": None}, id="nulls"),
        pytest.param({"identity": {"userArn": "", "user": "", "caller": None}}, id="empty"),
        pytest.param({"identity": {"userArn": 5, "user": 6}}, id="not-strings"),
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
    event = _event(
        {"identity": {}},
        headers={"userArn": ALICE_USER, "user": USER_ID, "X-Owner": f"iam:{USER_ID}"},
    )
    # Then the request still has no owner
    assert caller_of(event).owner is None


def test_r25_iam_identity_wins_when_both_are_present() -> None:
    context = {**_iam(ALICE_USER, USER_ID), "authorizer": {"claims": {"sub": "u-1"}}}
    assert caller_of(_event(context)).owner == f"iam:{USER_ID}"


@pytest.mark.parametrize(
    ("job_owner", "caller", "allowed"),
    [
        (None, Caller(owner=None), True),
        (None, Caller(owner=f"iam:{USER_ID}"), True),
        (f"iam:{USER_ID}", Caller(owner=f"iam:{USER_ID}"), True),
        (f"iam:{USER_ID}", Caller(owner=None), False),
        (f"iam:{USER_ID}", Caller(owner=f"iam:{USER_ID}x"), False),
        (f"iam:{USER_ID}", Caller(owner=f"cognito:{USER_ID}"), False),
        ("cognito:u-1", Caller(owner="cognito:u-2"), False),
        ("cognito:ü", Caller(owner="cognito:ü"), True),
        ("cognito-identity:eu-west-1:one", Caller(owner="cognito:eu-west-1:one"), False),
    ],
)
def test_r25_only_the_owner_may_read_an_owned_job(
    job_owner: str | None, caller: Caller, allowed: bool
) -> None:
    assert may_read(job_owner, caller) is allowed


# Jobs stored before owners were unique ids: ``iam:<principal ARN>``, with the caller id beside it.


@pytest.mark.parametrize(
    ("stored_caller", "caller", "allowed"),
    [
        pytest.param(USER_ID, Caller(owner=f"iam:{USER_ID}"), True, id="the-user"),
        pytest.param(USER_ID, Caller(owner="iam:AIDAANOTHERUSER00001"), False, id="another"),
        pytest.param(f"{ROLE_ID}:alice", Caller(owner=f"iam:{ROLE_ID}"), True, id="its-role"),
        pytest.param(None, Caller(owner=f"iam:{USER_ID}"), False, id="no-caller-id-kept"),
        pytest.param(
            f"{ROLE_ID}:CognitoIdentityCredentials",
            Caller(owner="cognito-identity:eu-west-1:one"),
            False,
            id="identity-pool-user",
        ),
    ],
)
def test_fails_r25_a_job_stored_with_a_principal_arn_is_read_by_the_principals_unique_id(
    stored_caller: str | None, caller: Caller, allowed: bool
) -> None:
    # Given a job stored with the ARN form (the session name in it is the caller's choice)
    stored_owner = f"iam:{_session('alice')}"
    # Then it answers the unique id its stored caller id names, and never the ARN's spelling
    assert may_read(stored_owner, caller, job_caller=stored_caller) is allowed
    assert may_read(stored_owner, Caller(owner=stored_owner), job_caller=stored_caller) is False
