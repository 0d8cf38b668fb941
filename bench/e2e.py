"""End to end on the local stack (``local/``): upload a file through the HTTP API and the presigned
POST, then poll ``/status`` until the job is final.

``python -m bench.e2e FILE`` synthesizes the dev stack, starts the local stack on a free port,
and prints one JSON line: seconds from the ``POST /upload`` call to the final status, of which
the transfer of the file took ``upload_seconds``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

__all__ = ["main", "run"]

ROOT = Path(__file__).resolve().parent.parent
FINAL = {"COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED", "EXPIRED"}


def available() -> bool:
    return (ROOT / "local" / "stack.py").exists() and (ROOT / "app.py").exists()


def run(path: Path, rows: int, timeout: float = 900.0) -> dict[str, Any]:
    """Run the measurement in a fresh interpreter (the local stack sets process-wide state)."""
    if not available():
        return {"status": "pending (no local stack)"}
    done = subprocess.run(
        [sys.executable, "-m", "bench.e2e", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1][:160]
        return {"status": f"error: {tail}"}
    result: dict[str, Any] = json.loads(lines[-1])
    result["data_rows"] = rows
    return result


def _measure(path: Path, url: str, timeout: float) -> dict[str, Any]:
    session = requests.Session()
    content = path.read_bytes()
    started = time.perf_counter()
    created = session.post(
        f"{url}/upload", json={"fileName": path.name, "fileType": "csv"}, timeout=30
    )
    created.raise_for_status()
    body = created.json()
    form = requests.post(
        body["upload"]["url"],
        data=body["upload"]["fields"],
        files={"file": (path.name, content, "text/csv")},
        timeout=300,
    )
    form.raise_for_status()
    uploaded = time.perf_counter()
    deadline = started + timeout
    while True:
        job: dict[str, Any] = session.get(f"{url}/status/{body['jobId']}", timeout=30).json()
        if job.get("status") in FINAL or time.perf_counter() > deadline:
            break
        time.sleep(0.05)
    finished = time.perf_counter()
    return {
        "seconds": round(finished - started, 2),
        "upload_seconds": round(uploaded - started, 2),
        "status": job.get("status"),
        "rows": job.get("rows"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__)
    parser.add_argument("file", type=Path)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    from local.stack import LocalStack  # noqa: PLC0415 - the local stack is optional here
    from local.synth import synthesize  # noqa: PLC0415

    synthesized = synthesize("dev")
    stack = LocalStack(
        synthesized.template,
        stack_name=synthesized.stack_name,
        region=synthesized.region,
        port=0,
    )
    stack.start()
    try:
        result = _measure(args.file, stack.url, args.timeout)
    finally:
        stack.stop()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
