"""Backends the benchmark runs against, each in its own process.

moto runs in server mode; the latency sink and the delaying proxy (``bench.sink``) run in front
of it. Separate processes keep the backends' CPU out of the measured process (the client), as a
real DynamoDB endpoint would be.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from local.children import ChildServer, free_port

__all__ = ["Backend", "backend", "free_port", "moto_server"]

REGION = "us-east-1"
JOBS_TABLE = "bench-jobs"
RESULTS_TABLE = "bench-results"
BUCKET = "bench-uploads"


@contextlib.contextmanager
def _server(name: str, args: list[str], port: int) -> Iterator[str]:
    """A child server on ``port`` (the local run's `ChildServer`), quiet, stopped on exit."""
    server = ChildServer(name, args, port=port, stderr=subprocess.DEVNULL)
    try:
        yield server.wait().url
    finally:
        server.stop()


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    port = free_port()
    with _server(
        "moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], port
    ) as url:
        yield url


@contextlib.contextmanager
def front(*, delay_ms: float, upstream: str, sink_tables: list[str] | None) -> Iterator[str]:
    """``sink_tables=[]``: a delaying proxy; a list of names: sink those tables' writes."""
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "bench.sink",
        "--port",
        str(port),
        "--delay-ms",
        str(delay_ms),
        "--upstream",
        upstream,
    ]
    if sink_tables:
        for table in sink_tables:
            args += ["--sink-table", table]
    else:
        args.append("--proxy")
    with _server("bench front", args, port) as url:
        yield url


@dataclass(frozen=True)
class Backend:
    """Where one measurement sends its S3 and DynamoDB calls."""

    name: str  # "moto" or "sink"
    delay_ms: float
    s3: str
    dynamodb: str

    @property
    def label(self) -> str:
        return f"{self.name} {self.delay_ms:g} ms"


@contextlib.contextmanager
def backend(name: str, delay_ms: float, moto_url: str) -> Iterator[Backend]:
    """S3 always goes straight to moto; DynamoDB goes through the delaying front."""
    sink_tables = [RESULTS_TABLE] if name == "sink" else []
    with front(delay_ms=delay_ms, upstream=moto_url, sink_tables=sink_tables) as url:
        yield Backend(name, delay_ms, moto_url, url)


def client_env(s3: str, dynamodb: str) -> dict[str, str]:
    """Environment for a process whose boto3 clients must reach these endpoints."""
    env = dict(os.environ)
    env.update(
        AWS_ENDPOINT_URL_S3=s3,
        AWS_ENDPOINT_URL_DYNAMODB=dynamodb,
        # The job events (R27) go to moto's EventBridge, which S3's endpoint always is.
        AWS_ENDPOINT_URL_EVENTBRIDGE=s3,
        AWS_ACCESS_KEY_ID=env.get("AWS_ACCESS_KEY_ID", "bench"),
        AWS_SECRET_ACCESS_KEY=env.get("AWS_SECRET_ACCESS_KEY", "bench"),
        AWS_DEFAULT_REGION=env.get("AWS_DEFAULT_REGION", REGION),
        AWS_REGION=env.get("AWS_REGION", REGION),
    )
    return env
