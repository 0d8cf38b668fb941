"""Sweeper: expired uploads, re-drives of lost notifications and of stuck jobs, then FAILED;
all conditional, and no uploaded file is ever deleted."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from runtime_support import NAMES, context

from runtime import clients
from runtime.dal.jobs import JobStore, utc_now
from runtime.dal.objects import ObjectStore, processed_key, quarantine_key, upload_key
from runtime.handlers import processor, sweeper
from runtime.logic.events import JobEvents
from runtime.logic.notifications import created_objects
from runtime.logic.sweeper import MAX_UPLOAD_REDRIVES, Sweeper
from runtime.settings import get_settings


@pytest.fixture
def invocations(pipeline):
    """Records asynchronous processor invocations instead of sending them."""
    sent: list[dict] = []

    def capture(params, **_):
        sent.append({"name": params["url_path"], "payload": json.loads(params["body"])})
        return SimpleNamespace(status_code=202, headers={}), {"StatusCode": 202}

    client = clients.lambda_()
    client.meta.events.register("before-call.lambda.Invoke", capture)
    yield sent
    client.meta.events.unregister("before-call.lambda.Invoke", capture)


def _store(pipeline):
    return JobStore(pipeline.dynamodb, NAMES.jobs_table)


def _sweep_at(pipeline, now) -> dict[str, int]:
    """One sweep as the scheduled handler runs it, at a chosen time."""
    settings = get_settings()
    return Sweeper(
        settings,
        _store(pipeline),
        ObjectStore(pipeline.s3, settings.bucket),
        clients.lambda_(),
        JobEvents(clients.events(), settings.event_bus_arn, _store(pipeline)),
    ).run(now)


def _old_job(pipeline, minutes: int) -> str:
    job_id = str(uuid.uuid4())
    then = utc_now() - timedelta(minutes=minutes)
    _store(pipeline).create(job_id, "old.csv", then, then + timedelta(minutes=15), 0)
    return job_id


def test_pending_upload_past_expiry_becomes_expired(pipeline, invocations):
    # Given a job created 30 minutes ago (15-minute upload window) with no file, and a fresh one
    stale = _old_job(pipeline, 30)
    fresh = _old_job(pipeline, 1)
    # When the sweeper runs
    sweeper.handler({}, context())
    # Then only the stale one expired, with a reason
    assert pipeline.status(stale)["status"] == "EXPIRED"
    assert pipeline.status(stale)["errors"][0]["code"] == "UPLOAD_EXPIRED"
    assert pipeline.status(fresh)["status"] == "PENDING_UPLOAD"
    assert invocations == []


def test_pending_upload_whose_notification_was_lost_is_redriven(pipeline, invocations, symbol):
    # Given an old pending job whose file is in the bucket but was never processed
    job_id = _old_job(pipeline, 30)
    key = upload_key(job_id)
    data = f"symbol,price,volume,timestamp\n{symbol},1,1,2024-01-01\n".encode()
    pipeline.s3.put_object(Bucket=NAMES.bucket, Key=key, Body=data)
    # When the sweeper runs
    sweeper.handler({}, context())
    # Then the processor is invoked instead of expiring the job, and that invocation works
    assert pipeline.status(job_id)["status"] == "PENDING_UPLOAD"
    assert len(invocations) == 1
    processor.handler(invocations[0]["payload"], context())
    assert pipeline.status(job_id)["status"] == "COMPLETED"


def test_fails_lost_notification_and_a_slow_redrive_still_complete_the_job(
    pipeline, invocations, symbol
):
    # Given an old pending job whose file arrived but whose notification was lost
    job_id = _old_job(pipeline, 30)
    key = upload_key(job_id)
    data = f"symbol,price,volume,timestamp\n{symbol},1,1,2024-01-01\n".encode()
    pipeline.s3.put_object(Bucket=NAMES.bucket, Key=key, Body=data)
    # When the sweeper runs twice before the re-drive invocation is delivered
    sweeper.handler({}, context())
    sweeper.handler({}, context())
    assert pipeline.status(job_id)["status"] == "PENDING_UPLOAD"
    for invocation in invocations:
        processor.handler(invocation["payload"], context())
    # Then the job completes with the file, which is archived, not deleted
    status = pipeline.status(job_id)
    assert status["status"] == "COMPLETED"
    assert status["rows"]["accepted"] == 1
    assert status["warnings"] == []
    assert pipeline.exists(processed_key(job_id))
    assert pipeline.rows_of(symbol) == [
        {"timestamp": "2024-01-01T00:00:00.000000Z", "price": "1", "volume": "1"}
    ]


def test_fails_pending_upload_never_started_by_its_redrives_is_failed_and_quarantined(
    pipeline, invocations, job_events
):
    # Given an old pending job whose file is there, and re-drives that never run
    job_id = _old_job(pipeline, 30)
    key = upload_key(job_id)
    pipeline.s3.put_object(Bucket=NAMES.bucket, Key=key, Body=b"symbol,price,volume,timestamp\n")
    etag = pipeline.s3.head_object(Bucket=NAMES.bucket, Key=key)["ETag"].strip('"')
    # When the sweeper runs every 5 minutes for two hours
    now = utc_now()
    for sweep in range(24):
        _sweep_at(pipeline, now + timedelta(minutes=5 * sweep))
    # Then the job was re-driven a bounded number of times, spaced by Lambda's retry window
    assert len(invocations) == MAX_UPLOAD_REDRIVES
    # And it failed with a named reason, its file kept in quarantine and named on the job
    status = pipeline.status(job_id)
    assert status["status"] == "FAILED"
    assert status["errors"][0]["code"] == "UPLOAD_NOT_PROCESSED"
    moved = quarantine_key(job_id, etag)
    assert [(w["code"], w["key"]) for w in status["warnings"]] == [("FILE_QUARANTINED", moved)]
    assert pipeline.exists(moved)
    assert not pipeline.exists(key)
    # And its one event (R27) says so, quarantine warning included
    [event] = job_events.events(job_id)
    assert event["detail-type"] == "Job Failed"
    assert event["detail"]["warnings"] == status["warnings"]
    # And a re-drive delivered after all finds nothing to do and deletes nothing
    outcome = processor.handler(invocations[-1]["payload"], context())
    assert outcome["results"][0]["outcome"] == "gone"
    assert pipeline.exists(moved)


def test_fails_late_file_of_an_expired_job_is_quarantined(pipeline, invocations):
    # Given a job that expired with no file
    job_id = _old_job(pipeline, 30)
    sweeper.handler({}, context())
    assert pipeline.status(job_id)["status"] == "EXPIRED"
    # When a file arrives for it after all (an upload that started just before the expiry)
    key = upload_key(job_id)
    pipeline.s3.put_object(Bucket=NAMES.bucket, Key=key, Body=b"symbol,price,volume,timestamp\n")
    etag = pipeline.s3.head_object(Bucket=NAMES.bucket, Key=key)["ETag"].strip('"')
    pipeline.process(key, etag)
    # Then the file is kept in quarantine and the job says where
    status = pipeline.status(job_id)
    assert status["status"] == "EXPIRED"
    assert status["warnings"][-1]["code"] == "FILE_QUARANTINED"
    assert pipeline.exists(quarantine_key(job_id, etag))


def test_stuck_processing_is_redriven_once_then_failed(pipeline, invocations, symbol):
    # Given a job stuck in PROCESSING for longer than timeout x (retries + 1) = 15 minutes
    job_id = _old_job(pipeline, 60)
    key = upload_key(job_id)
    pipeline.s3.put_object(Bucket=NAMES.bucket, Key=key, Body=b"symbol,price,volume,timestamp\n")
    etag = pipeline.s3.head_object(Bucket=NAMES.bucket, Key=key)["ETag"].strip('"')
    store = _store(pipeline)
    assert store.claim(job_id, etag, key, utc_now() - timedelta(minutes=20)) == 1
    store.record_attempt_error(
        job_id,
        etag,
        attempt=1,
        code="TIMEOUT_RISK",
        message="m",
        now=utc_now() - timedelta(minutes=20),
    )
    # When the sweeper runs
    sweeper.handler({}, context())
    # Then the processor is re-driven with a synthetic S3 event for the job's object
    assert len(invocations) == 1
    assert invocations[0]["name"].endswith(f"/{NAMES.processor_function_name}/invocations")
    record = invocations[0]["payload"]["Records"][0]
    assert created_objects(invocations[0]["payload"])[0].key == key
    assert record["s3"]["object"]["eTag"] == etag
    assert pipeline.status(job_id)["status"] == "PROCESSING"
    # When it is still stuck a threshold later
    job = store.get(job_id)
    pipeline.dynamodb.update_item(
        TableName=NAMES.jobs_table,
        Key={"jobId": {"S": job_id}},
        UpdateExpression="SET updatedAt = :old",
        ExpressionAttributeValues={":old": {"S": "2000-01-01T00:00:00.000000Z"}},
    )
    assert job.redriven
    sweeper.handler({}, context())
    # Then it is FAILED with the reason, and not re-driven a second time
    status = pipeline.status(job_id)
    assert status["status"] == "FAILED"
    assert status["errors"][-1]["code"] == "PROCESSING_STUCK"
    assert "TIMEOUT_RISK" in status["errors"][-1]["message"]
    assert len(invocations) == 1
    # And its file left incoming/ for processed/
    assert not pipeline.exists(key)
    assert pipeline.exists(processed_key(job_id))


def test_recent_processing_and_final_jobs_are_left_alone(pipeline, invocations, symbol):
    # Given a job processing for 5 minutes and a completed job
    job_id = _old_job(pipeline, 60)
    _store(pipeline).claim(job_id, "e", "k", utc_now() - timedelta(minutes=5))
    done, _ = pipeline.run(f"symbol,price,volume,timestamp\n{symbol},1,1,2024-01-01\n".encode())
    before = pipeline.status(done)
    # When the sweeper runs
    sweeper.handler({}, context())
    # Then neither changes
    assert pipeline.status(job_id)["status"] == "PROCESSING"
    assert pipeline.status(done) == before
    assert invocations == []


def test_fails_split_job_is_left_to_its_execution_then_failed_once_it_outlived_it(
    pipeline, invocations
):
    # Given a split job: claimed, its execution started, and quiet for 20 minutes
    job_id = _old_job(pipeline, 60)
    key = upload_key(job_id)
    pipeline.s3.put_object(Bucket=NAMES.bucket, Key=key, Body=b"symbol,price,volume,timestamp\n")
    etag = pipeline.s3.head_object(Bucket=NAMES.bucket, Key=key)["ETag"].strip('"')
    store = _store(pipeline)
    then = utc_now() - timedelta(minutes=20)
    assert store.claim(job_id, etag, key, then) == 1
    assert store.start_split(
        job_id, etag, attempt=1, parts_total=3, fatal=None, now=then, sha256="0" * 64
    )

    def redrives_of_this_job() -> list[dict]:
        return [sent for sent in invocations if created_objects(sent["payload"])[0].key == key]

    # When the sweeper runs past the processor's retry window
    sweeper.handler({}, context())
    # Then the job is left to its execution, which may run for hours: no re-drive, no failure
    assert redrives_of_this_job() == []
    assert pipeline.status(job_id)["status"] == "PROCESSING"
    # When it runs past the execution's timeout plus the finalizer's retries
    later = utc_now() + timedelta(seconds=get_settings().split_timeout_seconds)
    _sweep_at(pipeline, later)
    # Then the job failed with the reason, was not re-driven, and its file was archived
    status = pipeline.status(job_id)
    assert status["status"] == "FAILED"
    assert status["errors"][-1]["code"] == "PROCESSING_STUCK"
    assert "split execution" in status["errors"][-1]["message"]
    assert redrives_of_this_job() == []
    assert pipeline.exists(processed_key(job_id))
    assert not pipeline.exists(key)
