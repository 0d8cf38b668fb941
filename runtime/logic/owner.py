"""Who owns a job, and who may read it (R25).

The owner is taken from what API Gateway put in the request context, never from anything the
client sends: `iam:<principal ARN>` (`requestContext.identity.userArn`) for an IAM-authorized
method, `cognito:<sub>` (`requestContext.authorizer.claims.sub`) behind a Cognito user pool
authorizer, and no owner when the method has no authorization (`none` mode). The mode is read
from the event rather than from a setting: API Gateway fills the identity only when it has
checked it, so an event with an identity is an authorized one.

A job with an owner answers only that owner. A request without identity never matches one, so
a job created with an owner cannot be read through an unauthenticated route. A job without owner
(created in `none` mode) answers every caller, since that mode has no callers to tell apart.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities.data_classes.api_gateway_proxy_event import (
    APIGatewayEventAuthorizer,
)
from aws_lambda_powertools.utilities.data_classes.common import APIGatewayEventIdentity

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

IAM_PREFIX = "iam:"
COGNITO_PREFIX = "cognito:"


@dataclass(frozen=True, slots=True)
class Caller:
    """The identity of one request: the owner key, and the IAM caller id kept for audit."""

    owner: str | None
    caller: str | None = None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def caller_of(event: APIGatewayProxyEvent) -> Caller:
    """The caller API Gateway authenticated for this request (no owner when it checked none)."""
    context = event.request_context
    identity = APIGatewayEventIdentity(context.get("identity") or {})
    arn = _text(identity.user_arn)
    if arn is not None:
        return Caller(owner=IAM_PREFIX + arn, caller=_text(identity.caller))
    claims = APIGatewayEventAuthorizer(context.get("authorizer") or {}).claims
    sub = _text(claims.get("sub"))
    if sub is not None:
        return Caller(owner=COGNITO_PREFIX + sub)
    return Caller(owner=None)


def may_read(job_owner: str | None, caller: Caller) -> bool:
    """Whether ``caller`` may see a job owned by ``job_owner``."""
    if job_owner is None:
        return True
    if caller.owner is None:
        return False
    return hmac.compare_digest(job_owner.encode(), caller.owner.encode())
