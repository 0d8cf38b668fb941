"""An HTTP front that behaves like the template's API Gateway REST API (Lambda proxy).

Order of work for one request, as in API Gateway: route (403 Missing Authentication Token for an
unknown route, and for a path with a ``.``, ``..`` or empty segment or a ``#``, which no resource
has: SigV4 signs such a path as another, so only the path that is verified is routed),
payload size (413), the method's authorization (AWS_IAM: a SigV4 signature
checked by `local.iam` against the local principals, 403 `MISSING_AUTHENTICATION_TOKEN` or
`INVALID_SIGNATURE`; COGNITO_USER_POOLS: the token's claims passed on UNVERIFIED, 401 without a
readable token), stage and method throttling (429), request validation against the template's
validators and JSON-schema models (400), then the Lambda proxy call with the caller's identity
in `requestContext`. Every error that API Gateway
itself produces is rendered from the template's gateway responses; so is a fault of this emulator
(the DEFAULT_5XX response), so a client never sees anything but the API's error shape.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from jsonschema import Draft4Validator
from jsonschema.validators import validator_for
from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request, Response

from local.apimodel import GatewayResponse, RestApiModel, Route, Throttle
from local.cfn import ACCOUNT_ID
from local.iam import (
    AuthError,
    Principal,
    SignedRequest,
    SigV4Verifier,
    is_signed_as_sent,
    unverified_claims,
)

log = logging.getLogger("local.gateway")

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
LOCAL_DOCUMENT_PATH = "/local.json"
"""The local run's own document (not the API's, like ``/openapi.json``): where its AWS endpoint
and its job-events queue are, for ``fpipe events``."""
# API Gateway's quota on the request line and headers together.
MAX_HEADER_BYTES = 10 * 1024

DEFAULT_STATUS = {
    "ACCESS_DENIED": 403,
    "API_CONFIGURATION_ERROR": 500,
    "AUTHORIZER_CONFIGURATION_ERROR": 500,
    "AUTHORIZER_FAILURE": 500,
    "BAD_REQUEST_PARAMETERS": 400,
    "BAD_REQUEST_BODY": 400,
    "EXPIRED_TOKEN": 403,
    "INTEGRATION_FAILURE": 504,
    "INTEGRATION_TIMEOUT": 504,
    "INVALID_API_KEY": 403,
    "INVALID_SIGNATURE": 403,
    "MISSING_AUTHENTICATION_TOKEN": 403,
    "QUOTA_EXCEEDED": 429,
    "REQUEST_TOO_LARGE": 413,
    "RESOURCE_NOT_FOUND": 404,
    "THROTTLED": 429,
    "UNAUTHORIZED": 401,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "WAF_FILTERED": 403,
}

Invoke = Callable[[str, dict[str, Any]], Any]

# API Gateway has no response type of its own for a fault inside the gateway: the 5XX default.
_UNEXPECTED = "DEFAULT_5XX"


class TokenBucket:
    """API Gateway's throttle: ``rate`` tokens per second, at most ``burst`` banked."""

    def __init__(self, throttle: Throttle, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = throttle.rate
        self.capacity = float(throttle.burst)
        self._tokens = self.capacity
        self._clock = clock
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


class GatewayError(Exception):
    def __init__(
        self,
        response_type: str,
        message: str,
        *,
        status: int | None = None,
        validation_error: str = "",
        error_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.response_type = response_type
        self.message = message
        self.status = status
        self.validation_error = validation_error
        self.error_type = error_type


@dataclass(frozen=True, slots=True)
class Caller:
    """Who the method's authorization found: an IAM principal, token claims, or nobody."""

    principal: Principal | None = None
    claims: dict[str, Any] | None = None


_CONTEXT_REF = re.compile(
    r"\$(?:\{context\.([A-Za-z0-9_.]+)\}|context\.([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*))"
)


def render_template(text: str, context: dict[str, str]) -> str:
    """Render a gateway response template as API Gateway does.

    Gateway response templates are not processed by the VTL engine: API Gateway only
    substitutes variable values into them. This substitutes ``$context.x`` and
    ``${context.x}``; everything else (``#if``, ``$util.*``, ``$input.*``, an unknown
    variable, and ``$stageVariables.*``, since the template defines no stage variables) stays
    literal, so a template that relies on VTL is visibly wrong here too.
    """

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1) or match.group(2)
        return context.get(key, match.group(0))

    return _CONTEXT_REF.sub(substitute, text)


class ApiGateway:
    """A WSGI application for one REST API stage."""

    def __init__(
        self,
        api: RestApiModel,
        invoke: Invoke,
        *,
        openapi: Callable[[str], dict[str, Any]] | None = None,
        local_document: Callable[[], dict[str, Any]] | None = None,
        api_id: str = "local",
        iam: SigV4Verifier | None = None,
    ) -> None:
        """``iam`` checks the signatures of AWS_IAM methods; without it no principal exists, so
        every such request is refused, as for an API whose callers have no IAM grant."""
        self.api = api
        self._invoke = invoke
        self._openapi = openapi
        self._local_document = local_document
        self.api_id = api_id
        self.iam = iam or SigV4Verifier(None, region="")
        self._stage_bucket = TokenBucket(api.stage_throttle) if api.stage_throttle else None
        self._method_buckets = {key: TokenBucket(t) for key, t in api.method_throttles.items()}
        self.requests_served = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        started = time.monotonic()
        try:
            response = self.handle(request)
        except Exception:
            # Even a broken gateway response must not become werkzeug's HTML debugging page:
            # clients parse JSON, as API Gateway always sends.
            log.exception("gateway response failed for %s %s", request.method, request.path)
            response = _unconfigured_response(
                GatewayError(_UNEXPECTED, "Internal server error"), str(uuid.uuid4())
            )
        log.info(
            "%s %s -> %d (%.0f ms)",
            request.method,
            request.full_path.rstrip("?"),
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        """The response of the stage; a fault of the emulator itself is a DEFAULT_5XX."""
        self.requests_served += 1
        context = self._request_context(request)
        path_params: dict[str, str] = {}
        try:
            return self._route(request, context, path_params)
        except GatewayError as error:
            return self._gateway_response(error, request, path_params, context)
        except Exception:
            log.exception("%s %s failed in the gateway", request.method, request.path)
            unexpected = GatewayError(_UNEXPECTED, "Internal server error")
            return self._gateway_response(unexpected, request, path_params, context)

    def _request_context(self, request: Request) -> dict[str, str]:
        now = datetime.now(UTC)
        return {
            "requestId": str(uuid.uuid4()),
            "extendedRequestId": base64.b32encode(uuid.uuid4().bytes)[:16].decode(),
            "httpMethod": request.method,
            "path": f"/{self.api.stage_name}{request.path}",
            "resourcePath": "",
            "stage": self.api.stage_name,
            "apiId": self.api_id,
            "accountId": ACCOUNT_ID,
            "domainName": request.host,
            "domainPrefix": request.host.split(".", 1)[0],
            "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": str(int(now.timestamp() * 1000)),
            "identity.sourceIp": request.remote_addr or "127.0.0.1",
            "identity.userAgent": request.user_agent.string,
        }

    def _route(
        self, request: Request, context: dict[str, str], path_params: dict[str, str]
    ) -> Response:
        """Route, throttle, validate and integrate; ``path_params`` is filled once routed, for
        the header mappings of a gateway response."""
        request_id = context["requestId"]
        if (
            request.method == "GET"
            and request.path == "/openapi.json"
            and self._openapi is not None
            and not self.api.path_exists(request.path)
        ):
            return Response(
                json.dumps(self._openapi(request.host_url.rstrip("/")), indent=2),
                200,
                {"Content-Type": "application/json", "x-amzn-RequestId": request_id},
            )
        if (
            request.method == "GET"
            and request.path == LOCAL_DOCUMENT_PATH
            and self._local_document is not None
            and not self.api.path_exists(request.path)
        ):
            return Response(
                json.dumps(self._local_document(), indent=2),
                200,
                {"Content-Type": "application/json", "x-amzn-RequestId": request_id},
            )
        if _header_bytes(request) > MAX_HEADER_BYTES:
            raise GatewayError("REQUEST_TOO_LARGE", "Request Too Long")
        # Routed on the path as sent, as API Gateway does: an encoded "/" stays inside its
        # segment, and the parameter is handed on decoded.
        raw_path = _raw_path(request)
        found = self.api.find(request.method, raw_path) if is_signed_as_sent(raw_path) else None
        if found is None:
            raise GatewayError("MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")
        route, params = found
        path_params.update({name: unquote(value) for name, value in params.items()})
        context["resourcePath"] = route.resource_path
        body = request.get_data(cache=True)
        if len(body) > MAX_PAYLOAD_BYTES:
            raise GatewayError("REQUEST_TOO_LARGE", "Request Too Long")
        caller = self._authorize(route, request, body)
        self._throttle(route)
        self._validate(route, request, path_params, body)
        if route.function_arn is None:
            return Response(
                b"", route.mock_status, {**route.mock_headers, "x-amzn-RequestId": request_id}
            )
        event = self._proxy_event(route, request, path_params, body, context, caller=caller)
        return self._call(route, event, request_id)

    def _authorize(self, route: Route, request: Request, body: bytes) -> Caller:
        if route.authorization_type == "AWS_IAM":
            try:
                return Caller(principal=self.iam.verify(_signed_request(request, body)))
            except AuthError as error:
                raise GatewayError(
                    error.response_type, error.message, error_type=error.error_type
                ) from None
        if route.authorization_type == "COGNITO_USER_POOLS":
            claims = unverified_claims(request.headers.get("Authorization"))
            if claims is None:
                raise GatewayError("UNAUTHORIZED", "Unauthorized")
            return Caller(claims=claims)
        return Caller()

    def _throttle(self, route: Route) -> None:
        bucket = self._method_buckets.get((route.resource_path, route.http_method))
        if bucket is None:
            bucket = self._method_buckets.get((route.resource_path, "*"))
        if bucket is not None and not bucket.take():
            raise GatewayError("THROTTLED", "Too Many Requests")
        if bucket is None and self._stage_bucket is not None and not self._stage_bucket.take():
            raise GatewayError("THROTTLED", "Too Many Requests")

    def _validate(
        self, route: Route, request: Request, path_params: dict[str, str], body: bytes
    ) -> None:
        if route.validate_parameters and route.required_parameters:
            missing = []
            for parameter in route.required_parameters:
                _, _, location, name = parameter.split(".", 3)
                present = {
                    "path": lambda n: bool(path_params.get(n)),
                    "querystring": lambda n: n in request.args,
                    "header": lambda n: n in request.headers,
                    "multivaluequerystring": lambda n: n in request.args,
                    "multivalueheader": lambda n: n in request.headers,
                }.get(location, lambda n: True)(name)
                if not present:
                    missing.append(name)
            if missing:
                raise GatewayError(
                    "BAD_REQUEST_PARAMETERS",
                    f"Missing required request parameters: [{', '.join(missing)}]",
                )
        if route.validate_body and route.models:
            content_type = (request.mimetype or "application/json").lower()
            schema = route.models.get(content_type) or route.models.get("$default")
            if schema is None:
                return  # no model for this media type: API Gateway passes the body through
            # A body nested deeper than the parser or the validator can recurse is one that
            # cannot be validated: a client error, never a fault of the gateway.
            try:
                document = json.loads(body or b"null")
            except (ValueError, RecursionError):
                raise GatewayError(
                    "BAD_REQUEST_BODY",
                    "Invalid request body",
                    validation_error="[Invalid JSON in request body]",
                ) from None
            validator_class = validator_for(schema, default=Draft4Validator)
            try:
                errors = sorted(
                    validator_class(schema).iter_errors(document), key=lambda e: list(e.path)
                )
            except RecursionError:
                raise GatewayError(
                    "BAD_REQUEST_BODY",
                    "Invalid request body",
                    validation_error="[Request body nested too deeply]",
                ) from None
            if errors:
                raise GatewayError(
                    "BAD_REQUEST_BODY",
                    "Invalid request body",
                    validation_error="[" + ", ".join(e.message for e in errors) + "]",
                )

    def _proxy_event(
        self,
        route: Route,
        request: Request,
        path_params: dict[str, str],
        body: bytes,
        context: dict[str, str],
        *,
        caller: Caller,
    ) -> dict[str, Any]:
        multi_headers: dict[str, list[str]] = {}
        for key, value in request.headers.items():
            multi_headers.setdefault(key, []).append(value)
        multi_query = {key: request.args.getlist(key) for key in request.args}
        text: str | None
        is_base64 = False
        if not body:
            text = None
        else:
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text, is_base64 = base64.b64encode(body).decode(), True
        identity: dict[str, Any] = {
            "sourceIp": context["identity.sourceIp"],
            "userAgent": context["identity.userAgent"],
            "accountId": None,
            "caller": None,
            "user": None,
            "userArn": None,
            "accessKey": None,
            "cognitoIdentityId": None,
            "cognitoIdentityPoolId": None,
            "cognitoAuthenticationType": None,
            "cognitoAuthenticationProvider": None,
            "principalOrgId": None,
        }
        if caller.principal is not None:
            identity.update(caller.principal.identity())
        request_context: dict[str, Any] = {
            "resourceId": route.resource_path,
            "resourcePath": route.resource_path,
            "httpMethod": request.method,
            "extendedRequestId": context["extendedRequestId"],
            "requestTime": context["requestTime"],
            "path": context["path"],
            "accountId": ACCOUNT_ID,
            "protocol": context["protocol"],
            "stage": self.api.stage_name,
            "domainPrefix": context["domainPrefix"],
            "requestTimeEpoch": int(context["requestTimeEpoch"]),
            "requestId": context["requestId"],
            "identity": identity,
            "domainName": context["domainName"],
            "apiId": self.api_id,
        }
        if caller.claims is not None:
            request_context["authorizer"] = {"claims": caller.claims}
        return {
            "resource": route.resource_path,
            "path": request.path,
            "httpMethod": request.method,
            "headers": {k: v[-1] for k, v in multi_headers.items()} or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": path_params or None,
            "stageVariables": None,
            "requestContext": request_context,
            "body": text,
            "isBase64Encoded": is_base64,
        }

    def _call(self, route: Route, event: dict[str, Any], request_id: str) -> Response:
        assert route.function_arn is not None
        try:
            result = self._invoke(route.function_arn, event)
        except Exception:
            log.exception("integration %s raised", route.function_arn)
            raise GatewayError("INTEGRATION_FAILURE", "Internal server error", status=502) from None
        if not _is_proxy_response(result):
            log.error("malformed Lambda proxy response: %r", result)
            raise GatewayError("API_CONFIGURATION_ERROR", "Internal server error", status=502)
        headers = Headers()
        for key, value in (result.get("headers") or {}).items():
            headers[key] = str(value)
        for key, values in (result.get("multiValueHeaders") or {}).items():
            headers.remove(key)
            for value in values:
                headers.add(key, str(value))
        headers.setdefault("Content-Type", "application/json")
        headers["x-amzn-RequestId"] = request_id
        body = result.get("body") or ""
        payload = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        return Response(payload, result["statusCode"], headers)

    def _gateway_response(
        self,
        error: GatewayError,
        request: Request,
        path_params: dict[str, str],
        context: dict[str, str],
    ) -> Response:
        context = {
            **context,
            "error.message": error.message,
            "error.messageString": json.dumps(error.message),
            "error.responseType": error.response_type,
            "error.validationErrorString": error.validation_error,
        }
        default_status = error.status or DEFAULT_STATUS.get(error.response_type, 500)
        family = "DEFAULT_5XX" if default_status >= 500 else "DEFAULT_4XX"
        configured: GatewayResponse | None = self.api.gateway_responses.get(
            error.response_type
        ) or self.api.gateway_responses.get(family)
        headers = {"x-amzn-RequestId": context["requestId"], "x-amzn-ErrorType": _error_type(error)}
        if configured is None:
            return _unconfigured_response(error, context["requestId"])
        status = configured.status_code or default_status
        for name, expression in configured.headers.items():
            value = _mapped_value(expression, context, request, path_params)
            if value:
                headers[name] = value
        content_type, template = next(
            iter(configured.templates.items()),
            ("application/json", '{"message":$context.error.messageString}'),
        )
        body = render_template(template, context)
        return Response(body, status, {**headers, "Content-Type": content_type})


def _is_proxy_response(result: Any) -> bool:
    """The shape API Gateway accepts from a Lambda proxy integration (else a 502)."""
    if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
        return False
    headers = result.get("headers")
    multi = result.get("multiValueHeaders")
    return (
        (headers is None or isinstance(headers, dict))
        and (
            multi is None
            or (isinstance(multi, dict) and all(isinstance(v, list) for v in multi.values()))
        )
        and (result.get("body") is None or isinstance(result.get("body"), str))
    )


def _unconfigured_response(error: GatewayError, request_id: str) -> Response:
    """What API Gateway sends for an error that no gateway response of the API configures."""
    headers = {
        "x-amzn-RequestId": request_id,
        "x-amzn-ErrorType": _error_type(error),
        "Content-Type": "application/json",
    }
    status = error.status or DEFAULT_STATUS.get(error.response_type, 500)
    return Response(json.dumps({"message": error.message}), status, headers)


def _error_type(error: GatewayError) -> str:
    if error.error_type:
        return error.error_type
    return {
        "MISSING_AUTHENTICATION_TOKEN": "MissingAuthenticationTokenException",
        "THROTTLED": "TooManyRequestsException",
        "BAD_REQUEST_BODY": "BadRequestException",
        "BAD_REQUEST_PARAMETERS": "BadRequestException",
        "REQUEST_TOO_LARGE": "RequestTooLargeException",
        "INVALID_SIGNATURE": "InvalidSignatureException",
        "UNAUTHORIZED": "UnauthorizedException",
    }.get(error.response_type, "InternalServerErrorException")


def _raw_path(request: Request) -> str:
    """The path exactly as sent when the server kept it (werkzeug's RAW_URI): PATH_INFO is
    already percent-decoded, so "a%2Fb" and "a/b" would look the same."""
    raw_uri = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if isinstance(raw_uri, str) and raw_uri:
        if not raw_uri.startswith("/"):
            raw_uri = urlsplit(raw_uri).path or "/"  # absolute-form request target
        return raw_uri.split("?", 1)[0] or "/"
    return quote(request.path, safe="/~!$&'()*+,;=:@")


def _header_bytes(request: Request) -> int:
    line = len(request.method) + len(str(request.environ.get("RAW_URI") or request.full_path))
    return line + sum(len(name) + len(value) + 4 for name, value in request.headers.items())


def _signed_request(request: Request, body: bytes) -> SignedRequest:
    """The request as the client signed it: the path as sent, the raw query, every header."""
    return SignedRequest(
        method=request.method,
        raw_path=_raw_path(request),
        raw_query=str(request.environ.get("QUERY_STRING", "")),
        headers=list(request.headers.items()),
        body=body,
    )


def _mapped_value(
    expression: str, context: dict[str, str], request: Request, path_params: dict[str, str]
) -> str | None:
    """A gateway response header mapping: a quoted literal or a request/context value."""
    if expression.startswith("'") and expression.endswith("'"):
        return expression[1:-1]
    if expression.startswith("context."):
        return context.get(expression.removeprefix("context."))
    for prefix, source in (
        ("method.request.header.", dict(request.headers.items())),
        ("method.request.querystring.", request.args.to_dict()),
        ("method.request.path.", path_params),
    ):
        if expression.startswith(prefix):
            name = expression.removeprefix(prefix)
            if prefix == "method.request.header.":
                return request.headers.get(name)
            return source.get(name)
    return None
