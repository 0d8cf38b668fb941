"""API Gateway (REST, proxy) wiring shared by the HTTP handlers.

Correlation id: the client's `X-Correlation-Id` when it matches the OpenAPI document (1 to 128
printable ASCII characters, no space: `^[!-~]+$`, so it is always a safe header value), else the
API Gateway request id, else a fresh UUID. It goes into every log line and back to the client as
the `X-Correlation-Id` header and the `correlationId` field of every error body.

CORS: when `CORS_ALLOW_ORIGINS` lists origins, a response to a request whose `Origin` is one of
them carries `Access-Control-Allow-Origin: <that origin>`, `Vary: Origin` and
`Access-Control-Expose-Headers: X-Correlation-Id`; API Gateway answers the preflight itself. This
is done here rather than with Powertools' `CORSConfig`, which is fixed when the routes are
declared (at import), adds no `Vary: Origin` and skips the not-found answer.
"""

from __future__ import annotations

import json
import re
import urllib.parse
import uuid
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as RouteNotFound

from runtime.contract import CORRELATION_HEADER
from runtime.errors import NotFoundError, PipelineError
from runtime.observability import logger
from runtime.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

JSON = "application/json"
# The OpenAPI `CorrelationId` schema: printable ASCII without space, 1 to 128 characters.
_SANE_ID = re.compile(r"[!-~]{1,128}", re.ASCII).fullmatch

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


def _header(event: dict[str, Any], wanted: str) -> str | None:
    for name, value in (event.get("headers") or {}).items():
        if name.lower() == wanted and isinstance(value, str):
            return value
    return None


def cors_headers(event: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, str]:
    """The CORS response headers for this request (none when its origin is not allowed)."""
    origin = _header(event, "origin")
    if not allowed or origin is None or origin not in allowed:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Expose-Headers": CORRELATION_HEADER,
        "Vary": "Origin",
    }


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
    extra = {CORRELATION_HEADER: correlation_id}
    extra.update(cors_headers(event, get_settings().cors_allow_origins))
    headers = response.setdefault("multiValueHeaders", {}) or {}
    for name, value in extra.items():
        headers[name] = [value]
    response["multiValueHeaders"] = headers
    if isinstance(response.get("headers"), dict):
        response["headers"].update(extra)
    return response
