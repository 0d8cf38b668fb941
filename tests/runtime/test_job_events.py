"""R27: one EventBridge event per job that reaches a final status, read back from a queue that a
rule on the functions' bus feeds (the event JSON as a consumer gets it). Publish failures are
injected into PutEvents with botocore hooks; delivery must be at least once and never zero."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from typing import Any

import pytest
import split_support
from events_support import emitted_counts
from runtime_support import NAMES, context

from runtime import clients
from runtime.contract import METRIC_EVENTS_FAILED, METRIC_EVENTS_PUBLISHED
from runtime.dal.jobs import JobStore, utc_now
from runtime.dal.objects import ObjectStore, processed_key, report_key, upload_key
from runtime.handlers import sweeper
from runtime.logic.events import EventPublishError, JobEvents
from runtime.logic.sweeper import Sweeper
from runtime.observability import metrics
from runtime.settings import get_settings

DETAIL_FIELDS = {
    "eventId",
    "jobId",
    "status",
    "rows",
    "errors",
    "warnings",
    "fileName",
    "createdAt",
    "updatedAt",
}


def good_file(symbol: str, rows: int = 3, *, bad: int = 0) -> bytes:
    lines = ["symbol,price,volume,timestamp"]
    lines += [f"{symbol},1.5,{i},2024-01-01T10:00:{i:02d}Z" for i in range(rows)]
    lines += [f"{symbol},oops,1,2024-01-02T10:00:{i:02d}Z" for i in range(bad)]
    return ("\n".join(lines) + "\n").encode()


def _store(pipeline: Any) -> JobStore:
    return JobStore(pipeline.dynamodb, NAMES.jobs_table)


def _upload(pipeline: Any, data: bytes) -> tuple[str, str, str]:
    created = pipeline.create_job()
    etag = pipeline.post_file(created["upload"], data)
    return created["jobId"], created["upload"]["fields"]["key"], etag


def _sweeper() -> Sweeper:
    settings = get_settings()
    jobs = JobStore(clients.dynamodb(), settings.jobs_table)
    return Sweeper(
        settings,
        jobs,
        ObjectStore(clients.s3(), settings.bucket),
        clients.lambda_(),
        JobEvents(clients.events(), settings.event_bus_arn, jobs),
    )


def _expired_upload(pipeline: Any) -> str:
    """A job created 30 minutes ago (15-minute upload window) whose file never came."""
    job_id = str(uuid.uuid4())
    then = utc_now() - timedelta(minutes=30)
    _store(pipeline).create(job_id, "late.csv", then, then + timedelta(minutes=15), 0)
    return job_id


def test_r27_a_completed_job_publishes_one_event_with_the_contract_detail(
    pipeline, job_events, symbol
):
    # Given a clean file
    data = good_file(symbol)
    # When it is processed
    job_id, status = pipeline.run(data)
    # Then one "Job Completed" event carries the job as /status shows it, with the file's digest
    [event] = job_events.events(job_id)
    assert (event["source"], event["detail-type"], event["resources"]) == (
        "financial-pipeline",
        "Job Completed",
        [],
    )
    detail = event["detail"]
    assert set(detail) == DETAIL_FIELDS | {"sha256"}
    assert detail["eventId"] == f"{job_id}:COMPLETED"
    assert detail["sha256"] == hashlib.sha256(data).hexdigest()
    for name in ("jobId", "status", "rows", "errors", "warnings", "fileName", "createdAt"):
        assert detail[name] == status[name], name
    assert detail["updatedAt"] == status["updatedAt"]
    # And the job owes nothing any more
    assert pipeline.job_item(job_id).event_pending == ""


def test_r27_a_job_completed_with_errors_is_job_completed_and_names_its_report(
    pipeline, job_events, symbol
):
    # Given a file with rejected rows
    job_id, status = pipeline.run(good_file(symbol, bad=2))
    # Then its event is "Job Completed" with the status, errors and report key
    [event] = job_events.events(job_id)
    assert event["detail-type"] == "Job Completed"
    assert event["detail"]["status"] == "COMPLETED_WITH_ERRORS"
    assert event["detail"]["eventId"] == f"{job_id}:COMPLETED_WITH_ERRORS"
    assert event["detail"]["errors"] == status["errors"]
    assert [e["code"] for e in status["errors"]] == ["INVALID_PRICE"]
    assert event["detail"]["reportKey"] == report_key(job_id)


def test_r27_a_failed_job_is_job_failed(pipeline, job_events):
    # Given a file without a required column
    job_id, status = pipeline.run(b"symbol,price,volume\nAAPL,1,1\n")
    # Then its event is "Job Failed" with the reason, and no report key
    [event] = job_events.events(job_id)
    assert status["status"] == "FAILED"
    assert event["detail-type"] == "Job Failed"
    assert event["detail"]["errors"][0]["code"] == "MISSING_COLUMN"
    assert "reportKey" not in event["detail"]


def test_r27_the_owner_of_an_owned_job_is_in_its_event(pipeline, job_events, symbol):
    # Given a job created by an IAM principal (R25) and its file
    job_id = str(uuid.uuid4())
    owner = "iam:arn:aws:iam::123456789012:user/alice"
    now = utc_now()
    _store(pipeline).create(job_id, "t.csv", now, now + timedelta(minutes=15), 0, owner=owner)
    key = upload_key(job_id)
    etag = pipeline.s3.put_object(Bucket=NAMES.bucket, Key=key, Body=good_file(symbol))["ETag"]
    # When processed
    pipeline.process(key, etag.strip('"'))
    # Then the event names the owner
    [event] = job_events.events(job_id)
    assert event["detail"]["owner"] == owner


def test_r27_the_same_s3_event_twice_gives_one_final_job_and_one_event(
    pipeline, job_events, symbol
):
    # Given a job's file
    job_id, key, etag = _upload(pipeline, good_file(symbol, 5))
    # When S3 delivers the same notification twice
    pipeline.process(key, etag)
    again = pipeline.process(key, etag)
    # Then the job was processed once, and one event was published
    job = pipeline.job_item(job_id)
    assert again["results"][0]["outcome"] in {"gone", "duplicate"}
    assert (job.status, job.attempt, job.event_pending) == ("COMPLETED", 1, "")
    assert len(job_events.events(job_id)) == 1


def test_fails_r27_publish_fails_once_then_the_retry_publishes_exactly_one_event(
    pipeline, job_events, put_events_faults, symbol, capsys
):
    # Given EventBridge answers the first PutEvents with an error (after boto3's retries)
    put_events_faults.fail_with_error(times=1)
    metrics.clear_metrics()  # only this test's counts in what the handler prints
    data = good_file(symbol)
    job_id, key, etag = _upload(pipeline, data)
    # When the file is processed / Then the invocation fails, so Lambda retries it
    with pytest.raises(EventPublishError, match="InternalException"):
        pipeline.process(key, etag)
    # And the job is final, owes its event, and the failure is counted
    job = pipeline.job_item(job_id)
    assert (job.status, job.event_pending) == ("COMPLETED", "COMPLETED")
    assert job_events.events(job_id) == []
    assert emitted_counts(capsys.readouterr().out) == {
        METRIC_EVENTS_PUBLISHED: 0,
        METRIC_EVENTS_FAILED: 1,
    }
    # When Lambda retries the same event
    pipeline.process(key, etag)
    # Then exactly one event is out, the flag is cleared, the file archived, the rows written once
    [event] = job_events.events(job_id)
    assert event["detail"]["eventId"] == f"{job_id}:COMPLETED"
    after = pipeline.job_item(job_id)
    assert (after.event_pending, after.attempt, after.rows["accepted"]) == ("", 1, 3)
    assert pipeline.exists(processed_key(job_id))
    assert emitted_counts(capsys.readouterr().out)[METRIC_EVENTS_PUBLISHED] == 1


def test_fails_r27_an_entry_eventbridge_refuses_fails_the_invocation_and_the_retry_publishes(
    pipeline, job_events, put_events_faults, symbol
):
    # Given EventBridge takes the first request but refuses its entry (FailedEntryCount 1)
    put_events_faults.refuse_entries(times=1)
    job_id, key, etag = _upload(pipeline, good_file(symbol))
    # When processed / Then the invocation fails with the entry's error code
    with pytest.raises(EventPublishError, match="ThrottlingException"):
        pipeline.process(key, etag)
    assert pipeline.job_item(job_id).event_pending == "COMPLETED"
    # When retried / Then one event
    pipeline.process(key, etag)
    assert len(job_events.events(job_id)) == 1
    assert pipeline.job_item(job_id).event_pending == ""


def test_fails_r27_publish_fails_always_then_the_sweeper_publishes_after_the_grace_period(
    pipeline, job_events, put_events_faults, symbol
):
    # Given PutEvents fails on every call, through the first try and Lambda's two retries
    put_events_faults.fail_with_error()
    job_id, key, etag = _upload(pipeline, good_file(symbol))
    for _ in range(3):
        with pytest.raises(EventPublishError):
            pipeline.process(key, etag)
    assert pipeline.job_item(job_id).event_pending == "COMPLETED"
    # When EventBridge recovers and the sweeper runs within the grace period
    put_events_faults.clear()
    now = utc_now()
    _sweeper().run(now)
    # Then the event is still left to the function that finished the job
    assert job_events.events(job_id) == []
    # When the sweeper runs after the grace period, twice
    later = now + timedelta(seconds=get_settings().event_publish_grace_seconds + 60)
    first = _sweeper().run(later)
    second = _sweeper().run(later)
    # Then it published the event once, and the job owes nothing
    [event] = job_events.events(job_id)
    assert event["detail"]["eventId"] == f"{job_id}:COMPLETED"
    assert (first["eventsPublished"], second["eventsPublished"]) == (1, 0)
    assert pipeline.job_item(job_id).event_pending == ""


def test_fails_r27_a_sweep_while_publishing_fails_handles_the_other_jobs_then_raises(
    pipeline, job_events, put_events_faults, symbol
):
    # Given two final jobs whose events could not be published, and an upload that expired
    put_events_faults.fail_with_error()
    owed = []
    for index in range(2):
        job_id, key, etag = _upload(pipeline, good_file(f"{symbol}{index}"))
        with pytest.raises(EventPublishError):
            pipeline.process(key, etag)
        owed.append(job_id)
    expired = _expired_upload(pipeline)
    later = utc_now() + timedelta(seconds=get_settings().event_publish_grace_seconds + 60)
    calls_before = put_events_faults.calls
    # When the sweeper runs past the grace period while PutEvents still fails
    sweep = _sweeper()
    with pytest.raises(EventPublishError, match="3 job event"):
        sweep.run(later)
    # Then it tried every job and still expired the upload, whose event is now owed too
    assert put_events_faults.calls - calls_before == 3
    assert sweep.summary["expired"] == 1
    assert sweep.summary["eventsFailed"] == 3
    assert pipeline.job_item(expired).status == "EXPIRED"
    # When EventBridge recovers / Then the next sweep publishes each owed event once
    put_events_faults.clear()
    summary = _sweeper().run(later + timedelta(minutes=10))
    assert summary["eventsPublished"] == 3
    for job_id in [*owed, expired]:
        assert len(job_events.events(job_id)) == 1, job_id
        assert pipeline.job_item(job_id).event_pending == ""


def test_r27_the_sweepers_expired_outcome_publishes_job_expired(pipeline, job_events):
    # Given an upload that never came
    job_id = _expired_upload(pipeline)
    # When the scheduled sweeper runs
    sweeper.handler({}, context())
    # Then the job's event is "Job Expired", with the reason and no digest
    [event] = job_events.events(job_id)
    assert event["detail-type"] == "Job Expired"
    assert event["detail"]["status"] == "EXPIRED"
    assert event["detail"]["eventId"] == f"{job_id}:EXPIRED"
    assert [e["code"] for e in event["detail"]["errors"]] == ["UPLOAD_EXPIRED"]
    assert "sha256" not in event["detail"]


def test_r27_the_sweepers_processing_stuck_outcome_publishes_job_failed(pipeline, job_events):
    # Given a job claimed an hour ago, already re-driven once, and silent since
    job_id = _expired_upload(pipeline)
    store = _store(pipeline)
    then = utc_now() - timedelta(hours=1)
    assert store.claim(job_id, "etag-1", upload_key(job_id), then) == 1
    seen = store.get(job_id)
    assert store.mark_redriven(job_id, seen.updated_at, then)
    # When the scheduled sweeper runs
    sweeper.handler({}, context())
    # Then the job failed PROCESSING_STUCK and published "Job Failed"
    [event] = job_events.events(job_id)
    assert event["detail-type"] == "Job Failed"
    assert event["detail"]["errors"][-1]["code"] == "PROCESSING_STUCK"


def test_r27_a_split_job_run_twice_by_its_finisher_publishes_one_event(
    aws_endpoint, job_events, symbol
):
    # Given a split file whose steps all ran
    s3, dynamodb = clients.s3(), clients.dynamodb()
    settings = split_support.settings_for(split=True, part_bytes=200)
    recorder = split_support.Recorder()
    job_id, ref = split_support.new_job(s3, dynamodb, good_file(symbol, 30))
    assert split_support.processor(settings, s3, dynamodb, recorder).handle(ref)["outcome"] == (
        "split"
    )
    job_input = split_support.execution_input(recorder, job_id)
    parts = len(ObjectStore(s3, NAMES.bucket).get_json(job_input["partsKey"]))
    split_support.run_parts(settings, s3, dynamodb, job_input, list(range(parts)))
    split_support.run_partitions(settings, s3, dynamodb, job_input)
    # When the finisher runs twice (a redelivered task)
    first = split_support.finish(settings, s3, dynamodb, job_input)
    second = split_support.finish(settings, s3, dynamodb, job_input)
    # Then the job finished once and published one event
    assert (first["outcome"], second["outcome"]) == ("processed", "duplicate")
    [event] = job_events.events(job_id)
    assert event["detail"]["rows"]["accepted"] == 30
    assert parts > 1


def test_fails_r27_a_split_finisher_whose_publish_fails_is_retried_and_publishes(
    aws_endpoint, job_events, put_events_faults, symbol
):
    # Given a split file whose steps ran, and a PutEvents that fails once
    s3, dynamodb = clients.s3(), clients.dynamodb()
    settings = split_support.settings_for(split=True, part_bytes=200)
    recorder = split_support.Recorder()
    job_id, ref = split_support.new_job(s3, dynamodb, good_file(symbol, 30))
    split_support.processor(settings, s3, dynamodb, recorder).handle(ref)
    job_input = split_support.execution_input(recorder, job_id)
    parts = len(ObjectStore(s3, NAMES.bucket).get_json(job_input["partsKey"]))
    split_support.run_parts(settings, s3, dynamodb, job_input, list(range(parts)))
    split_support.run_partitions(settings, s3, dynamodb, job_input)
    put_events_faults.fail_with_error(times=1)
    # When the finisher runs / Then the task fails, so the state machine retries it
    with pytest.raises(EventPublishError):
        split_support.finish(settings, s3, dynamodb, job_input)
    store = JobStore(dynamodb, NAMES.jobs_table)
    assert store.get(job_id).event_pending == "COMPLETED"
    # When the retry runs / Then the event is out once and the split objects are cleaned up
    assert split_support.finish(settings, s3, dynamodb, job_input)["outcome"] == "duplicate"
    assert len(job_events.events(job_id)) == 1
    assert store.get(job_id).event_pending == ""
    assert not s3.list_objects_v2(Bucket=NAMES.bucket, Prefix=f"split/{job_id}/").get("Contents")


def test_r27_a_part_failure_publishes_job_failed_and_its_redrive_job_completed(
    aws_endpoint, job_events, symbol
):
    # Given a split job ended by PART_FAILED
    s3, dynamodb = clients.s3(), clients.dynamodb()
    settings = split_support.settings_for(split=True, part_bytes=200)
    recorder = split_support.Recorder()
    job_id, ref = split_support.new_job(s3, dynamodb, good_file(symbol, 30))
    split_support.processor(settings, s3, dynamodb, recorder).handle(ref)
    job_input = split_support.execution_input(recorder, job_id)
    failure = {"Error": "States.TaskFailed", "Cause": '{"errorMessage": "part 0: boom"}'}
    split_support.finish(settings, s3, dynamodb, job_input, outcome="FAILED", failure=failure)
    # When the execution is redriven and completes
    parts = len(ObjectStore(s3, NAMES.bucket).get_json(job_input["partsKey"]))
    split_support.run_parts(settings, s3, dynamodb, job_input, list(range(parts)))
    split_support.run_partitions(settings, s3, dynamodb, job_input)
    split_support.finish(settings, s3, dynamodb, job_input)
    # Then each final status published its own event, each once
    events = job_events.events(job_id)
    assert [(e["detail-type"], e["detail"]["eventId"]) for e in events] == [
        ("Job Failed", f"{job_id}:FAILED"),
        ("Job Completed", f"{job_id}:COMPLETED"),
    ]
