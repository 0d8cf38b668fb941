"""The Lambda Invoke API over the local runtime, served on the local endpoint (`local.endpoint`),
so that whatever invokes a function (the sweeper's re-drive of the processor, a state machine's
Lambda task on moto's engine, ``aws lambda invoke``) reaches it through an ordinary client.

Lambda's payload limits hold (`local.lambdas`): a request over 6 MB (synchronous) or 1 MB
(``Event``) is refused with 413 ``RequestEntityTooLargeException``, a result over 6 MB is the
function's error ``Function.ResponseSizeTooLarge``. A result to moto's Step Functions engine
(it signs with the key ``ak``) over Step Functions' 256 KiB state is the error
``States.DataLimitExceeded``, the name Step Functions gives it. On AWS no ``States.ALL`` catcher
matches that error and the execution fails; moto's engine lets a ``States.ALL`` Catch take it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from werkzeug.wrappers import Request, Response

from local.lambdas import (
    ASYNC_PAYLOAD_LIMIT,
    SYNC_PAYLOAD_LIMIT,
    LambdaService,
    PayloadTooLarge,
    payload_size,
)
from local.roles import ENGINE_ACCESS_KEY
from local.workers import FunctionError

_INVOKE_PATH = re.compile(r"/2015-03-31/functions/([^/]+)/invocations")

STATE_LIMIT = 256 * 1024
"""Step Functions' largest state (input or output of a state), in bytes."""


class LambdaInvokeApi:
    """A WSGI application answering ``Invoke`` as the Lambda service does."""

    def __init__(self, lambdas: LambdaService) -> None:
        self._lambdas = lambdas

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        return self.handle(Request(environ))(environ, start_response)

    def handle(self, request: Request) -> Response:
        found = _INVOKE_PATH.fullmatch(request.path)
        if request.method != "POST" or found is None:
            return _error(404, "ResourceNotFoundException", "unknown operation")
        try:
            spec = self._lambdas.lookup(found.group(1))
        except KeyError:
            return _error(404, "ResourceNotFoundException", f"{found.group(1)} not found")
        raw = request.get_data()
        invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        limit = ASYNC_PAYLOAD_LIMIT if invocation_type == "Event" else SYNC_PAYLOAD_LIMIT
        if len(raw) > limit:
            return _error(
                413, "RequestEntityTooLargeException", str(PayloadTooLarge(len(raw), limit))
            )
        event = json.loads(raw) if raw else {}
        if invocation_type == "DryRun":
            return Response(b"", 204)
        if invocation_type == "Event":
            try:
                self._lambdas.invoke_async(spec, event)
            except PayloadTooLarge as exc:
                return _error(413, "RequestEntityTooLargeException", str(exc))
            return Response(b"", 202)
        try:
            result = self._lambdas.invoke_sync(spec, event)
            if _from_engine(request) and (size := payload_size(result)) > STATE_LIMIT:
                raise FunctionError(
                    "States.DataLimitExceeded",
                    f"The state/task returned a result with a size ({size} bytes) exceeding "
                    f"the maximum number of bytes service limit ({STATE_LIMIT}).",
                )
        except PayloadTooLarge as exc:
            return _error(413, "RequestEntityTooLargeException", str(exc))
        except Exception as exc:
            # Lambda reports a function's own error in a 200 with this header, not as an HTTP error.
            error_type = exc.error_type if isinstance(exc, FunctionError) else type(exc).__name__
            payload = {"errorMessage": str(exc), "errorType": error_type}
            return Response(json.dumps(payload), 200, {"X-Amz-Function-Error": "Unhandled"})
        return Response(json.dumps(result), 200, {"Content-Type": "application/json"})


def _from_engine(request: Request) -> bool:
    """Whether moto's Step Functions engine sent ``request`` (signed with its key)."""
    return f"Credential={ENGINE_ACCESS_KEY}/" in request.headers.get("Authorization", "")


def _error(status: int, error_type: str, message: str) -> Response:
    return Response(
        json.dumps({"Type": "User", "message": message}),
        status,
        {"x-amzn-ErrorType": error_type, "Content-Type": "application/json"},
    )
