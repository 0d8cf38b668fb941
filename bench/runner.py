"""Run one implementation over one CSV file against given endpoints, in this process.

``python -m bench.runner processor FILE --s3 URL --ddb URL [--events URL]`` uploads FILE to the
bucket (creating the bucket and both tables if they are missing), creates the job the processor
expects, invokes the processor's handler with the S3 event, and prints one JSON line with the
measurements, then ``rows/s: N`` as the last line. The job's event (R27) goes to the EventBridge
endpoint ``--events`` (or ``AWS_ENDPOINT_URL_EVENTBRIDGE``) names; without one it is answered
in-process, as EventBridge answers a published event, and never sent anywhere (AWS included).
A processor run counts only when the job reached a final status with every row of the file
accounted for (accepted + rejected + duplicates = the job's total) and its one event published;
otherwise it prints why on stderr, no speed, and exits with status 1. ``baseline`` and
``ceiling`` run the comparison implementations over the same object. ``--null-sink`` answers
results-table writes inside this process, before any byte is sent, so that the CPU time left is
parse, validate and encode.

The harness runs each measurement in a fresh interpreter, so ``ru_maxrss`` is this run's peak.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import boto3
import botocore.endpoint
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.config import Config
from botocore.exceptions import ClientError
from pyinstrument import Profiler

from bench import baseline, ceiling
from bench.backends import BUCKET, JOBS_TABLE, REGION, RESULTS_TABLE
from local.context import LambdaContext

__all__ = ["IncompleteRunError", "Measurement", "check_complete", "main", "prepare"]


def write_concurrency() -> int:
    """The processor's BatchWriteItem calls in flight: WRITE_CONCURRENCY or its default."""
    from runtime.settings import Settings  # noqa: PLC0415 - the runtime may be absent

    return Settings().write_concurrency


@dataclass
class Measurement:
    impl: str
    file: str
    rows: int
    seconds: float
    cpu_seconds: float
    max_rss_mb: float
    status: str = ""
    detail: dict[str, Any] | None = None

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def _clients() -> tuple[Any, Any]:
    config = Config(region_name=os.environ.get("AWS_REGION", REGION), retries={"mode": "standard"})
    return boto3.client("s3", config=config), boto3.client("dynamodb", config=config)


def ensure_resources(bucket: str, jobs_table: str, results_table: str) -> None:
    """Create the bucket and both tables per docs/ARCHITECTURE.md, if they are missing."""
    s3, dynamodb = _clients()
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError as error:
        if error.response["Error"]["Code"] not in {
            "BucketAlreadyOwnedByYou",
            "BucketAlreadyExists",
        }:
            raise
    tables: dict[str, dict[str, Any]] = {
        jobs_table: {
            "KeySchema": [{"AttributeName": "jobId", "KeyType": "HASH"}],
            "AttributeDefinitions": [
                {"AttributeName": "jobId", "AttributeType": "S"},
                {"AttributeName": "status", "AttributeType": "S"},
                {"AttributeName": "updatedAt", "AttributeType": "S"},
            ],
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "ByStatus",
                    "KeySchema": [
                        {"AttributeName": "status", "KeyType": "HASH"},
                        {"AttributeName": "updatedAt", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},  # as the construct has it
                }
            ],
        },
        results_table: {
            "KeySchema": [
                {"AttributeName": "symbol", "KeyType": "HASH"},
                {"AttributeName": "timestamp", "KeyType": "RANGE"},
            ],
            "AttributeDefinitions": [
                {"AttributeName": "symbol", "AttributeType": "S"},
                {"AttributeName": "timestamp", "AttributeType": "S"},
            ],
        },
    }
    for name, shape in tables.items():
        try:
            dynamodb.describe_table(TableName=name)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **shape)


