"""A test-only Lambda handler for the worker-process tests: it echoes its process and module
state, sleeps past a timeout, raises, or ends its process, as the event asks."""

from __future__ import annotations

import os
import sys
import tempfile
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
    elif action == "write_tmp":
        # Through TMPDIR, as tempfile and the code's spill files are
        with tempfile.NamedTemporaryFile(delete=True) as spill:
            block = b"x" * (1 << 20)
            for _ in range(int(event["mb"])):
                spill.write(block)
            spill.flush()
            os.fsync(spill.fileno())
        return {"wrote_mb": int(event["mb"]), "dir": tempfile.gettempdir()}
    elif action == "allocate":
        held = bytearray(int(event["mb"]) << 20)
        for i in range(0, len(held), 4096):  # touched, so it is resident
            held[i] = 1
        time.sleep(0.3)
        return {"held_mb": len(held) >> 20}
    elif action == "reply":
        return {"data": "x" * int(event["bytes"])}
    return {
        "pid": os.getpid(),
        "calls": STATE["calls"],
        "marker": os.environ.get("WORKLOAD_MARKER"),
        "remainingMs": context.get_remaining_time_in_millis(),
    }
