"""A test-only Lambda handler for the worker-process tests: it echoes its process and module
state, sleeps past a timeout, raises, or ends its process, as the event asks."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

# Module state that a warm worker keeps between invocations.
STATE = {"calls": 0}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    STATE["calls"] += 1
    action = event.get("action", "echo")
    if action == "sleep":
        time.sleep(float(event["seconds"]))
    elif action == "exit":
        sys.exit(3)
    elif action == "abort":
        os._exit(9)
    elif action == "raise":
        raise ValueError("boom")
    elif action == "print":
        print("a line on stdout must not break the worker protocol")
    return {
        "pid": os.getpid(),
        "calls": STATE["calls"],
        "marker": os.environ.get("WORKLOAD_MARKER"),
        "remainingMs": context.get_remaining_time_in_millis(),
    }