def prepare(path: Path, bucket: str, jobs_table: str | None) -> tuple[str, str, str]:
    """Upload the file as a new job's object; with a jobs table, create the job first as the
    upload handler does (``runtime.dal.jobs.JobStore.create``)."""
    s3, dynamodb = _clients()
    job_id = str(uuid.uuid4())
    from runtime.dal.objects import upload_key  # noqa: PLC0415 - the runtime may be absent

    key = upload_key(job_id)
    if jobs_table is not None:
        from runtime.dal.jobs import JobStore  # noqa: PLC0415 - only the processor needs it

        now = datetime.now(UTC)
        ttl = int((now + timedelta(days=7)).timestamp())
        JobStore(dynamodb, jobs_table).create(
            job_id, path.name, now, now + timedelta(minutes=15), ttl
        )
    s3.upload_file(str(path), bucket, key)
    etag = s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
    return job_id, key, etag


def s3_event(bucket: str, key: str, size: int, etag: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z",
                "eventName": "ObjectCreated:Post",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": key, "size": size, "eTag": etag, "sequencer": "0"},
                },
            }
        ]
    }


def install_null_sink(results_table: str) -> None:
    """Answer BatchWriteItem calls on the results table in-process, before anything is sent."""
    original = botocore.endpoint.Endpoint._send  # type: ignore[attr-defined]
    answer = b'{"UnprocessedItems": {}}'
    marker = json.dumps(results_table).encode()

    class _Raw:
        def stream(self, **_: Any) -> Any:
            yield answer

    def _send(self: Any, request: Any) -> Any:
        target = request.headers.get("X-Amz-Target", b"")
        if isinstance(target, str):
            target = target.encode()
        body = request.body if isinstance(request.body, bytes) else b""
        if target.endswith(b".BatchWriteItem") and marker in body[:200]:
            headers = HTTPHeaders()
            headers["Content-Type"] = "application/x-amz-json-1.0"
            headers["x-amzn-RequestId"] = "null"
            return AWSResponse(request.url, 200, headers, _Raw())
        return original(self, request)

    botocore.endpoint.Endpoint._send = _send  # type: ignore[attr-defined]


