"""End to end on the local pipeline (``local/``), as `make run` serves it: through the HTTP API,
the presigned POST and ``/status``, against dynalite and moto behind the one local endpoint, with
the functions in their worker processes.

``python -m bench.e2e FILE`` synthesizes the dev stack (or reuses the cached template), starts the
local pipeline on a free port, and prints one JSON line with three measurements:

- ``seconds``: FILE from the ``POST /upload`` call to the final status, in phases (create the job,
  presigned POST upload, processing until final), with the counts checked against the generator;
- ``read_back``: 10k rows of one symbol read back through ``/results`` in pages of 1,000;
- ``concurrent``: 30 jobs of 2,001 rows uploaded at once, until every one is final.

``--backend process`` runs the same against a moto server in its own process given as
``--endpoint-url`` (DynamoDB on moto too: the design before dynalite), ``--endpoint-url URL``
against one already running. `startup()` times ``python -m local`` from the cached template to
its banner. A measurement prints a speed only when every row is accounted for.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

from bench.backends import moto_server
from bench.generate import make_rows, render_csv
from runtime.contract import FINAL_STATUSES

__all__ = ["BACKENDS", "check_counts", "main", "run", "startup"]

ROOT = Path(__file__).resolve().parent.parent
# name -> what the table calls it
BACKENDS = {
    "local": "make run: dynalite + moto server behind one endpoint, functions in workers",
    "process": "moto server in its own process for everything (--endpoint-url)",
}
READ_BACK_ROWS = 10_000
READ_BACK_PAGE = 1_000
CONCURRENT_JOBS = 30
CONCURRENT_ROWS = 2_001


def available() -> bool:
    return (ROOT / "local" / "pipeline.py").exists() and (ROOT / "app.py").exists()


def run(
    path: Path,
    rows: int,
    good: int | None = None,
    *,
    backend: str = "local",
    timeout: float = 900.0,
) -> dict[str, Any]:
    """Run the measurements in a fresh interpreter (as `make run` is one).

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


def startup(timeout: float = 120.0) -> dict[str, Any]:
    """Seconds from starting ``python -m local`` (template cached) to its banner, and from
    SIGTERM to its exit."""
    from local.synth import synthesize_cached  # noqa: PLC0415 - jsii only when the cache is cold

    synthesize_cached("dev")
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "local", "--port", "0", "--quiet"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert process.stdout is not None
    seen = b""
    try:
        while b"Ctrl-C" not in seen:
            remaining = started + timeout - time.perf_counter()
            if remaining <= 0 or process.poll() is not None:
                return {"status": "error: no banner"}
            if select.select([process.stdout], [], [], remaining)[0]:
                seen += os.read(process.stdout.fileno(), 65536)
        serving = time.perf_counter() - started
        stopping = time.perf_counter()
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)
        return {
            "serving_seconds": round(serving, 2),
            "stop_seconds": round(time.perf_counter() - stopping, 2),
            "status": "ok" if code == 0 else f"exit {code}",
        }
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextlib.contextmanager
def _backend(name: str) -> Iterator[str | None]:
    if name == "local":
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


def _session(url: str) -> requests.Session:
    """A client session signed as `fpipe` signs (the local credentials) when the API wants it."""
    from fpipe.client import signer_for  # noqa: PLC0415 - botocore only when measuring

    session = requests.Session()
    session.auth = signer_for(url)
    return session


def _upload(session: requests.Session, url: str, name: str, content: bytes) -> str:
    created = session.post(f"{url}/upload", json={"fileName": name, "fileType": "csv"}, timeout=30)
    created.raise_for_status()
    body = created.json()
    form = requests.post(
        body["upload"]["url"],
        data=body["upload"]["fields"],
        files={"file": (name, content, "text/csv")},
        timeout=300,
    )
    form.raise_for_status()
    return str(body["jobId"])


def _wait(
    session: requests.Session, url: str, job_id: str, deadline: float, poll: float = 0.05
) -> dict[str, Any]:
    while True:
        job: dict[str, Any] = session.get(f"{url}/status/{job_id}", timeout=30).json()
        if job.get("status") in FINAL_STATUSES or time.perf_counter() > deadline:
            return job
        time.sleep(poll)


def _measure(path: Path, url: str, timeout: float) -> dict[str, Any]:
    session = _session(url)
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


