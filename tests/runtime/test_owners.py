"""R25: a job answers only the identity that created it, through the real handlers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from runtime_support import NAMES, api_event, body_of, context

from runtime.dal.jobs import JobStore
from runtime.handlers import status, upload

ALICE = "arn:aws:iam::123456789012:user/alice"
BOB = "arn:aws:iam::123456789012:user/bob"
TRADER = "arn:aws:sts::123456789012:assumed-role/Trader/"
TRADER_ID = "AROAEXAMPLETRADER0001"
POOL_ROLE = "arn:aws:sts::123456789012:assumed-role/PoolUsers/CognitoIdentityCredentials"


def _principal_id(arn: str) -> str:
    """The principal id API Gateway passes beside the ARN: a user's AIDA..., a role session's
    AROA...:<session name>."""
    if arn.startswith(TRADER):
        return f"{TRADER_ID}:{arn.removeprefix(TRADER)}"
    if arn == POOL_ROLE:
        return "AROAEXAMPLEPOOLROLE01:CognitoIdentityCredentials"
    return "AIDA" + arn.rsplit("/", 1)[-1].ljust(17, "0")


def _with_identity(
    event: dict[str, Any],
    *,
    arn: str | None = None,
    sub: str | None = None,
    pool_identity: str | None = None,
) -> dict[str, Any]:
    if arn is not None:
        principal_id = _principal_id(arn)
        event["requestContext"]["identity"].update(
            userArn=arn, user=principal_id, caller=principal_id, accessKey="ASIAEXAMPLE"
        )
    if pool_identity is not None:
        event["requestContext"]["identity"].update(
            cognitoIdentityId=pool_identity,
            cognitoIdentityPoolId="eu-west-1:pool",
            cognitoAuthenticationType="authenticated",
        )
    if sub is not None:
        event["requestContext"]["authorizer"] = {"claims": {"sub": sub, "email": "a@b.c"}}
    return event


def _create(**identity: str | None) -> str:
    event = api_event("POST", "/upload", "/upload", body={"fileName": "t.csv", "fileType": "csv"})
    response = upload.handler(_with_identity(event, **identity), context())
    assert response["statusCode"] == 201, response
    return str(body_of(response)["jobId"])


def _status(job_id: str, **identity: str | None) -> dict[str, Any]:
    event = api_event(
        "GET",
        f"/status/{job_id}",
        "/status/{jobId}",
        path_parameters={"jobId": job_id},
        headers={"X-Correlation-Id": "same-id"},
    )
    return dict(status.handler(_with_identity(event, **identity), context()))


def _store(pipeline: Any) -> JobStore:
    return JobStore(pipeline.dynamodb, NAMES.jobs_table)


def test_r25_upload_records_the_iam_principals_unique_id_as_owner(pipeline: Any) -> None:
    # When an IAM user creates a job
    job_id = _create(arn=ALICE)

    # Then the job's owner is that user's unique id, and its caller id is kept beside it
    job = _store(pipeline).get(job_id)
    assert job is not None
    assert job.owner == f"iam:{_principal_id(ALICE)}"
    assert job.owner_caller == _principal_id(ALICE)


def test_fails_r25_an_assumed_role_owns_its_jobs_by_its_unique_id_never_its_session_name(
    pipeline: Any,
) -> None:
    # When a session named "alice" of a role creates a job
    job_id = _create(arn=TRADER + "alice")

    # Then the owner is the role's unique id: the session name is nowhere in it
    job = _store(pipeline).get(job_id)
    assert job is not None
    assert job.owner == f"iam:{TRADER_ID}"
    assert job.owner_caller == f"{TRADER_ID}:alice"
    # And every session of that role is that owner, whatever it is called; a user is not
    assert _status(job_id, arn=TRADER + "nightly-batch")["statusCode"] == 200
    assert _status(job_id, arn=ALICE)["statusCode"] == 404


def test_fails_r25_an_identity_pool_user_never_reads_another_users_job(pipeline: Any) -> None:
    # Given a job of one Cognito identity-pool user (the pool's users share one role session)
    job_id = _create(arn=POOL_ROLE, pool_identity="eu-west-1:11111111-aaaa")

    # When she and another user of the pool ask for it
    mine = _status(job_id, arn=POOL_ROLE, pool_identity="eu-west-1:11111111-aaaa")
    theirs = _status(job_id, arn=POOL_ROLE, pool_identity="eu-west-1:22222222-bbbb")

    # Then only she sees it: the owner is her identity id
    job = _store(pipeline).get(job_id)
    assert job is not None and job.owner == "cognito-identity:eu-west-1:11111111-aaaa"
    assert mine["statusCode"] == 200
    assert theirs["statusCode"] == 404


def test_fails_r25_a_job_stored_with_the_principal_arn_answers_the_principals_unique_id(
    pipeline: Any,
) -> None:
    # Given jobs stored before owners were unique ids (the owner is the principal ARN, the
    # caller id beside it), one created by a user and one by a role session named "alice"
    store = _store(pipeline)
    now = datetime.now(UTC)
    ids = {}
    for name, arn in (("user", ALICE), ("session", TRADER + "alice")):
        ids[name] = str(uuid.uuid4())
        store.create(
            ids[name],
            "t.csv",
            now,
            now + timedelta(hours=1),
            int(now.timestamp()) + 3600,
            owner=f"iam:{arn}",
            owner_caller=_principal_id(arn),
        )

    # Then each answers its principal as it signs today, and no one else
    assert _status(ids["user"], arn=ALICE)["statusCode"] == 200
    assert _status(ids["user"], arn=BOB)["statusCode"] == 404
    assert _status(ids["session"], arn=TRADER + "another-session")["statusCode"] == 200
    assert _status(ids["session"], arn=ALICE)["statusCode"] == 404


def test_r25_upload_records_the_cognito_sub_as_owner(pipeline: Any) -> None:
    # When a caller behind a Cognito user pool authorizer creates a job
    job_id = _create(sub="0f1e-sub")

    # Then the job's owner is the token's sub
    job = _store(pipeline).get(job_id)
    assert job is not None
    assert job.owner == "cognito:0f1e-sub"


def test_r25_none_mode_job_has_no_owner_and_answers_everyone(pipeline: Any) -> None:
    # Given a job created without identity (no authorization on the method)
    job_id = _create()

    # When anyone asks for it, with or without identity
    anonymous = _status(job_id)
    signed = _status(job_id, arn=BOB)

    # Then there is no owner and both get the job
    job = _store(pipeline).get(job_id)
    assert job is not None
    assert job.owner is None
    assert anonymous["statusCode"] == 200
    assert signed["statusCode"] == 200


def test_r25_owner_reads_its_job(pipeline: Any) -> None:
    job_id = _create(arn=ALICE)
    response = _status(job_id, arn=ALICE)
    assert response["statusCode"] == 200
    assert body_of(response)["jobId"] == job_id


@pytest.mark.parametrize(
    "other",
    [
        pytest.param({"arn": BOB}, id="another-principal"),
        pytest.param({}, id="no-identity"),
        pytest.param({"sub": ALICE}, id="cognito-sub-spelling-the-arn"),
        pytest.param({"arn": ALICE.upper()}, id="case-changed-principal"),
        pytest.param({"arn": TRADER + "alice"}, id="a-role-session-named-like-her"),
    ],
)
def test_fails_r25_anyone_but_the_owner_gets_exactly_the_unknown_job_404(
    pipeline: Any, other: dict[str, str]
) -> None:
    # Given a job of Alice and an id no job has
    job_id = _create(arn=ALICE)
    unknown = str(uuid.uuid4())

    # When someone else asks for Alice's job, and for the unknown one
    theirs = _status(job_id, **other)
    missing = _status(unknown, **other)

    # Then both answers are the same 404: code, message, headers and shape
    assert theirs["statusCode"] == missing["statusCode"] == 404
    assert body_of(theirs) == body_of(missing)
    assert body_of(theirs)["error"]["code"] == "JOB_NOT_FOUND"
    assert theirs["multiValueHeaders"] == missing["multiValueHeaders"]
    assert set(theirs) == set(missing)


def test_fails_r25_report_url_of_a_finished_job_is_never_shown_to_another(
    pipeline: Any, symbol: str
) -> None:
    # Given Alice's finished job with a rejection report
    event = api_event("POST", "/upload", "/upload", body={"fileName": "t.csv", "fileType": "csv"})
    created = body_of(upload.handler(_with_identity(event, arn=ALICE), context()))
    data = f"symbol,price,volume,timestamp\n{symbol},x,1,2024-01-01\n".encode()
    etag = pipeline.post_file(created["upload"], data)
    pipeline.process(created["upload"]["fields"]["key"], etag)

    # When Alice and Bob ask for it
    mine = _status(created["jobId"], arn=ALICE)
    theirs = _status(created["jobId"], arn=BOB)

    # Then only Alice sees the report link; Bob's answer holds no trace of it
    assert "reportUrl" in body_of(mine)
    assert theirs["statusCode"] == 404
    assert "reports/" not in theirs["body"]


def test_fails_r25_status_of_another_reads_the_table_as_often_as_an_unknown_id(
    pipeline: Any,
) -> None:
    # Given Alice's job, and a count of the calls to DynamoDB
    job_id = _create(arn=ALICE)
    calls: list[str] = []

    def count(model: Any, **_: Any) -> None:
        calls.append(model.name)

    events = pipeline.dynamodb.meta.events
    events.register("before-call.dynamodb", count)
    try:
        # When Bob asks for it, then for an unknown id
        _status(job_id, arn=BOB)
        theirs = list(calls)
        calls.clear()
        _status(str(uuid.uuid4()), arn=BOB)
    finally:
        events.unregister("before-call.dynamodb", count)

    # Then both cost the same single read
    assert theirs == calls == ["GetItem"]
