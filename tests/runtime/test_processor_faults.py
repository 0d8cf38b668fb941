"""Processor faults injected with botocore event hooks, and idempotency of the event handling."""

from __future__ import annotations

import json
import threading
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from runtime_support import NAMES, context, dynamodb_number, s3_event

from bench.generate import make_rows, render_csv
from runtime.dal.jobs import JobStore, utc_now
from runtime.dal.objects import processed_key, quarantine_key, upload_key
from runtime.errors import TimeoutRiskError, WriteError
from runtime.handlers import processor
from runtime.logic.csv_rules import parse_bytes


def make_file(symbol: str, rows: int, bad_every: int = 0) -> bytes:
    """`rows` distinct rows; with `bad_every`, every such row has an invalid price."""
    made: list[tuple[object, ...]] = list(make_rows(symbol, rows))
    if bad_every:
        made = [
            (row[0], "oops", *row[2:]) if i % bad_every == 0 else row for i, row in enumerate(made)
        ]
    return render_csv(made)


def expected_table(data: bytes) -> list[dict[str, str]]:
    _, rows, _ = parse_bytes(data)
    return sorted(
        (
            {"timestamp": ts, "price": dynamodb_number(price), "volume": volume}
            for _, ts, price, volume in rows
        ),
        key=lambda row: row["timestamp"],
    )


class Hooks:
    """Registers botocore event handlers on the runtime's clients and removes them after."""

    def __init__(self) -> None:
        self._registered: list[tuple[object, str, object]] = []
        self.calls = 0
        self.lock = threading.Lock()

    def on(self, client, event: str, handler) -> None:
        client.meta.events.register(event, handler)
        self._registered.append((client, event, handler))

    def clear(self) -> None:
        for client, event, handler in self._registered:
            client.meta.events.unregister(event, handler)
        self._registered.clear()

    def count(self) -> int:
        with self.lock:
            self.calls += 1
            return self.calls


@pytest.fixture
def hooks(pipeline):
    installed = Hooks()
    yield installed
    installed.clear()


def _throttled():
    http = SimpleNamespace(status_code=400, headers={}, raw=None)
    parsed = {
        "Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"},
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }
    return http, parsed


def _start(pipeline, data: bytes):
    created = pipeline.create_job()
    etag = pipeline.post_file(created["upload"], data)
    return created["jobId"], created["upload"]["fields"]["key"], etag


def test_unprocessed_items_returned_several_times_are_retried(pipeline, hooks, symbol):
    # Given DynamoDB answers the first three BatchWriteItem calls with everything unprocessed
    def remember(params, context, **_):
        context["request_items"] = json.loads(params["body"])["RequestItems"]

    def unprocess(parsed, context, **_):
        if hooks.count() <= 3:
            parsed["UnprocessedItems"] = context["request_items"]

    hooks.on(pipeline.dynamodb, "before-call.dynamodb.BatchWriteItem", remember)
    hooks.on(pipeline.dynamodb, "after-call.dynamodb.BatchWriteItem", unprocess)
    data = make_file(symbol, 60)
    # When the file is processed
    _job_id, status = pipeline.run(data)
    # Then the items were resent until written: nothing lost, job complete
    assert status["status"] == "COMPLETED"
    assert status["rows"]["accepted"] == 60
    assert pipeline.rows_of(symbol) == expected_table(data)
    assert hooks.calls >= 3 + 3  # three batches, three of them answered "unprocessed"


def test_fails_when_items_stay_unprocessed_and_leaves_a_trail(pipeline, hooks, symbol):
    # Given DynamoDB never processes anything
    def remember(params, context, **_):
        context["request_items"] = json.loads(params["body"])["RequestItems"]

    def unprocess(parsed, context, **_):
        parsed["UnprocessedItems"] = context["request_items"]

    hooks.on(pipeline.dynamodb, "before-call.dynamodb.BatchWriteItem", remember)
    hooks.on(pipeline.dynamodb, "after-call.dynamodb.BatchWriteItem", unprocess)
    job_id, key, etag = _start(pipeline, make_file(symbol, 5))
    # When processed / Then the invocation raises, so Lambda retries
    with pytest.raises(WriteError):
        pipeline.process(key, etag)
    # And the job says why, still PROCESSING for the retry
    job = pipeline.job_item(job_id)
    assert job.status == "PROCESSING"
    assert job.errors[-1]["code"] == "WRITE_FAILED"


