"""Sweeper: expired uploads, re-drive of stuck jobs, then FAILED; all conditional."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from runtime_support import BUCKET, JOBS_TABLE, FakeContext

from runtime import clients, processor, sweeper
from runtime.jobs import JobStore, utc_now


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
    return JobStore(pipeline.dynamodb, JOBS_TABLE)


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
    sweeper.handler({}, FakeContext())
    # Then only the stale one expired, with a reason
    assert pipeline.status(stale)["status"] == "EXPIRED"
    assert pipeline.status(stale)["errors"][0]["code"] == "UPLOAD_EXPIRED"
    assert pipeline.status(fresh)["status"] == "PENDING_UPLOAD"
    assert invocations == []


def test_pending_upload_whose_notification_was_lost_is_redriven(pipeline, invocations, symbol):
    # Given an old pending job whose file is in the bucket but was never processed
    job_id = _old_job(pipeline, 30)
    key = f"incoming/{job_id}.csv"
    data = f"symbol,price,volume,timestamp\n{symbol},1,1,2024-01-01\n".encode()
    pipeline.s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    # When the sweeper runs
    sweeper.handler({}, FakeContext())
    # Then the processor is invoked instead of expiring the job, and that invocation works
    assert pipeline.status(job_id)["status"] == "PENDING_UPLOAD"
    assert len(invocations) == 1
    processor.handler(invocations[0]["payload"], FakeContext())
    assert pipeline.status(job_id)["status"] == "COMPLETED"


def test_stuck_processing_is_redriven_once_then_failed(pipeline, invocations, symbol):
    # Given a job stuck in PROCESSING for longer than timeout x (retries + 1) = 15 minutes
    job_id = _old_job(pipeline, 60)
    key = f"incoming/{job_id}.csv"
    pipeline.s3.put_object(Bucket=BUCKET, Key=key, Body=b"symbol,price,volume,timestamp\n")
    etag = pipeline.s3.head_object(Bucket=BUCKET, Key=key)["ETag"].strip('"')
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
    sweeper.handler({}, FakeContext())
    # Then the processor is re-driven with a synthetic S3 event for the job's object
    assert len(invocations) == 1
    assert invocations[0]["name"].endswith("/test-processor/invocations")
    record = invocations[0]["payload"]["Records"][0]
    assert processor.object_refs(invocations[0]["payload"])[0].key == key
    assert record["s3"]["object"]["eTag"] == etag
    assert pipeline.status(job_id)["status"] == "PROCESSING"
    # When it is still stuck a threshold later
    job = store.get(job_id)
    pipeline.dynamodb.update_item(
        TableName=JOBS_TABLE,
        Key={"jobId": {"S": job_id}},
        UpdateExpression="SET updatedAt = :old",
        ExpressionAttributeValues={":old": {"S": "2000-01-01T00:00:00.000000Z"}},
    )
    assert job.redriven
    sweeper.handler({}, FakeContext())
    # Then it is FAILED with the reason, and not re-driven a second time
    status = pipeline.status(job_id)
    assert status["status"] == "FAILED"
    assert status["errors"][-1]["code"] == "PROCESSING_STUCK"
    assert "TIMEOUT_RISK" in status["errors"][-1]["message"]
    assert len(invocations) == 1
    # And its file left incoming/
    assert not pipeline.exists(key)


def test_recent_processing_and_final_jobs_are_left_alone(pipeline, invocations, symbol):
    # Given a job processing for 5 minutes and a completed job
    job_id = _old_job(pipeline, 60)
    _store(pipeline).claim(job_id, "e", "k", utc_now() - timedelta(minutes=5))
    done, _ = pipeline.run(f"symbol,price,volume,timestamp\n{symbol},1,1,2024-01-01\n".encode())
    before = pipeline.status(done)
    # When the sweeper runs
    sweeper.handler({}, FakeContext())
    # Then neither changes
    assert pipeline.status(job_id)["status"] == "PROCESSING"
    assert pipeline.status(done) == before
    assert invocations == []
