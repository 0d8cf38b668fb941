"""The jobs store's transitions that a race or a repeated event could get wrong: a split job is
never claimed again, and a finished job keeps every warning recorded while it ran."""

from __future__ import annotations

import pytest
import split_support
from runtime_support import NAMES
from split_support import (
    Recorder,
    execution_input,
    finish,
    new_job,
    run_partitions,
    run_parts,
    settings_for,
)

from runtime.contract import JobStatus
from runtime.dal import objects
from runtime.dal.jobs import JobStore, no_rows, utc_now


def make_file(symbol: str, rows: int) -> bytes:
    lines = ["symbol,price,volume,timestamp"]
    lines += [
        f"{symbol},{1 + i % 7}.5,{i},2024-01-01T00:{i // 60:02d}:{i % 60:02d}Z" for i in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def aws(aws_endpoint):
    from runtime import clients

    return clients.s3(), clients.dynamodb()


def _split_job(aws, data):
    s3, dynamodb = aws
    settings = settings_for(split=True, part_bytes=300)
    recorder = Recorder()
    job_id, ref = new_job(s3, dynamodb, data)
    answer = split_support.processor(settings, s3, dynamodb, recorder).handle(ref)
    assert answer["outcome"] == "split"
    return settings, job_id, ref, execution_input(recorder, job_id)


def test_fails_r23_a_split_job_is_never_claimed_again(aws, symbol):
    # Given a split job whose parts have started counting progress
    s3, dynamodb = aws
    settings, job_id, ref, job_input = _split_job(aws, make_file(symbol, 60))
    run_parts(settings, s3, dynamodb, job_input, [0])
    store = JobStore(dynamodb, NAMES.jobs_table)
    before = store.get(job_id)
    assert before is not None and before.parts_done == 1

    # When a repeated event for the same object tries to claim it (the window between the
    # processor's read of the job and its claim)
    claimed = store.claim(job_id, ref.etag, ref.key, utc_now())

    # Then nothing is claimed: the attempt, the progress and the plan's state stay
    after = store.get(job_id)
    assert claimed is None
    assert after is not None
    assert (after.attempt, after.split_attempt, after.parts_done, after.parts_total) == (
        before.attempt,
        before.split_attempt,
        before.parts_done,
        before.parts_total,
    )


def test_fails_r23_a_warning_recorded_while_a_split_job_ran_stays_when_it_finishes(aws, symbol):
    # Given a running split job that recorded a warning (a second file moved to quarantine)
    s3, dynamodb = aws
    settings, job_id, _, job_input = _split_job(aws, make_file(symbol, 60))
    store = JobStore(dynamodb, NAMES.jobs_table)
    moved = objects.quarantine_key(job_id, "other-etag")
    assert store.add_warning(job_id, "FILE_QUARANTINED", "moved", utc_now(), {"key": moved})

    # When the job's steps run and it finishes
    parts = len(objects.ObjectStore(s3, job_input["bucket"]).get_json(job_input["partsKey"]))
    run_parts(settings, s3, dynamodb, job_input, list(range(parts)))
    run_partitions(settings, s3, dynamodb, job_input)
    assert finish(settings, s3, dynamodb, job_input)["outcome"] == "processed"

    # Then the warning is still there
    job = store.get(job_id)
    assert job is not None and job.status == JobStatus.COMPLETED
    assert [(w["code"], w.get("key")) for w in job.warnings] == [("FILE_QUARANTINED", moved)]


def test_fails_r23_a_single_pass_finish_keeps_earlier_warnings_and_adds_its_own(aws, symbol):
    # Given a claimed job with a warning recorded while it ran
    s3, dynamodb = aws
    job_id, ref = new_job(s3, dynamodb, make_file(symbol, 3))
    store = JobStore(dynamodb, NAMES.jobs_table)
    attempt = store.claim(job_id, ref.etag, ref.key, utc_now())
    assert attempt == 1
    assert store.add_warning(job_id, "FILE_QUARANTINED", "moved", utc_now())

    # When the attempt finishes with warnings of its own
    finished = store.finish(
        job_id,
        ref.etag,
        attempt=attempt,
        status=JobStatus.COMPLETED,
        rows=no_rows(),
        errors=[],
        warnings=[{"code": "EXTRA_COLUMNS_IGNORED", "message": "ignored column(s): x"}],
        report_key=None,
        now=utc_now(),
    )

    # Then both are there, the earlier one first
    assert finished is not None
    assert [w["code"] for w in finished.warnings] == ["FILE_QUARANTINED", "EXTRA_COLUMNS_IGNORED"]
