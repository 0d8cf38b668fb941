"""The state machine's steps as callables over settings and clients: what the handlers
run, and what a test or a benchmark drives directly (no Lambda needed)."""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any, Final

from runtime.dal import objects
from runtime.dal.jobs import JobStore
from runtime.logic.events import JobEvents
from runtime.logic.split.finish import SplitFinisher, parse_time
from runtime.logic.split.part import PartError, parse_part
from runtime.logic.split.partition import PartitionError, write_partition
from runtime.logic.split.plan import PartSpec

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client

    from runtime.settings import Settings

EXECUTION_EVENT_SOURCE: Final = "aws.states"
EXECUTION_STATUS_CHANGE: Final = "Step Functions Execution Status Change"


def _store(settings: Settings, s3: S3Client, bucket: str, what: str) -> objects.ObjectStore:
    if bucket != settings.bucket:
        raise PartError(f"{what}: bucket {bucket!r} is not the pipeline's")
    return objects.ObjectStore(s3, bucket)


def run_part(
    event: dict[str, Any], settings: Settings, s3: S3Client, dynamodb: DynamoDBClient
) -> dict[str, Any]:
    """Map 1 item: `{"jobId", "bucket", "key", "etag", "part"}`."""
    item = event["part"]
    store = _store(settings, s3, event["bucket"], f"part {item['index']}")
    return parse_part(
        store,
        JobStore(dynamodb, settings.jobs_table),
        job_id=event["jobId"],
        key=event["key"],
        etag=event["etag"],
        attempt=int(item["attempt"]),
        part=PartSpec.from_json(item),
    )


def run_partition(
    event: dict[str, Any], settings: Settings, s3: S3Client, dynamodb: DynamoDBClient
) -> dict[str, Any]:
    """Map 2 item: `{"jobId", "bucket", "partition"}`."""
    item = event["partition"]
    index = int(item["index"])
    try:
        store = _store(settings, s3, event["bucket"], f"partition {index}")
    except PartError as exc:
        raise PartitionError(str(exc)) from exc
    return write_partition(
        store,
        JobStore(dynamodb, settings.jobs_table),
        dynamodb,
        results_table=settings.results_table,
        write_concurrency=settings.write_concurrency,
        job_id=event["jobId"],
        index=index,
        etag=str(item["etag"]),
        attempt=int(item["attempt"]),
    )


def _finisher(
    settings: Settings,
    s3: S3Client,
    dynamodb: DynamoDBClient,
    events: EventBridgeClient,
    *,
    bucket: str,
    what: str,
) -> SplitFinisher:
    store = _store(settings, s3, bucket, what)
    jobs = JobStore(dynamodb, settings.jobs_table)
    return SplitFinisher(s3, store, jobs, JobEvents(events, settings.event_bus_arn, jobs))


def run_finish(
    event: dict[str, Any],
    settings: Settings,
    s3: S3Client,
    dynamodb: DynamoDBClient,
    events: EventBridgeClient,
) -> dict[str, Any]:
    """`{"jobId", "bucket", "key", "etag", "attempt", "outcome", "failure"?, "stage"?}`
    (`stage`: the state whose catch led to FailJob); the job's event goes to `events` (R27)."""
    finisher = _finisher(settings, s3, dynamodb, events, bucket=event["bucket"], what="finish")
    stage = event.get("stage")
    return finisher.finish(
        job_id=event["jobId"],
        key=event["key"],
        etag=event["etag"],
        attempt=int(event["attempt"]),
        outcome=str(event.get("outcome", "")),
        failure=event.get("failure"),
        stage=str(stage) if isinstance(stage, str) else None,
    )


def run_check_keys(
    event: dict[str, Any],
    settings: Settings,
    s3: S3Client,
    dynamodb: DynamoDBClient,
    events: EventBridgeClient,
) -> dict[str, Any]:
    """`{"jobId", "bucket", "key", "etag", "attempt", "step": "CheckKeys", "startedAt"
    ($$.Execution.StartTime), "timeoutSeconds"}`: `{"write": bool, ...}`."""
    finisher = _finisher(settings, s3, dynamodb, events, bucket=event["bucket"], what="check")
    return finisher.check_keys(
        job_id=event["jobId"],
        key=event["key"],
        etag=event["etag"],
        attempt=int(event["attempt"]),
        started_at=parse_time(str(event["startedAt"])),
        timeout_seconds=float(event["timeoutSeconds"]),
    )


def run_execution_ended(
    event: dict[str, Any],
    settings: Settings,
    s3: S3Client,
    dynamodb: DynamoDBClient,
    events: EventBridgeClient,
) -> dict[str, Any]:
    """EventBridge's "Step Functions Execution Status Change" of the split state machine
    (source `aws.states`): fails the job of an execution that timed out, was aborted or
    failed, unless the execution finished it."""
    detail = event.get("detail") or {}
    bucket = settings.bucket
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        bucket = str(json.loads(detail.get("input") or "{}").get("bucket") or bucket)
    finisher = _finisher(settings, s3, dynamodb, events, bucket=bucket, what="execution")
    return finisher.execution_ended(detail)


def is_execution_status_change(event: dict[str, Any]) -> bool:
    return event.get("source") == EXECUTION_EVENT_SOURCE and (
        event.get("detail-type") == EXECUTION_STATUS_CHANGE
    )
