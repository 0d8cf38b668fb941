"""The split path under faults: retried and failing parts, repeated events and finalizers, a
crash between the last write and the job update, and the file-level rules the planner settles."""

from __future__ import annotations

import json

import pytest
import split_support
from runtime_support import NAMES
from split_support import (
    Recorder,
    delete_items,
    execution_input,
    finish,
    new_job,
    outcome,
    run_partitions,
    run_parts,
    run_single,
    run_split,
    settings_for,
)

from runtime.dal import objects
from runtime.dal.jobs import JobStore
from runtime.logic.split.steps import run_part


def make_file(symbol: str, rows: int, *, conflict_every: int = 0) -> bytes:
    lines = ["symbol,price,volume,timestamp"]
    for i in range(rows):
        lines.append(f"{symbol},{1 + i % 7}.5,{i},2024-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z")
    if conflict_every:
        # Repeats far from their first row: identical ones and conflicting ones.
        for i in range(0, rows, conflict_every):
            lines.append(
                f"{symbol},{1 + i % 7}.5,{i},2024-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z"
            )
            lines.append(f"{symbol},999,{i},2024-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def aws(aws_endpoint):
    from runtime import clients

    return clients.s3(), clients.dynamodb()


def _start(aws, data, part_bytes=300):
    s3, dynamodb = aws
    settings = settings_for(split=True, part_bytes=part_bytes, max_keys=40)
    recorder = Recorder()
    job_id, ref = new_job(s3, dynamodb, data)
    answer = split_support.processor(settings, s3, dynamodb, recorder).handle(ref)
    assert answer["outcome"] == "split"
    return settings, recorder, job_id, ref, execution_input(recorder, job_id)


def test_r23_a_part_that_fails_once_then_succeeds_counts_once(aws, symbol):
    # Given a split file whose first part runs, then runs again (a retry after a lost answer)
    s3, dynamodb = aws
    data = make_file(symbol, 120, conflict_every=9)
    settings, _, job_id, _, job_input = _start(aws, data)
    parts = len(objects.ObjectStore(s3, NAMES.bucket).get_json(job_input["partsKey"]))
    run_parts(settings, s3, dynamodb, job_input, [0, 0, *range(parts)])

    # When the rest runs
    progress = JobStore(dynamodb, NAMES.jobs_table).get(job_id)
    run_partitions(settings, s3, dynamodb, job_input)
    run_partitions(settings, s3, dynamodb, job_input)  # a retried partition rewrites the same
    finish(settings, s3, dynamodb, job_input)

    # Then progress counted each part once, and the outcome is the single pass's
    assert progress.parts_done == parts == progress.parts_total > 1
    assert progress.rows_processed == data.count(b"\n") - 1
    single = run_single(s3, dynamodb, data)
    assert outcome(s3, dynamodb, job_id, [symbol]) == outcome(s3, dynamodb, single, [symbol])


def test_r24_status_of_a_running_split_job_shows_progress(aws, pipeline, symbol):
    # Given a split job with one of its parts done
    s3, dynamodb = aws
    settings, _, job_id, _, job_input = _start(aws, make_file(symbol, 60))
    run_parts(settings, s3, dynamodb, job_input, [0])

    # When its status is read
    body = pipeline.status(job_id)

    # Then it shows the parts and rows so far
    assert body["status"] == "PROCESSING"
    assert body["progress"]["partsDone"] == 1
    assert body["progress"]["partsTotal"] > 1
    assert 0 < body["progress"]["rowsProcessed"] < 60


def test_fails_r23_a_part_that_fails_forever_ends_the_job_part_failed(aws, symbol):
    # Given a split file whose part 1 keeps failing; the state machine catches it
    s3, dynamodb = aws
    settings, _, job_id, _, job_input = _start(aws, make_file(symbol, 60))
    cause = json.dumps({"errorMessage": "part 1: the file was replaced", "errorType": "PartError"})

    # When FailJob runs, twice (a redelivered task)
    failure = {"Error": "PartError", "Cause": cause}
    first = finish(settings, s3, dynamodb, job_input, outcome="FAILED", failure=failure)
    again = finish(settings, s3, dynamodb, job_input, outcome="FAILED", failure=failure)

    # Then the job is FAILED, naming the part and its error, no report, the split objects kept
    job = JobStore(dynamodb, NAMES.jobs_table).get(job_id)
    assert (first["outcome"], again["outcome"]) == ("failed", "duplicate")
    assert job.status == "FAILED"
    assert job.errors[0]["code"] == "PART_FAILED"
    assert "part 1 failed" in job.errors[0]["message"]
    assert "the file was replaced" in job.errors[0]["message"]
    assert not job.report_key
    assert s3.list_objects_v2(Bucket=NAMES.bucket, Prefix=objects.split_prefix(job_id))["KeyCount"]


def test_r23_a_redriven_execution_completes_a_job_that_part_failed_alone(aws, symbol):
    # Given a job ended by PART_FAILED, then its execution redriven: the parts run and succeed
    s3, dynamodb = aws
    data = make_file(symbol, 60)
    settings, _, job_id, _, job_input = _start(aws, data)
    failure = {"Error": "States.TaskFailed", "Cause": '{"errorMessage": "part 0: boom"}'}
    finish(settings, s3, dynamodb, job_input, outcome="FAILED", failure=failure)
    parts = len(objects.ObjectStore(s3, NAMES.bucket).get_json(job_input["partsKey"]))
    run_parts(settings, s3, dynamodb, job_input, list(range(parts)))
    run_partitions(settings, s3, dynamodb, job_input)

    # When the redriven execution's finalizer runs
    answer = finish(settings, s3, dynamodb, job_input)

    # Then the job completes with every row, and says it was redriven
    job = JobStore(dynamodb, NAMES.jobs_table).get(job_id)
    assert answer["outcome"] == "processed"
    assert job.status == "COMPLETED"
    assert job.rows["accepted"] == 60
    assert [w["code"] for w in job.warnings] == ["REDRIVEN_AFTER_PART_FAILED"]


def test_r23_the_same_s3_event_twice_starts_one_execution_and_claims_once(aws, symbol):
    # Given a split job whose execution was started
    s3, dynamodb = aws
    settings, recorder, job_id, ref, _ = _start(aws, make_file(symbol, 60))
    before = JobStore(dynamodb, NAMES.jobs_table).get(job_id)

    # When the same event arrives again
    again = split_support.processor(settings, s3, dynamodb, recorder).handle(ref)

    # Then the one execution stands (the repeated StartExecution is answered "already exists")
    after = JobStore(dynamodb, NAMES.jobs_table).get(job_id)
    assert again["outcome"] == "split"
    assert [s["name"] for s in recorder.started] == [job_id]
    assert after.attempt == before.attempt == after.split_attempt


def test_r23_the_finalizer_run_twice_finishes_once_and_cleans_up(aws, symbol):
    # Given a split job whose steps all ran
    s3, dynamodb = aws
    data = make_file(symbol, 80, conflict_every=7)
    settings, _, job_id, _, job_input = _start(aws, data)
    parts = len(objects.ObjectStore(s3, NAMES.bucket).get_json(job_input["partsKey"]))
    run_parts(settings, s3, dynamodb, job_input, list(range(parts)))
    run_partitions(settings, s3, dynamodb, job_input)

    # When the finalizer runs twice
    first = finish(settings, s3, dynamodb, job_input)
    finished = outcome(s3, dynamodb, job_id, [symbol])
    second = finish(settings, s3, dynamodb, job_input)

    # Then the second only finds the job final; the file is archived and split/ is empty
    assert (first["outcome"], second["outcome"]) == ("processed", "duplicate")
    assert outcome(s3, dynamodb, job_id, [symbol]) == finished
    assert finished["status"] == "COMPLETED_WITH_ERRORS"
    assert not s3.list_objects_v2(Bucket=NAMES.bucket, Prefix=objects.split_prefix(job_id))[
        "KeyCount"
    ]
    assert s3.head_object(Bucket=NAMES.bucket, Key=objects.processed_key(job_id))


def test_r23_a_crash_between_the_last_write_and_the_job_update_is_repaired_by_the_retry(
    aws, symbol
):
    # Given a part whose job update fails after it wrote all its objects (the function crashed)
    s3, dynamodb = aws
    data = make_file(symbol, 60)
    settings, _, job_id, _, job_input = _start(aws, data)
    items = objects.ObjectStore(s3, NAMES.bucket).get_json(job_input["partsKey"])
    event = {k: job_input[k] for k in ("jobId", "bucket", "key", "etag")}

    def crash(**_kwargs):
        raise ConnectionError("crashed before the job update")

    dynamodb.meta.events.register_first("before-call.dynamodb.UpdateItem", crash)
    try:
        with pytest.raises(ConnectionError):
            run_part({**event, "part": items[0]}, settings, s3, dynamodb)
    finally:
        dynamodb.meta.events.unregister("before-call.dynamodb.UpdateItem", crash)

    # When the state machine retries it and the rest runs
    run_parts(settings, s3, dynamodb, job_input, list(range(len(items))))
    run_partitions(settings, s3, dynamodb, job_input)
    finish(settings, s3, dynamodb, job_input)

    # Then every row is stored once and the counts are exact
    job = JobStore(dynamodb, NAMES.jobs_table).get(job_id)
    assert job.status == "COMPLETED"
    assert job.rows == {"total": 60, "accepted": 60, "rejected": 0, "duplicates": 0}


def test_fails_r23_a_line_too_long_after_the_first_part_fails_at_the_single_pass_line(
    aws, symbol, monkeypatch
):
    # Given a file with a line over the limit after many good rows (past the first 1 MiB read)
    s3, dynamodb = aws
    monkeypatch.setitem(split_support.EXTRA_ENVIRONMENT, "MAX_UPLOAD_BYTES", str(10 << 20))
    long_line = f"{symbol},1,1,".encode() + b"x" * (5 << 19) + b"\n"
    data = make_file(symbol, 30000) + long_line + make_file(symbol, 3)

    # When it is processed by the single pass and split
    single = outcome(s3, dynamodb, run_single(s3, dynamodb, data), [symbol])
    delete_items(dynamodb, single["items"])
    job_id, answer = run_split(s3, dynamodb, data, part_bytes=256 * 1024, max_keys=20000)
    split = outcome(s3, dynamodb, job_id, [symbol])

    # Then both fail at the same line with the same rows stored before it
    assert answer["outcome"] == "split"
    assert answer["parts_total"] > 1
    assert single["errors"][0]["code"] == "LINE_TOO_LONG"
    assert split == single
