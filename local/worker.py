"""One warm function container: ``python -m local.worker HANDLER`` imports the handler (the cold
start), then runs one invocation at a time for as long as its stdin stays open.

Protocol, one JSON document per line: the worker first says ``{"ready": true}`` (or the import
error), then answers each ``{"event", "context"}`` with ``{"result"}`` or ``{"errorType",
"errorMessage", "stackTrace"}``. The handler's own output (``print``, logs) goes to stderr, so
nothing it writes can break the protocol. A handler that calls ``sys.exit`` or crashes the
interpreter ends the worker, which the pool reports as the invocation's error, as Lambda does.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import traceback
from typing import IO, Any

from local.context import LambdaContext


def _error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "errorType": error_type or type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(exc)[-3:],
    }


def _send(out: IO[bytes], message: dict[str, Any]) -> None:
    out.write(json.dumps(message).encode() + b"\n")
    out.flush()


def main(handler_path: str) -> None:
    # The protocol keeps the original stdin and stdout; the handler gets stderr and no stdin.
    requests = os.fdopen(os.dup(0), "rb")
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(2, 1)
    # Ctrl-C reaches the terminal's whole process group: the local run stops its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        module_name, _, attribute = handler_path.rpartition(".")
        handler = getattr(importlib.import_module(module_name), attribute)
    except Exception as exc:
        _send(out, {"ready": False, **_error(exc, "Runtime.ImportModuleError")})
        return
    _send(out, {"ready": True})
    for line in requests:
        request = json.loads(line)
        context = LambdaContext(**request["context"])
        try:
            result = handler(request["event"], context)
        except Exception as exc:
            _send(out, _error(exc))
            continue
        try:
            payload = json.dumps({"result": result})
        except (TypeError, ValueError) as exc:
            _send(out, _error(exc, "Runtime.MarshalError"))
            continue
        out.write(payload.encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    main(sys.argv[1])
