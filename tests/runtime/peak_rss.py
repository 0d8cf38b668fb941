"""Peak memory of the processor on a large file (not a test; run by hand).

    .venv/bin/python tests/runtime/peak_rss.py --mb 200

Starts `moto_server` in its own process (with the template's bucket and tables, as the runtime
tests provision them), uploads a generated file of distinct keys (the duplicate index's worst
case), then runs `runtime.handlers.processor.handler` in a fresh child process and prints that
child's `ru_maxrss`. By default the child acknowledges
BatchWriteItem calls with a botocore hook instead of sending them, because moto would have to
hold millions of items (in its own process) and takes hours to accept them; the write path's
memory is bounded by the batches in flight either way. `--real-writes` sends them to moto.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

CHILD = r"""
import json, os, resource, sys, time
from types import SimpleNamespace
from local.context import LambdaContext
from runtime import clients
from runtime.handlers import processor

if os.environ.get("STUB_WRITES") == "1":
    def acknowledge(**_):
        return SimpleNamespace(status_code=200, headers={}), {"UnprocessedItems": {}}
    clients.dynamodb().meta.events.register("before-call.dynamodb.BatchWriteItem", acknowledge)

before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.monotonic()
context = LambdaContext(function_name="processor", timeout_seconds=900, aws_request_id="peak-rss")
result = processor.handler(json.loads(sys.argv[1]), context)
print(json.dumps({
    "seconds": round(time.monotonic() - started, 1),
    "rss_before_kb": before,
    "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    "result": result["results"][0],
}))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_file(path: Path, megabytes: int) -> int:
    target = megabytes * 1024 * 1024
    size = 0
    row = 0
    with path.open("wb") as out:
        out.write(b"symbol,price,volume,timestamp\n")
        while size < target:
            lines = []
            for _ in range(10_000):
                second, micro = divmod(row, 1_000_000)
                lines.append(
                    f"S{row % 500:03d},{100 + row % 997}.{row % 100:02d},{row % 5000},"
                    f"2024-01-01T{second // 3600 % 24:02d}:{second // 60 % 60:02d}:"
                    f"{second % 60:02d}.{micro:06d}Z\n"
                )
                row += 1
            chunk = "".join(lines).encode()
            out.write(chunk)
            size += len(chunk)
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--real-writes", action="store_true")
    args = parser.parse_args()

    import runtime_support as support  # the same environment and resources as the tests

    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(endpoint + "/moto-api/", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        os.environ.update(support.TEST_ENV)
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        os.environ["MAX_UPLOAD_BYTES"] = str((args.mb + 10) * 1024 * 1024)
        from runtime import clients
        from runtime.dal.jobs import JobStore, utc_now
        from runtime.dal.objects import upload_key

        clients.reset()
        support.provision(endpoint)
        job_id = str(uuid.uuid4())
        now = utc_now()
        JobStore(clients.dynamodb(), support.JOBS_TABLE).create(job_id, "big.csv", now, now, 0)
        key = upload_key(job_id)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "big.csv"
            rows = _write_file(path, args.mb)
            clients.s3().upload_file(str(path), support.BUCKET, key)
            size = path.stat().st_size
        etag = clients.s3().head_object(Bucket=support.BUCKET, Key=key)["ETag"].strip('"')
        event = support.s3_event(key, etag)
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "STUB_WRITES": "0" if args.real_writes else "1",
        }
        child = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps(event)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        report = json.loads(child.stdout.strip().splitlines()[-1])
        report.update({"file_bytes": size, "data_rows": rows})
        print(json.dumps(report, indent=2))
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
