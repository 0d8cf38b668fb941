"""API Gateway (REST, proxy) wiring shared by the HTTP handlers.

Correlation id: the client's `X-Correlation-Id` when it is a sane token, else the API Gateway
request id, else a fresh UUID. It goes into every log line and back to the client as the
`X-Correlation-Id` header and the `correlationId` field of every error body.
"""

from __future__ import annotations

import json
import re
import urllib.parse
import uuid
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as RouteNotFound

from runtime.errors import NotFoundError, PipelineError
from runtime.observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

CORRELATION_HEADER = "X-Correlation-Id"
JSON = "application/json"
_SANE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}").fullmatch

_state: dict[str, str] = {"correlation_id": ""}


def correlation_id_from(event: dict[str, Any]) -> str:
    for name, value in (event.get("headers") or {}).items():
        if name.lower() == CORRELATION_HEADER.lower() and isinstance(value, str):
            if _SANE_ID(value):
                return value
            break
    request_id = (event.get("requestContext") or {}).get("requestId")
    if isinstance(request_id, str) and _SANE_ID(request_id):
        return request_id
    return str(uuid.uuid4())


def current_correlation_id() -> str:
    return _state["correlation_id"]


def json_response(status_code: int, body: dict[str, Any] | str) -> Response[str]:
    text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
    return Response(status_code=status_code, content_type=JSON, body=text)


def error_response(error: PipelineError) -> Response[str]:
    return json_response(error.status_code, error.body(current_correlation_id()))


def make_app() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver()

    def _pipeline_error(exc: PipelineError) -> Response[str]:
        if exc.status_code >= 500:
            logger.exception("request failed")
        else:
            logger.info("request rejected", extra={"code": exc.code, "detail": exc.message})
        return error_response(exc)

    @app.not_found
    def _not_found(_exc: RouteNotFound) -> Response[str]:
        return error_response(NotFoundError("no such resource"))

    def _unexpected(_exc: Exception) -> Response[str]:
        logger.exception("unexpected error")
        return error_response(PipelineError("internal error"))

    # Registered by call rather than as decorators: the decorator is untyped in Powertools.
    app.exception_handler(PipelineError)(_pipeline_error)
    app.exception_handler(Exception)(_unexpected)
    return app


def _routable(event: dict[str, Any]) -> dict[str, Any]:
    """Route on the API Gateway resource with its (already decoded) path parameters re-quoted.

    The raw path can hold `/` or `..` inside a parameter, which would miss the route and turn a
    malformed id into a 404; the handlers validate the parameter values themselves.
    """
    resource = event.get("resource")
    if not isinstance(resource, str) or "{" not in resource:
        return event
    path = resource
    for name, value in (event.get("pathParameters") or {}).items():
        path = path.replace("{" + name + "}", urllib.parse.quote(str(value), safe=""))
    if "{" in path:
        return event
    return {**event, "path": path}


def resolve(
    app: APIGatewayRestResolver, event: dict[str, Any], context: LambdaContext
) -> dict[str, Any]:
    correlation_id = correlation_id_from(event)
    _state["correlation_id"] = correlation_id
    logger.set_correlation_id(correlation_id)
    response = app.resolve(_routable(event), context)
    headers = response.setdefault("multiValueHeaders", {}) or {}
    headers[CORRELATION_HEADER] = [correlation_id]
    response["multiValueHeaders"] = headers
    if isinstance(response.get("headers"), dict):
        response["headers"][CORRELATION_HEADER] = correlation_id
    return response