def test_fails_r14_throttling_on_every_try_raises_with_a_trail_then_retry_completes(
    pipeline, hooks, symbol
):
    # Given every BatchWriteItem is throttled (after botocore's own retries)
    hooks.on(pipeline.dynamodb, "before-call.dynamodb.BatchWriteItem", lambda **_: _throttled())
    data = make_file(symbol, 80)
    job_id, key, etag = _start(pipeline, data)
    # When processed / Then it raises, so Lambda retries the event
    with pytest.raises(Exception, match="ProvisionedThroughputExceeded"):
        pipeline.process(key, etag)
    # And the job is not left PROCESSING silently: the attempt and the error are recorded
    job = pipeline.job_item(job_id)
    assert job.status == "PROCESSING"
    assert job.attempt == 1
    assert job.errors[-1]["code"] == "ProvisionedThroughputExceededException"
    assert job.errors[-1]["attempt"] == 1
    # When the throttling stops and Lambda retries the same event
    hooks.clear()
    pipeline.process(key, etag)
    # Then the job completes, and the failed attempt stays visible as a warning
    status = pipeline.status(job_id)
    assert status["status"] == "COMPLETED"
    assert status["errors"] == []
    assert status["warnings"][0]["code"] == "EARLIER_ATTEMPT_FAILED"
    assert pipeline.rows_of(symbol) == expected_table(data)


def test_crash_halfway_then_retry_equals_a_clean_run(pipeline, hooks, symbol):
    # Given a file of 12 batches with some bad rows, and a connection that dies on the 6th write
    data = make_file(symbol, 300, bad_every=7)

    def crash(**_):
        if hooks.count() == 6:
            raise EndpointConnectionError(endpoint_url="http://dynamodb")

    hooks.on(pipeline.dynamodb, "before-call.dynamodb.BatchWriteItem", crash)
    job_id, key, etag = _start(pipeline, data)
    with pytest.raises(EndpointConnectionError):
        pipeline.process(key, etag)
    stored_before_retry = len(pipeline.rows_of(symbol))
    # When Lambda retries the event
    hooks.clear()
    pipeline.process(key, etag)
    # Then the table and the counts equal those of a clean run: nothing missing, nothing doubled
    clean, rows, rejections = parse_bytes(data)
    status = pipeline.status(job_id)
    assert 0 < stored_before_retry < len(rows)
    assert status["status"] == "COMPLETED_WITH_ERRORS"
    assert status["rows"] == {
        "total": 300,
        "accepted": clean.accepted,
        "rejected": clean.rejected,
        "duplicates": 0,
    }
    assert pipeline.rows_of(symbol) == expected_table(data)
    assert len(pipeline.report(job_id)) == 1 + len(rejections)
    assert pipeline.job_item(job_id).attempt == 2


def test_same_event_twice_changes_nothing(pipeline, symbol):
    # Given a processed job
    data = make_file(symbol, 30)
    job_id, key, etag = _start(pipeline, data)
    pipeline.process(key, etag)
    before = pipeline.status(job_id)
    # When the same notification is delivered again
    outcome = pipeline.process(key, etag)
    # Then it is a no-op
    assert outcome["results"][0]["outcome"] in {"gone", "duplicate"}
    assert pipeline.status(job_id) == before
    assert pipeline.rows_of(symbol) == expected_table(data)


def test_duplicate_event_after_a_crash_before_the_move_finishes_the_move(pipeline, hooks, symbol):
    # Given the job was finished but the move to processed/ failed
    def fail_copy(**_):
        raise EndpointConnectionError(endpoint_url="http://s3")

    hooks.on(pipeline.s3, "before-call.s3.CopyObject", fail_copy)
    job_id, key, etag = _start(pipeline, make_file(symbol, 3))
    with pytest.raises(EndpointConnectionError):
        pipeline.process(key, etag)
    assert pipeline.status(job_id)["status"] == "COMPLETED"
    hooks.clear()
    # When the event is delivered again
    pipeline.process(key, etag)
    # Then the file is moved and the job is unchanged
    assert pipeline.exists(processed_key(job_id))
    assert not pipeline.exists(key)
    assert pipeline.status(job_id)["rows"]["accepted"] == 3


