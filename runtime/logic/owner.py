"""Who owns a job, and who may read it (R25).

The owner is taken from what API Gateway put in the request context, never from anything the
client sends, and it is keyed on what the caller cannot choose:

- an IAM-signed call: ``iam:<unique id>``, from the principal id API Gateway passes as
  ``requestContext.identity.user`` (``caller`` when ``user`` is missing). An IAM user's is its
  ``AIDA...`` id; an assumed role's is ``AROA...:<session name>``, and only the role's
  ``AROA...`` id is kept, since the caller picks the session name: every session of one role is
  one owner. The account root is its account id; a federated user (``GetFederationToken``) is
  ``<account>:<name>`` with a name its caller picks, so every federated user of an account is
  one owner, ``iam:<account>:federated-user``. The principal ARN is never the key: an assumed
  role's ARN ends in the session name.
- an IAM-signed call with Cognito identity-pool credentials: every identity of the pool signs
  with one role (and one session name), so the owner is the identity,
  ``cognito-identity:<cognitoIdentityId>``.
- behind a Cognito user pool authorizer: ``cognito:<sub>`` (``authorizer.claims.sub``).
- no authorization on the method (``none`` mode): no owner.

API Gateway's REST proxy event carries no ``sts:SourceIdentity``, so a role's sessions cannot be
told apart by it: callers that must not see each other's jobs need principals of their own.

The mode is read from the event rather than from a setting: API Gateway fills the identity only
when it has checked it, so an event with an identity is an authorized one. An IAM identity
without a principal id (which API Gateway does not send) is refused rather than given no owner.

A job with an owner answers only that owner. A request without identity never matches one, so
a job created with an owner cannot be read through an unauthenticated route. A job without owner
(created in `none` mode) answers every caller, since that mode has no callers to tell apart.

Jobs stored before owners were keyed this way hold ``iam:<principal ARN>`` and, beside it, the
caller id (``ownerCaller``, the principal id of the creating call): such a job answers the owner
that caller id names today, and nobody when it has none.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities.data_classes.api_gateway_proxy_event import (
    APIGatewayEventAuthorizer,
)
from aws_lambda_powertools.utilities.data_classes.common import APIGatewayEventIdentity

from runtime.errors import PipelineError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

IAM_PREFIX = "iam:"
IDENTITY_POOL_PREFIX = "cognito-identity:"
COGNITO_PREFIX = "cognito:"
STORED_ARN_PREFIX = "iam:arn:"
"""The owner form of jobs stored before owners were unique ids: ``iam:<principal ARN>``."""
FEDERATED_USER = "federated-user"


@dataclass(frozen=True, slots=True)
class Caller:
    """The identity of one request: the owner key, and the IAM caller id kept for audit."""

    owner: str | None
    caller: str | None = None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def principal_key(principal_id: str) -> str | None:
    """The part of an IAM principal id (``aws:userid``) its caller cannot choose; None when
    there is none. What follows a colon is always the caller's choice (a role session name, a
    federated user's name, an instance id)."""
    head, colon, _ = principal_id.partition(":")
    if not head:
        return None
    if not colon:
        return head  # an IAM user's AIDA... id, or the account id of the root user
    if head.isdigit():
        return f"{head}:{FEDERATED_USER}"  # <account>:<name of the caller's choice>
    return head  # AROA...:<session name>: the role


def caller_of(event: APIGatewayProxyEvent) -> Caller:
    """The caller API Gateway authenticated for this request (no owner when it checked none)."""
    context = event.request_context
    identity = APIGatewayEventIdentity(context.get("identity") or {})
    caller_id = _text(identity.caller)
    principal_id = _text(identity.user) or caller_id
    pool_identity = _text(identity.cognito_identity_id)
    if pool_identity is not None:
        return Caller(owner=IDENTITY_POOL_PREFIX + pool_identity, caller=caller_id)
    if principal_id is not None or _text(identity.user_arn) is not None:
        key = principal_key(principal_id) if principal_id is not None else None
        if key is None:
            raise PipelineError(
                "the request's IAM identity has no principal id", code="UNIDENTIFIED_CALLER"
            )
        return Caller(owner=IAM_PREFIX + key, caller=caller_id)
    claims = APIGatewayEventAuthorizer(context.get("authorizer") or {}).claims
    sub = _text(claims.get("sub"))
    if sub is not None:
        return Caller(owner=COGNITO_PREFIX + sub)
    return Caller(owner=None)


def current_owner(job_owner: str, job_caller: str | None) -> str | None:
    """``job_owner`` in today's form: a stored ``iam:<principal ARN>`` becomes the owner its
    stored caller id names (None, nobody, without one); any other form is already current."""
    if not job_owner.startswith(STORED_ARN_PREFIX):
        return job_owner
    key = principal_key(job_caller) if job_caller else None
    return None if key is None else IAM_PREFIX + key


def may_read(job_owner: str | None, caller: Caller, *, job_caller: str | None = None) -> bool:
    """Whether ``caller`` may see a job owned by ``job_owner``; ``job_caller`` is the caller id
    stored beside it (``ownerCaller``), which keys a job stored with the ARN form."""
    if job_owner is None:
        return True
    if caller.owner is None:
        return False
    owner = current_owner(job_owner, job_caller)
    if owner is None:
        return False
    return hmac.compare_digest(owner.encode(), caller.owner.encode())
