"""Time one upload end to end: ``python -m local.timing --rows 10000 [--api URL]``.

Without ``--api`` it starts the local pipeline in-process first and reports how long that took.
Phases: create job (POST /upload), presigned POST of the file, processing until the job is
final, and reading every row back through paginated /results.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.generate import make_rows, render_csv
from fpipe.client import Client
from local.pipeline import LocalPipeline
from local.synth import synthesize_cached


def run(api_url: str, rows: int, symbol: str) -> dict[str, float]:
    client = Client(api_url)
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "timing.csv"
        file.write_bytes(render_csv(make_rows(symbol, rows)))
        start = time.perf_counter()
        created = client.create_upload(file.name, file.stat().st_size)
        timings["create job"] = time.perf_counter() - start
        mark = time.perf_counter()
        client.send_file(created["upload"], file)
        timings["presigned POST"] = time.perf_counter() - mark
        mark = time.perf_counter()
        while True:
            job = client.status(created["jobId"])
            if job["status"] not in ("PENDING_UPLOAD", "PROCESSING"):
                break
            time.sleep(0.1)
        timings["processing"] = time.perf_counter() - mark
        timings["upload to final status"] = time.perf_counter() - start
        if job["status"] != "COMPLETED" or job["rows"]["accepted"] != rows:
            raise SystemExit(f"unexpected job: {job}")
        mark = time.perf_counter()
        count = sum(len(p["items"]) for p in client.all_results(symbol, limit=1000))
        timings["read back (limit 1000)"] = time.perf_counter() - mark
        if count != rows:
            raise SystemExit(f"read back {count} rows, expected {rows}")
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.timing", description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--api", help="a running API (default: start the local pipeline here)")
    parser.add_argument("--symbol", default=f"TIME{int(time.time()) % 100000}")
    args = parser.parse_args(argv)
    pipeline = None
    if args.api is None:
        started = time.perf_counter()
        synthesize_cached("dev")
        synth_seconds = time.perf_counter() - started
        # The template is cached now: this only reads it back.
        pipeline = LocalPipeline.from_synthesized("dev", port=0).start()
        print(
            f"local pipeline served in {time.perf_counter() - started:.2f}s "
            f"(synth {synth_seconds:.2f}s)"
        )
    try:
        api_url = args.api if pipeline is None else pipeline.url
        timings = run(api_url, args.rows, args.symbol)
    finally:
        if pipeline is not None:
            pipeline.stop()
    for name, seconds in timings.items():
        print(f"{name:<24} {seconds:8.2f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