def read_back(url: str, timeout: float = 300.0) -> dict[str, Any]:
    """10k rows of one symbol stored, then read back through /results in pages of 1,000."""
    session = _session(url)
    symbol = f"RB{uuid.uuid4().hex[:8].upper()}"
    job_id = _upload(session, url, "read-back.csv", render_csv(make_rows(symbol, READ_BACK_ROWS)))
    job = _wait(session, url, job_id, time.perf_counter() + timeout)
    if job.get("status") != "COMPLETED":
        return {"status": f"error: job {job.get('status')}"}
    started = time.perf_counter()
    count = pages = 0
    token: str | None = None
    while True:
        params: dict[str, Any] = {"limit": READ_BACK_PAGE}
        if token:
            params["nextToken"] = token
        page = session.get(f"{url}/results/{symbol}", params=params, timeout=30)
        page.raise_for_status()
        answer = page.json()
        count, pages = count + len(answer["items"]), pages + 1
        token = answer.get("nextToken")
        if not token:
            break
    seconds = time.perf_counter() - started
    if count != READ_BACK_ROWS:
        return {"status": f"error: read {count} rows of {READ_BACK_ROWS}", "pages": pages}
    return {"seconds": round(seconds, 2), "rows": count, "pages": pages, "status": "ok"}


def concurrent(url: str, timeout: float = 300.0) -> dict[str, Any]:
    """30 jobs of 2,001 rows uploaded at once: seconds until the last is final, counts exact."""
    files = [
        render_csv(make_rows(f"CC{i:02d}{uuid.uuid4().hex[:6].upper()}", CONCURRENT_ROWS))
        for i in range(CONCURRENT_JOBS)
    ]
    jobs: dict[int, dict[str, Any]] = {}
    errors: list[str] = []
    started = time.perf_counter()
    deadline = started + timeout

    def one(index: int) -> None:
        session = _session(url)
        try:
            job_id = _upload(session, url, f"concurrent-{index}.csv", files[index])
            # 30 clients polling every 50 ms would be 600 requests/s of /status competing with
            # the processors for the two cores; 200 ms keeps the resolution well under 1 s.
            jobs[index] = _wait(session, url, job_id, deadline, poll=0.2)
        except Exception as exc:  # reported, not raised: the other jobs still count
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(CONCURRENT_JOBS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    expected = {"total": CONCURRENT_ROWS, "accepted": CONCURRENT_ROWS, "rejected": 0}
    wrong = [
        f"job {i}: {job.get('status')} {job.get('rows')}"
        for i, job in sorted(jobs.items())
        if job.get("status") != "COMPLETED"
        or {k: (job.get("rows") or {}).get(k) for k in expected} != expected
    ]
    if errors or wrong or len(jobs) != CONCURRENT_JOBS:
        return {"status": "error: " + "; ".join((errors + wrong)[:3])}
    return {
        "seconds": round(seconds, 2),
        "jobs": CONCURRENT_JOBS,
        "rows": CONCURRENT_JOBS * CONCURRENT_ROWS,
        "status": "ok",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__)
    parser.add_argument("file", type=Path)
    parser.add_argument("--timeout", type=float, default=600.0)
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--backend", choices=sorted(BACKENDS), default="local", help="what serves AWS"
    )
    where.add_argument("--endpoint-url", help="an S3/DynamoDB/SQS endpoint already running")
    parser.add_argument("--expect-rows", type=int, help="rows in the file (checks /status)")
    parser.add_argument("--expect-good", type=int, help="good rows in the file")
    parser.add_argument(
        "--only-file", action="store_true", help="only FILE, not the read-back and 30 jobs"
    )
    args = parser.parse_args(argv)
    from local.pipeline import LocalPipeline  # noqa: PLC0415 - the local pipeline is optional here

    logging.basicConfig(level=logging.WARNING)
    # The API front logs every /status poll through werkzeug otherwise.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with contextlib.ExitStack() as resources:
        endpoint = args.endpoint_url or resources.enter_context(_backend(args.backend))
        pipeline = LocalPipeline.from_synthesized(
            "dev",
            port=0,
            endpoint_url=endpoint,
            function_environment={"POWERTOOLS_LOG_LEVEL": "WARNING"},
        )
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
        if not args.only_file:
            result["read_back"] = read_back(pipeline.url)
            result["concurrent"] = concurrent(pipeline.url)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