def test_events_out_of_order_only_the_current_object_is_processed(pipeline, symbol):
    # Given two uploads to the same job key; the second replaced the first
    first = make_file(symbol, 10)
    second = make_file(symbol, 20)
    created = pipeline.create_job()
    key = created["upload"]["fields"]["key"]
    first_etag = pipeline.post_file(created["upload"], first)
    second_etag = pipeline.post_file(created["upload"], second)
    # When the first object's event arrives late (after the second), and events repeat
    outcomes = [
        pipeline.process(key, first_etag),
        pipeline.process(key, second_etag),
        pipeline.process(key, first_etag),
        pipeline.process(key, second_etag),
    ]
    # Then only the object that is actually there was processed, once
    assert [o["results"][0]["outcome"] for o in outcomes] == ["stale", "processed", "gone", "gone"]
    status = pipeline.status(created["jobId"])
    assert status["status"] == "COMPLETED"
    assert status["rows"]["accepted"] == 20
    assert pipeline.rows_of(symbol) == expected_table(second)


def test_fails_second_upload_to_a_finished_job_is_quarantined_with_a_warning(pipeline, symbol):
    # Given a finished job
    first = make_file(symbol, 10)
    created = pipeline.create_job()
    key = created["upload"]["fields"]["key"]
    pipeline.process(key, pipeline.post_file(created["upload"], first))
    # When the same presigned POST is used again with another file
    second = make_file(symbol, 15)
    second_etag = pipeline.post_file(created["upload"], second)
    outcome = pipeline.process(key, second_etag)
    # Then the job and the table keep the first file
    assert outcome["results"][0]["outcome"] == "second-upload"
    status = pipeline.status(created["jobId"])
    assert status["status"] == "COMPLETED"
    assert status["rows"]["accepted"] == 10
    assert pipeline.rows_of(symbol) == expected_table(first)
    # And the second file is kept in quarantine, not deleted, and the job names its key
    moved = quarantine_key(created["jobId"], second_etag)
    assert [(w["code"], w["key"]) for w in status["warnings"]] == [("FILE_QUARANTINED", moved)]
    assert pipeline.s3.get_object(Bucket=NAMES.bucket, Key=moved)["Body"].read() == second
    assert not pipeline.exists(key)


def test_fails_second_upload_while_the_job_runs_is_quarantined(pipeline, symbol):
    # Given a job claimed for one file, whose key then received another file
    created = pipeline.create_job()
    job_id, key = created["jobId"], created["upload"]["fields"]["key"]
    first_etag = pipeline.post_file(created["upload"], make_file(symbol, 5))
    assert JobStore(pipeline.dynamodb, NAMES.jobs_table).claim(job_id, first_etag, key, utc_now())
    second_etag = pipeline.post_file(created["upload"], make_file(symbol, 6))
    # When the second file's event arrives
    outcome = pipeline.process(key, second_etag)
    # Then it is moved to quarantine and the job says so
    assert outcome["results"][0]["outcome"] == "second-upload"
    moved = quarantine_key(job_id, second_etag)
    assert pipeline.exists(moved)
    assert pipeline.job_item(job_id).warnings[-1]["key"] == moved


def test_timeout_risk_leaves_a_trail_instead_of_a_silent_processing(pipeline, symbol):
    # Given an invocation with little time left
    job_id, key, etag = _start(pipeline, make_file(symbol, 10))
    # When processed / Then it stops and raises for the retry
    with pytest.raises(TimeoutRiskError):
        pipeline.process(key, etag, context(remaining_ms=1_000))
    job = pipeline.job_item(job_id)
    assert job.status == "PROCESSING"
    assert job.errors[-1]["code"] == "TIMEOUT_RISK"
    # And the retry with enough time completes
    pipeline.process(key, etag)
    assert pipeline.status(job_id)["status"] == "COMPLETED"


