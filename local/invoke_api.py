"""The Lambda Invoke API over the local runtime, served on the local endpoint (`local.endpoint`),
so that whatever invokes a function (the sweeper's re-drive of the processor, a state machine's
Lambda task on moto's engine, ``aws lambda invoke``) reaches it through an ordinary client."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from werkzeug.wrappers import Request, Response

from local.lambdas import LambdaService
from local.workers import FunctionError

_INVOKE_PATH = re.compile(r"/2015-03-31/functions/([^/]+)/invocations")


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
        event = json.loads(raw) if raw else {}
        invocation_type = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type == "DryRun":
            return Response(b"", 204)
        if invocation_type == "Event":
            self._lambdas.invoke_async(spec, event)
            return Response(b"", 202)
        try:
            result = self._lambdas.invoke_sync(spec, event)
        except Exception as exc:
            # Lambda reports a function's own error in a 200 with this header, not as an HTTP error.
            error_type = exc.error_type if isinstance(exc, FunctionError) else type(exc).__name__
            payload = {"errorMessage": str(exc), "errorType": error_type}
            return Response(json.dumps(payload), 200, {"X-Amz-Function-Error": "Unhandled"})
        return Response(json.dumps(result), 200, {"Content-Type": "application/json"})


def _error(status: int, error_type: str, message: str) -> Response:
    return Response(
        json.dumps({"Type": "User", "message": message}),
        status,
        {"x-amzn-ErrorType": error_type, "Content-Type": "application/json"},
    )