class JobEventCounter:
    """Counts the job events the processor publishes; with no EventBridge endpoint, answers
    them in-process (a ``before-call`` hook: nothing is signed or sent).

    Registered on boto3's default session, which the runtime's clients come from, before any
    of them is created.
    """

    def __init__(self, endpoint: str | None) -> None:
        self.endpoint = endpoint
        self.published = 0
        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        session = boto3.DEFAULT_SESSION
        assert session is not None
        self._events = session.events
        # A before-call handler that returns (http response, parsed) answers the call instead
        # of sending it: botocore's documented short-circuit (its stubs type handlers as None).
        self._answer_hook = cast("Callable[..., None]", self._answer)
        if endpoint is None:
            self._events.register("before-call.eventbridge.PutEvents", self._answer_hook)
        self._events.register("after-call.eventbridge.PutEvents", self._count)

    def close(self) -> None:
        """Unregister the hooks (the runner's process may go on, as under pytest)."""
        self._events.unregister("before-call.eventbridge.PutEvents", self._answer_hook)
        self._events.unregister("after-call.eventbridge.PutEvents", self._count)

    @staticmethod
    def _answer(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        entries = json.loads(params["body"]).get("Entries", []) if params.get("body") else []
        parsed = {
            "FailedEntryCount": 0,
            "Entries": [{"EventId": str(uuid.uuid4())} for _ in entries],
            "ResponseMetadata": {"HTTPStatusCode": 200},
        }
        return AWSResponse("bench://job-events", 200, HTTPHeaders(), None), parsed

    def _count(self, parsed: dict[str, Any], **_: Any) -> None:
        entries = parsed.get("Entries", [])
        self.published += len(entries) - int(parsed.get("FailedEntryCount", 0))

    def summary(self) -> dict[str, Any]:
        return {"published": self.published, "endpoint": self.endpoint}


def processor_env(bucket: str, jobs_table: str, results_table: str) -> None:
    """The processor's environment per docs/ARCHITECTURE.md (what is already set wins)."""
    defaults = {
        "BUCKET_NAME": bucket,
        "JOBS_TABLE_NAME": jobs_table,
        "RESULTS_TABLE_NAME": results_table,
        "MAX_UPLOAD_BYTES": str(2 * 1024**3),
        "UPLOAD_URL_TTL_SECONDS": "900",
        "REPORT_URL_TTL_SECONDS": "300",
        "JOB_TTL_DAYS": "7",
        "WRITE_CONCURRENCY": "8",
        "PROCESSOR_FUNCTION_NAME": "bench-processor",
        "PROCESSOR_TIMEOUT_SECONDS": "900",
        "PROCESSOR_MAX_RETRIES": "2",
        # This runner measures the single pass: files of any size stay on it.
        "SPLIT_THRESHOLD_BYTES": str(5 * 1024**3),
        "PART_BYTES": str(8 * 1024**2),
        "STATE_MACHINE_ARN": "arn:aws:states:eu-west-1:000000000000:stateMachine:bench-unused",
        "EVENT_BUS_ARN": "default",
        "POWERTOOLS_SERVICE_NAME": "bench",
        "POWERTOOLS_METRICS_NAMESPACE": "Bench",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "ENVIRONMENT": "bench",
        "AWS_XRAY_SDK_ENABLED": "false",
        "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
    }
    for name, value in defaults.items():
        os.environ.setdefault(name, value)


def _run_processor(
    path: Path, args: argparse.Namespace, job_events: JobEventCounter | None = None
) -> Measurement:
    job_id, key, etag = prepare(path, args.bucket, args.jobs_table)
    event = s3_event(args.bucket, key, path.stat().st_size, etag)
    # Imported once the environment is set: the runtime reads it at import time.
    import runtime.handlers.processor as processor  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415

    handler: Callable[[dict[str, Any], Any], Any] = processor.handler
    context = LambdaContext(
        function_name="bench-processor",
        timeout_seconds=float(os.environ["PROCESSOR_TIMEOUT_SECONDS"]),
        region=REGION,
        log_stream_name="bench",
    )
    measured = _timed(lambda: handler(event, context), args.profile)
    _, dynamodb = _clients()
    job = dynamodb.get_item(TableName=args.jobs_table, Key={"jobId": {"S": job_id}}).get("Item", {})
    rows = job.get("rows", {}).get("M", {})
    counts = {name: int(value["N"]) for name, value in rows.items()}
    status = job.get("status", {}).get("S", "?")
    total = counts.get("total", 0)
    detail: dict[str, Any] = {
        "jobId": job_id,
        "rows": counts,
        "errors": job.get("errors", {}).get("L", [])[:3],
    }
    if job_events is not None:
        detail["jobEvents"] = job_events.summary()
    return Measurement("processor", str(path), total, *measured, status=status, detail=detail)


class IncompleteRunError(RuntimeError):
    """The processor did not finish the job with every row accounted for: no speed to report."""


def check_complete(result: Measurement) -> None:
    """Raise unless the job is final and accepted + rejected + duplicates = its total rows.

    A run in which the processor found no job, stored nothing or stopped early is not a
    measurement of the processor's speed, whatever its wall time.
    """
    from runtime.contract import FINAL_STATUSES  # noqa: PLC0415 - the runtime may be absent

    rows = (result.detail or {}).get("rows", {})
    accounted = sum(rows.get(name, 0) for name in ("accepted", "rejected", "duplicates"))
    if result.status not in FINAL_STATUSES:
        raise IncompleteRunError(
            f"job status {result.status!r} is not final; detail: {result.detail}"
        )
    if not rows or accounted != rows.get("total"):
        raise IncompleteRunError(
            f"{accounted} rows accounted for, the job's total is {rows.get('total')}; "
            f"detail: {result.detail}"
        )
    job_events = (result.detail or {}).get("jobEvents")
    if job_events is not None and job_events.get("published") != 1:
        raise IncompleteRunError(
            f"{job_events.get('published')} job events published, not the job's one; "
            f"detail: {result.detail}"
        )


def _timed(work: Callable[[], Any], profile: Path | None) -> tuple[float, float, float]:
    profiler = None
    if profile is not None:
        profiler = Profiler(interval=0.001, async_mode="disabled")
        profiler.start()
    cpu0 = time.process_time()
    start = time.perf_counter()
    work()
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    if profiler is not None and profile is not None:
        profiler.stop()
        profile.parent.mkdir(parents=True, exist_ok=True)
        profile.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
        profile.with_suffix(".html").write_text(profiler.output_html())
    max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return seconds, cpu, max_rss_mb


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.runner", description=__doc__)
    parser.add_argument("impl", choices=["processor", "baseline", "ceiling"])
    parser.add_argument("file", type=Path)
    parser.add_argument("--s3", help="S3 endpoint URL (default: AWS_ENDPOINT_URL_S3 or AWS)")
    parser.add_argument("--ddb", help="DynamoDB endpoint URL (default: AWS_ENDPOINT_URL_DYNAMODB)")
    parser.add_argument(
        "--events",
        help="EventBridge endpoint URL for the job event (default: AWS_ENDPOINT_URL_EVENTBRIDGE;"
        " without one the event is answered in-process, never sent)",
    )
    parser.add_argument("--bucket", default=os.environ.get("BUCKET_NAME", BUCKET))
    parser.add_argument("--jobs-table", default=os.environ.get("JOBS_TABLE_NAME", JOBS_TABLE))
    parser.add_argument(
        "--results-table", default=os.environ.get("RESULTS_TABLE_NAME", RESULTS_TABLE)
    )
    parser.add_argument("--no-create", action="store_true", help="do not create missing resources")
    parser.add_argument(
        "--null-sink", action="store_true", help="results writes answered in-process"
    )
    parser.add_argument("--profile", type=Path, help="write a pyinstrument profile here (.txt)")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    if args.s3:
        os.environ["AWS_ENDPOINT_URL_S3"] = args.s3
    if args.ddb:
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = args.ddb
    if args.events:
        os.environ["AWS_ENDPOINT_URL_EVENTBRIDGE"] = args.events
    for name, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench")):
        if os.environ.get("AWS_ENDPOINT_URL_DYNAMODB"):
            os.environ.setdefault(name, value)
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    os.environ.setdefault("AWS_REGION", os.environ["AWS_DEFAULT_REGION"])
    processor_env(args.bucket, args.jobs_table, args.results_table)
    if not args.no_create:
        ensure_resources(args.bucket, args.jobs_table, args.results_table)
    if args.null_sink:
        install_null_sink(args.results_table)
    concurrency = write_concurrency()
    if args.impl == "processor":
        job_events = JobEventCounter(os.environ.get("AWS_ENDPOINT_URL_EVENTBRIDGE"))
        try:
            result = _run_processor(args.file, args, job_events)
        finally:
            job_events.close()
        try:
            check_complete(result)
        except IncompleteRunError as error:
            print(f"bench.runner: not a measurement: {error}", file=sys.stderr)
            sys.exit(1)
    else:
        _, key, _ = prepare(args.file, args.bucket, None)
        detail: dict[str, Any] | None = None
        if args.impl == "baseline":
            written: list[int] = []
            measured = _timed(
                lambda: written.append(baseline.run(args.bucket, key, args.results_table)),
                args.profile,
            )
            rows = written[0]
        else:
            batches = ceiling.load(args.file, args.results_table)
            rows = sum(len(batch[args.results_table]) for batch in batches)
            bodies = [(args.results_table, ceiling.encode(batch)) for batch in batches]
            dynamodb = ceiling.client(concurrency)
            measured = _timed(lambda: ceiling.send(dynamodb, bodies, concurrency), args.profile)
            detail = {"batches": len(batches), "concurrency": concurrency}
        result = Measurement(args.impl, str(args.file), rows, *measured, detail=detail)
    line = asdict(result) | {"rows_per_second": round(result.rows_per_second, 1)}
    print(json.dumps(line))
    if not args.json:
        print(f"rows/s: {result.rows_per_second:.0f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