def test_only_the_latest_attempt_may_finish_a_job(pipeline):
    # Given a job claimed twice for the same object (a duplicate event running concurrently)
    created = pipeline.create_job()
    store = JobStore(pipeline.dynamodb, NAMES.jobs_table)
    job_id = created["jobId"]
    first = store.claim(job_id, "etag-1", "k", utc_now())
    second = store.claim(job_id, "etag-1", "k", utc_now())
    other = store.claim(job_id, "etag-2", "k", utc_now())
    rows = {"total": 0, "accepted": 0, "rejected": 0, "duplicates": 0}
    finish = dict(status="COMPLETED", rows=rows, errors=[], warnings=[], report_key=None)
    # When both try to finish
    stale = store.finish(job_id, "etag-1", attempt=first, now=utc_now(), **finish)
    latest = store.finish(job_id, "etag-1", attempt=second, now=utc_now(), **finish)
    # Then only the latest one wins, and another object can never claim the job
    assert (first, second, other) == (1, 2, None)
    assert stale is None
    assert latest is not None
    assert latest.status == "COMPLETED"
    # And a finished job never goes back to PROCESSING
    assert store.claim(job_id, "etag-1", "k", utc_now()) is None


def test_test_event_and_foreign_keys_are_ignored(pipeline):
    # Given the event S3 sends when notifications are configured, and keys outside incoming/
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": NAMES.bucket}
    foreign = s3_event("processed/x.csv", "e")
    spaced = s3_event("incoming/my file.csv", "e")
    # When handled / Then nothing happens and nothing raises
    assert processor.handler(test_event, context()) == {"results": []}
    assert processor.handler(foreign, context())["results"][0]["outcome"] == "ignored"
    result = processor.handler(spaced, context())["results"][0]
    assert result == {"key": "incoming/my file.csv", "outcome": "ignored"}


def test_fails_object_without_a_job_is_quarantined(pipeline):
    # Given an object under incoming/ whose job does not exist
    job_id = "00000000-0000-4000-8000-000000000000"
    key = upload_key(job_id)
    pipeline.s3.put_object(Bucket=NAMES.bucket, Key=key, Body=b"x")
    etag = pipeline.s3.head_object(Bucket=NAMES.bucket, Key=key)["ETag"].strip('"')
    # When its event arrives
    outcome = pipeline.process(key, etag)
    # Then it leaves incoming/ for quarantine instead of being deleted
    assert outcome["results"][0]["outcome"] == "orphan"
    assert not pipeline.exists(key)
    assert pipeline.exists(quarantine_key(job_id, etag))


def test_fails_r23_a_denied_report_abort_does_not_hide_the_files_own_failure(
    pipeline, symbol, monkeypatch
):
    # Given a file whose rejections fill more than one report part before a fatal line (an
    # invalid UTF-8 byte), and a report upload whose abort is refused
    from runtime.dal import report

    monkeypatch.setattr(report, "PART_SIZE", 256)
    good = [f"{symbol},1.5,{i},2024-01-01T00:00:{i:02d}Z" for i in range(5)]
    bad = [f"{symbol},-1,{i},2024-01-01T00:01:{i % 60:02d}Z" for i in range(40)]
    data = ("symbol,price,volume,timestamp\n" + "\n".join(good + bad) + "\n").encode()
    data += b"\xff\xfe,1,1,2024-01-01T00:02:00Z\n"
    denied = []

    def deny_abort(**kwargs):
        denied.append(kwargs["model"].name)
        raise ClientError(
            {"Error": {"Code": "AccessDenied", "Message": "not authorized"}},
            "AbortMultipartUpload",
        )

    pipeline.s3.meta.events.register("before-call.s3.AbortMultipartUpload", deny_abort)
    try:
        job_id, status = pipeline.run(data)
    finally:
        pipeline.s3.meta.events.unregister("before-call.s3.AbortMultipartUpload", deny_abort)
    # Then the abort was tried and refused, and the job still ends FAILED with its own code
    assert len(denied) == 1
    assert status["status"] == "FAILED"
    assert [e["code"] for e in status["errors"]] == ["INVALID_ENCODING"]
    assert status["rows"]["accepted"] == 5
    assert pipeline.job_item(job_id).status == "FAILED"
