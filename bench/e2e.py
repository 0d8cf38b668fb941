"""End to end on the local pipeline (``local/``): upload a file through the HTTP API and the
presigned POST, then poll ``/status`` until the job is final.

``python -m bench.e2e FILE`` synthesizes the dev stack, starts the local pipeline on a free port,
and prints one JSON line: seconds from the ``POST /upload`` call to the final status, split into
phases (create the job, presigned POST upload, processing until final). By default the local
pipeline runs moto in its own interpreter, threaded (``--backend in-process``: moto shares the
GIL with the handlers); ``--backend process`` starts a moto server in a separate process on a
free loopback port and points the local pipeline at it (``--endpoint-url``), as a real
S3/DynamoDB endpoint would be; ``--endpoint-url URL`` uses one already running.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

from bench.backends import moto_server
from runtime.contract import FINAL_STATUSES

__all__ = ["BACKENDS", "check_counts", "main", "run"]

ROOT = Path(__file__).resolve().parent.parent
# name -> what the table calls it
BACKENDS = {
    "in-process": "moto in-process (threaded, shares the GIL)",
    "process": "moto server in its own process",
}


def available() -> bool:
    return (ROOT / "local" / "pipeline.py").exists() and (ROOT / "app.py").exists()


def run(
    path: Path,
    rows: int,
    good: int | None = None,
    *,
    backend: str = "in-process",
    timeout: float = 900.0,
) -> dict[str, Any]:
    """Run the measurement in a fresh interpreter (the local pipeline sets process-wide state).

    ``backend="process"`` starts a moto server here, in its own process, for the run's length.
    ``good`` (the generator's count of good rows) turns on the check of the final counts.
    """
    if not available():
        return {"status": "pending (no local pipeline)", "backend": backend}
    args = [sys.executable, "-m", "bench.e2e", str(path), "--timeout", str(timeout)]
    if good is not None:
        args += ["--expect-rows", str(rows), "--expect-good", str(good)]
    with _backend(backend) as endpoint:
        if endpoint is not None:
            args += ["--endpoint-url", endpoint]
        try:
            done = subprocess.run(
                args,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=timeout + 120,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return {"status": "error: timed out", "backend": backend}
    lines = [line for line in done.stdout.splitlines() if line.startswith('{"seconds"')]
    if done.returncode or not lines:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1][:160]
        return {"status": f"error: {tail}", "backend": backend}
    result: dict[str, Any] = json.loads(lines[-1])
    result["data_rows"] = rows
    result["backend"] = backend
    return result


@contextlib.contextmanager
def _backend(name: str) -> Iterator[str | None]:
    if name == "in-process":
        yield None
    elif name == "process":
        with moto_server() as url:
            yield url
    else:
        raise ValueError(f"unknown backend {name!r}; one of {sorted(BACKENDS)}")


def check_counts(rows: dict[str, Any] | None, expect_rows: int, expect_good: int) -> str:
    """``"ok"`` when /status accounts for every row as the generator expects, else what differs."""
    rows = rows or {}
    total = int(rows.get("total", -1))
    parts = (int(rows.get(k, 0)) for k in ("accepted", "rejected", "duplicates"))
    accepted, rejected, duplicates = parts
    problems = []
    if total != accepted + rejected + duplicates:
        problems.append(f"total {total} != accepted+rejected+duplicates")
    if total != expect_rows:
        problems.append(f"total {total} != {expect_rows} rows in the file")
    if accepted != expect_good:
        problems.append(f"accepted {accepted} != {expect_good} good rows")
    if rejected != expect_rows - expect_good:
        problems.append(f"rejected {rejected} != {expect_rows - expect_good} bad rows")
    if duplicates:
        problems.append(f"{duplicates} duplicates in a file that has none")
    return "ok" if not problems else "; ".join(problems)


def _measure(path: Path, url: str, timeout: float) -> dict[str, Any]:
    session = requests.Session()
    content = path.read_bytes()
    started = time.perf_counter()
    created = session.post(
        f"{url}/upload", json={"fileName": path.name, "fileType": "csv"}, timeout=30
    )
    created.raise_for_status()
    body = created.json()
    job_created = time.perf_counter()
    form = requests.post(
        body["upload"]["url"],
        data=body["upload"]["fields"],
        files={"file": (path.name, content, "text/csv")},
        timeout=300,
    )
    form.raise_for_status()
    uploaded = time.perf_counter()
    deadline = started + timeout
    first_seen: dict[str, float] = {}
    while True:
        job: dict[str, Any] = session.get(f"{url}/status/{body['jobId']}", timeout=30).json()
        now = time.perf_counter()
        first_seen.setdefault(str(job.get("status")), round(now - uploaded, 2))
        if job.get("status") in FINAL_STATUSES or now > deadline:
            break
        time.sleep(0.05)
    finished = time.perf_counter()
    return {
        "seconds": round(finished - started, 2),
        "create_seconds": round(job_created - started, 2),
        "upload_seconds": round(uploaded - job_created, 2),
        "processing_seconds": round(finished - uploaded, 2),
        # seconds after the upload at which /status first showed each state
        "states": first_seen,
        "status": job.get("status"),
        "rows": job.get("rows"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__)
    parser.add_argument("file", type=Path)
    parser.add_argument("--timeout", type=float, default=600.0)
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--backend", choices=sorted(BACKENDS), default="in-process", help="where moto runs"
    )
    where.add_argument("--endpoint-url", help="an S3/DynamoDB/SQS endpoint already running")
    parser.add_argument("--expect-rows", type=int, help="rows in the file (checks /status)")
    parser.add_argument("--expect-good", type=int, help="good rows in the file")
    args = parser.parse_args(argv)
    from local.pipeline import LocalPipeline  # noqa: PLC0415 - the local pipeline is optional here

    logging.basicConfig(level=logging.WARNING)
    # The API front logs every /status poll through werkzeug otherwise.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with contextlib.ExitStack() as resources:
        endpoint = args.endpoint_url or resources.enter_context(_backend(args.backend))
        pipeline = LocalPipeline.from_synthesized("dev", port=0, endpoint_url=endpoint)
        pipeline.start()
        resources.callback(pipeline.stop)
        assert pipeline.lambdas is not None
        broken = pipeline.lambdas.preload()
        if broken:
            # Their invocations would fail and the job would never become final.
            raise SystemExit(f"cannot import {', '.join(broken)}")
        result = _measure(args.file, pipeline.url, args.timeout)
    if args.expect_rows is not None and args.expect_good is not None:
        result["counts"] = check_counts(result.get("rows"), args.expect_rows, args.expect_good)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
