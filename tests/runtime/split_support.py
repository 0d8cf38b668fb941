"""Drive the split path step by step in this process (plan, parts, partitions, finish), as the
state machine would, and compare its outcome with the single pass's."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from typing import Any

from runtime_support import NAMES

from runtime.dal import objects
from runtime.dal.jobs import JobStore, utc_now
from runtime.logic.processor import Processor
from runtime.logic.split.steps import run_finish, run_part, run_partition
from runtime.settings import Settings

STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:test-split"
# More variables for both paths' settings (a test sets them with monkeypatch.setitem).
EXTRA_ENVIRONMENT: dict[str, str] = {}


@dataclass
class Recorder:
    """Stands in for the Step Functions client: records StartExecution calls."""

    started: list[dict[str, Any]] = field(default_factory=list)

    def start_execution(self, **request: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        if any(seen["name"] == request["name"] for seen in self.started):
            raise ClientError(
                {"Error": {"Code": "ExecutionAlreadyExists", "Message": "exists"}},
                "StartExecution",
            )
        self.started.append(request)
        return {"executionArn": f"{request['stateMachineArn']}:{request['name']}"}


def settings_for(*, split: bool, part_bytes: int = 4096, max_keys: int | None = None) -> Settings:
    environ = dict(os.environ)
    environ["SPLIT_THRESHOLD_BYTES"] = "1" if split else str(1 << 40)
    environ["PART_BYTES"] = str(part_bytes)
    environ["STATE_MACHINE_ARN"] = STATE_MACHINE_ARN
    if max_keys is not None:
        environ["DEDUP_INDEX_MAX_KEYS"] = str(max_keys)
    return Settings({**environ, **EXTRA_ENVIRONMENT})


def new_job(s3: Any, dynamodb: Any, data: bytes, **declared: Any) -> tuple[str, objects.ObjectRef]:
    """A PENDING_UPLOAD job with its file uploaded; `declared` are `JobStore.create`'s
    `expected_sha256` / `expected_rows` (R28)."""
    job_id = str(uuid.uuid4())
    now = utc_now()
    JobStore(dynamodb, NAMES.jobs_table).create(job_id, "t.csv", now, now, 0, **declared)
    key = objects.upload_key(job_id)
    etag = s3.put_object(Bucket=NAMES.bucket, Key=key, Body=data)["ETag"].strip('"')
    return job_id, objects.ObjectRef(NAMES.bucket, key, etag)


def execution_input(recorder: Recorder, job_id: str) -> dict[str, Any]:
    import json

    return next(json.loads(s["input"]) for s in recorder.started if s["name"] == job_id)


def run_parts(
    settings: Settings, s3: Any, dynamodb: Any, job_input: dict[str, Any], order: list[int]
) -> None:
    store = objects.ObjectStore(s3, NAMES.bucket)
    items = store.get_json(job_input["partsKey"])
    for index in order:
        event = {key: job_input[key] for key in ("jobId", "bucket", "key", "etag")}
        run_part({**event, "part": items[index]}, settings, s3, dynamodb)


def run_partitions(settings: Settings, s3: Any, dynamodb: Any, job_input: dict[str, Any]) -> None:
    store = objects.ObjectStore(s3, NAMES.bucket)
    for item in store.get_json(job_input["partitionsKey"]):
        event = {"jobId": job_input["jobId"], "bucket": job_input["bucket"], "partition": item}
        run_partition(event, settings, s3, dynamodb)


def finish(
    settings: Settings, s3: Any, dynamodb: Any, job_input: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    from runtime import clients

    event = {k: job_input[k] for k in ("jobId", "bucket", "key", "etag", "attempt")}
    return run_finish(
        {**event, "outcome": "SUCCEEDED", **extra}, settings, s3, dynamodb, clients.events()
    )


def processor(settings: Settings, s3: Any, dynamodb: Any, recorder: Recorder | None = None) -> Any:
    """The processor as its handler builds it, with `recorder` for Step Functions."""
    from runtime import clients

    return Processor(settings, s3, dynamodb, None, recorder, events=clients.events())  # type: ignore[arg-type]


def run_split(
    s3: Any,
    dynamodb: Any,
    data: bytes,
    *,
    part_bytes: int,
    max_keys: int | None = None,
    reverse: bool = False,
    **declared: Any,
) -> tuple[str, dict[str, Any]]:
    """The whole split path for `data`; (jobId, the processor's answer)."""
    settings = settings_for(split=True, part_bytes=part_bytes, max_keys=max_keys)
    recorder = Recorder()
    job_id, ref = new_job(s3, dynamodb, data, **declared)
    answer = processor(settings, s3, dynamodb, recorder).handle(ref)
    if answer["outcome"] != "split":
        return job_id, answer
    job_input = execution_input(recorder, job_id)
    parts = len(objects.ObjectStore(s3, NAMES.bucket).get_json(job_input["partsKey"]))
    order = list(range(parts))[::-1] if reverse else list(range(parts))
    run_parts(settings, s3, dynamodb, job_input, order)
    run_partitions(settings, s3, dynamodb, job_input)
    finish(settings, s3, dynamodb, job_input)
    return job_id, {**answer, "parts_total": parts}


def run_single(s3: Any, dynamodb: Any, data: bytes, **declared: Any) -> str:
    settings = settings_for(split=False)
    job_id, ref = new_job(s3, dynamodb, data, **declared)
    processor(settings, s3, dynamodb).handle(ref)
    return job_id


def outcome(s3: Any, dynamodb: Any, job_id: str, symbols: list[str]) -> dict[str, Any]:
    """Everything a client can observe of a finished job, without its id and times."""
    job = JobStore(dynamodb, NAMES.jobs_table).get(job_id)
    assert job is not None
    report = None
    if job.report_key:
        report = s3.get_object(Bucket=NAMES.bucket, Key=job.report_key)["Body"].read()
    return {
        "status": job.status,
        "rows": job.rows,
        "errors": job.errors,
        "warnings": job.warnings,
        "report": report,
        "items": stored(dynamodb, symbols),
        "sha256": job.sha256,
    }


def stored(dynamodb: Any, symbols: list[str]) -> list[tuple[str, str, str, str]]:
    found = []
    for symbol in symbols:
        for page in dynamodb.get_paginator("query").paginate(
            TableName=NAMES.results_table,
            KeyConditionExpression="#s = :s",
            ExpressionAttributeNames={"#s": "symbol"},
            ExpressionAttributeValues={":s": {"S": symbol}},
        ):
            found.extend(
                (i["symbol"]["S"], i["timestamp"]["S"], i["price"]["N"], i["volume"]["N"])
                for i in page["Items"]
            )
    return sorted(found)


def delete_items(dynamodb: Any, items: list[tuple[str, str, str, str]]) -> None:
    for start in range(0, len(items), 25):
        dynamodb.batch_write_item(
            RequestItems={
                NAMES.results_table: [
                    {"DeleteRequest": {"Key": {"symbol": {"S": s}, "timestamp": {"S": t}}}}
                    for s, t, _, _ in items[start : start + 25]
                ]
            }
        )
