"""One Lambda invocation of the split path (R23) in its own process, as Lambda gives each
invocation its own machine: ``python -m bench.split_worker STEP`` reads the event as JSON on
standard input, calls the step's real handler once and prints one JSON line with what it cost.

Steps: ``plan`` (the processor's handler on the S3 event: it plans the parts and starts the
execution), ``part`` (``parse_part``), ``partition`` (``write_partition``) and ``finish``
(``finish_split``). Endpoints and settings come from the environment (``bench.split`` sets them).
The handler's own time is measured, not the interpreter's start: the process imports the handler
first, as a warm Lambda container already has.
"""

from __future__ import annotations

import collections
import importlib
import json
import os
import resource
import sys
import time
from typing import Any

from local.context import LambdaContext
from runtime.contract import Handler

__all__ = ["HANDLERS", "main"]

HANDLERS = {
    "plan": Handler.PROCESSOR,
    "part": Handler.PARSE_PART,
    "partition": Handler.WRITE_PARTITION,
    "finish": Handler.FINISH_SPLIT,
}


def _count_requests(client: Any, service: str, counts: collections.Counter[str]) -> None:
    def counted(event_name: str, **_: Any) -> None:
        counts[f"{service}.{event_name.rsplit('.', 1)[-1]}"] += 1

    client.meta.events.register(f"before-call.{service}", counted)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in HANDLERS:
        print(f"usage: python -m bench.split_worker {{{','.join(HANDLERS)}}}", file=sys.stderr)
        return 2
    step = args[0]
    event = json.loads(sys.stdin.read())
    module = importlib.import_module(HANDLERS[step].module)
    from runtime import clients  # noqa: PLC0415 - after the environment is read

    counts: collections.Counter[str] = collections.Counter()
    _count_requests(clients.s3(), "s3", counts)
    _count_requests(clients.dynamodb(), "dynamodb", counts)
    context = LambdaContext(
        function_name=f"bench-{step}",
        timeout_seconds=float(os.environ.get("PROCESSOR_TIMEOUT_SECONDS", "900")),
        region=os.environ.get("AWS_REGION", "us-east-1"),
        log_stream_name="bench",
    )
    cpu0 = time.process_time()
    started = time.time()
    result = module.handler(event, context)
    ended = time.time()
    cpu = time.process_time() - cpu0
    line = {
        "step": step,
        "started": started,
        "ended": ended,
        "seconds": ended - started,
        "cpu_seconds": cpu,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "requests": dict(counts),
        "result": result,
    }
    print(json.dumps(line, default=str))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
