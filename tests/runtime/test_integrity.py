"""R28: a declared sha256 is checked before any row is stored (single pass and split file), the
digest is recorded either way, and a declared row count that differs is reported on the job."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
import split_support
from runtime_support import NAMES, api_event, body_of, context

from runtime import clients
from runtime.dal import objects
from runtime.dal.jobs import JobStore
from runtime.handlers import upload
from runtime.logic.integrity import CHECKSUM_MISMATCH, CONTROL_TOTAL_MISMATCH


def trades(symbol: str, rows: int, *, bad: int = 0, note: str = "") -> bytes:
    lines = ["symbol,price,volume,timestamp"]
    lines += [f"{symbol},2.5,{i},2024-03-01T09:{i // 60:02d}:{i % 60:02d}Z" for i in range(rows)]
    lines += [f"{symbol},-1,1,2024-03-02T09:00:{i:02d}Z" for i in range(bad)]
    if note:
        lines.append(note)
    return ("\n".join(lines) + "\n").encode()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def aws(aws_endpoint: str) -> tuple[Any, Any]:
    return clients.s3(), clients.dynamodb()


def _job(dynamodb: Any, job_id: str) -> Any:
    job = JobStore(dynamodb, NAMES.jobs_table).get(job_id)
    assert job is not None
    return job


def _report_exists(s3: Any, job_id: str) -> bool:
    listed = s3.list_objects_v2(Bucket=NAMES.bucket, Prefix=objects.report_key(job_id))
    return bool(listed.get("Contents"))


# -- POST /upload -------------------------------------------------------------------------


def test_r28_upload_stores_what_the_sender_declared_and_signs_the_digest_into_the_post(
    pipeline, symbol
):
    # Given a file, its digest in capitals and its row count
    data = trades(symbol, 4)
    # When the job is created with both
    created = pipeline.create_job(sha256=sha(data).upper(), expectedRows=4)
    # Then the job keeps them (the digest lowercase) and /status shows them
    job = pipeline.job_item(created["jobId"])
    assert (job.expected_sha256, job.expected_rows) == (sha(data), 4)
    body = pipeline.status(created["jobId"])
    assert (body["expectedSha256"], body["expectedRows"]) == (sha(data), 4)
    assert "sha256" not in body  # nothing computed yet
    # And the presigned POST carries the digest for S3, pinned by a policy condition
    fields = created["upload"]["fields"]
    checksum = base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert fields["x-amz-checksum-sha256"] == checksum
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert {"x-amz-checksum-sha256": checksum} in policy["conditions"]
    # And the emulated S3 takes that form
    etag = pipeline.post_file(created["upload"], data)
    pipeline.process(fields["key"], etag)
    assert pipeline.status(created["jobId"])["status"] == "COMPLETED"


def test_r28_upload_without_declarations_has_no_checksum_field(pipeline):
    created = pipeline.create_job()
    assert "x-amz-checksum-sha256" not in created["upload"]["fields"]
    body = pipeline.status(created["jobId"])
    assert not {"sha256", "expectedSha256", "expectedRows"} & set(body)


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"sha256": "a" * 63}, "INVALID_SHA256"),
        ({"sha256": "z" * 64}, "INVALID_SHA256"),
        ({"sha256": 12}, "INVALID_SHA256"),
        ({"expectedRows": -1}, "INVALID_EXPECTED_ROWS"),
        ({"expectedRows": 1.5}, "INVALID_EXPECTED_ROWS"),
        ({"expectedRows": "3"}, "INVALID_EXPECTED_ROWS"),
        ({"expectedRows": True}, "INVALID_EXPECTED_ROWS"),
    ],
)
def test_fails_r28_upload_with_a_bad_declaration_is_a_named_400(pipeline, extra, code):
    # Given a body with a malformed declaration
    body = {"fileName": "t.csv", "fileType": "csv", **extra}
    # When posted / Then the handler answers 400 with the field's code, and creates no job
    response = upload.handler(api_event("POST", "/upload", "/upload", body=body), context())
    assert response["statusCode"] == 400
    assert body_of(response)["error"]["code"] == code


# -- the single pass ----------------------------------------------------------------------


def test_r28_single_pass_records_the_files_digest_when_none_was_declared(pipeline, symbol):
    # Given a file uploaded without a declared digest
    data = trades(symbol, 5)
    # When processed
    job_id, status = pipeline.run(data)
    # Then the job and /status carry the digest of the file's bytes
    assert status["status"] == "COMPLETED"
    assert status["sha256"] == pipeline.job_item(job_id).sha256 == sha(data)


def test_fails_r28_single_pass_with_the_digest_of_another_file_stores_nothing(pipeline, symbol):
    # Given a job that declared the digest of another file, and this file uploaded
    data = trades(symbol, 6, bad=1)
    declared = sha(b"the file the sender meant\n")
    created = pipeline.create_job(sha256=declared)
    key = created["upload"]["fields"]["key"]
    etag = pipeline.post_file(created["upload"], data)
    writes: list[str] = []

    def count(**_: Any) -> None:
        writes.append("write")

    pipeline.dynamodb.meta.events.register("before-call.dynamodb.BatchWriteItem", count)
    # When processed
    try:
        pipeline.process(key, etag)
    finally:
        pipeline.dynamodb.meta.events.unregister("before-call.dynamodb.BatchWriteItem", count)
    # Then the job FAILED with both digests named, no row stored, no report written
    job_id = created["jobId"]
    status = pipeline.status(job_id)
    assert status["status"] == "FAILED"
    [error] = status["errors"]
    assert error["code"] == CHECKSUM_MISMATCH
    assert declared in error["message"]
    assert sha(data) in error["message"]
    assert status["rows"] == {"total": 0, "accepted": 0, "rejected": 0, "duplicates": 0}
    assert status["sha256"] == sha(data)
    assert writes == []
    assert pipeline.rows_of(symbol) == []
    assert not _report_exists(pipeline.s3, job_id)
    assert "reportUrl" not in status
    # And the file is kept, as for any failed job
    assert pipeline.exists(objects.processed_key(job_id))


def test_r28_digest_of_a_file_that_fails_midway_is_the_whole_files(pipeline, symbol, monkeypatch):
    # Given small reads, and a file that breaks UTF-8 early and goes on for many chunks after
    monkeypatch.setattr(objects, "CHUNK_BYTES", 256)
    data = trades(symbol, 2) + b"\xff\xfe,1,1,2024-01-01\n" + trades(symbol + "X", 200)[30:]
    # When processed
    _job_id, status = pipeline.run(data)
    # Then the job failed at that line, and its digest covers every byte of the file
    assert status["errors"][0]["code"] == "INVALID_ENCODING"
    assert status["sha256"] == sha(data)


def test_fails_r28_a_failed_file_keeps_its_error_whatever_the_declared_count(pipeline, symbol):
    # Given a header without a required column, and a declared row count that differs
    created = pipeline.create_job(expectedRows=7)
    etag = pipeline.post_file(created["upload"], b"symbol,price\nAAPL,1\n")
    pipeline.process(created["upload"]["fields"]["key"], etag)
    # Then the file-level failure is what the job says: no control total on a FAILED job
    status = pipeline.status(created["jobId"])
    assert status["status"] == "FAILED"
    assert [e["code"] for e in status["errors"]] == ["MISSING_COLUMN"]


# -- both paths ---------------------------------------------------------------------------


def _both_paths(aws: Any, data: bytes, symbol: str, **declared: Any) -> tuple[dict, dict]:
    """The outcome of the single pass, then of the split path (items removed after each)."""
    s3, dynamodb = aws
    single = split_support.outcome(
        s3, dynamodb, split_support.run_single(s3, dynamodb, data, **declared), [symbol]
    )
    split_support.delete_items(dynamodb, single["items"])
    job_id, answer = split_support.run_split(s3, dynamodb, data, part_bytes=300, **declared)
    assert answer["outcome"] == "split"
    assert answer["parts_total"] > 1
    split = split_support.outcome(s3, dynamodb, job_id, [symbol])
    split_support.delete_items(dynamodb, split["items"])
    return single, split


def test_r28_a_declared_row_count_that_matches_leaves_the_status_on_both_paths(aws, symbol):
    data = trades(symbol, 40, bad=2)
    single, split = _both_paths(aws, data, symbol, expected_rows=42)
    assert single == split
    assert single["status"] == "COMPLETED_WITH_ERRORS"
    assert [e["code"] for e in single["errors"]] == ["PRICE_NOT_POSITIVE"]
    clean_single, clean_split = _both_paths(aws, trades(symbol, 40), symbol, expected_rows=40)
    assert clean_single == clean_split
    assert (clean_single["status"], clean_single["errors"]) == ("COMPLETED", [])


def test_fails_r28_a_declared_row_count_that_differs_is_a_control_total_error_on_both_paths(
    aws, symbol
):
    # Given a clean file of 40 rows declared as 41
    data = trades(symbol, 40)
    # When processed by the single pass and by the split path
    single, split = _both_paths(aws, data, symbol, expected_rows=41)
    # Then both end COMPLETED_WITH_ERRORS with the same CONTROL_TOTAL_MISMATCH, rows stored
    assert single == split
    assert single["status"] == "COMPLETED_WITH_ERRORS"
    assert single["errors"] == [
        {
            "code": CONTROL_TOTAL_MISMATCH,
            "message": "the upload declared 41 data row(s), the file has 40",
            "expected": 41,
            "actual": 40,
        }
    ]
    assert len(single["items"]) == 40
    assert single["sha256"] == sha(data)


def test_fails_r28_a_split_file_with_the_digest_of_another_file_starts_nothing(aws, symbol):
    # Given a file above the split threshold whose job declared another file's digest
    s3, dynamodb = aws
    data = trades(symbol, 60, bad=3)
    declared = sha(trades(symbol, 61))
    settings = split_support.settings_for(split=True, part_bytes=300)
    recorder = split_support.Recorder()
    job_id, ref = split_support.new_job(s3, dynamodb, data, expected_sha256=declared)
    # When the processor plans it
    answer = split_support.processor(settings, s3, dynamodb, recorder).handle(ref)
    # Then the job FAILED before any execution started: no manifest, no row, no report
    job = _job(dynamodb, job_id)
    assert answer["reason"] == CHECKSUM_MISMATCH
    assert recorder.started == []
    assert job.status == "FAILED"
    assert job.errors[0]["code"] == CHECKSUM_MISMATCH
    assert declared in job.errors[0]["message"]
    assert sha(data) in job.errors[0]["message"]
    assert job.sha256 == sha(data)
    assert job.split_attempt == 0
    assert split_support.stored(dynamodb, [symbol]) == []
    assert not s3.list_objects_v2(Bucket=NAMES.bucket, Prefix=objects.split_prefix(job_id)).get(
        "Contents"
    )
    assert not _report_exists(s3, job_id)


def test_r28_a_split_file_with_its_own_digest_completes_and_carries_it(aws, pipeline, symbol):
    # Given a split file whose job declared its right digest
    s3, dynamodb = aws
    data = trades(symbol, 60, bad=3)
    # When the whole split path runs
    job_id, answer = split_support.run_split(
        s3, dynamodb, data, part_bytes=300, expected_sha256=sha(data)
    )
    # Then it completed over several parts, and the job and /status carry the digest
    assert answer["outcome"] == "split"
    assert answer["parts_total"] > 1
    body = pipeline.status(job_id)
    assert body["status"] == "COMPLETED_WITH_ERRORS"
    assert body["sha256"] == body["expectedSha256"] == sha(data)
    assert body["rows"]["accepted"] == 60


def test_r28_a_split_files_digest_covers_the_bytes_after_its_fatal_line(aws, symbol, monkeypatch):
    # Given small reads, and a split file that breaks UTF-8 after its first part
    s3, dynamodb = aws
    monkeypatch.setattr(objects, "CHUNK_BYTES", 256)
    data = trades(symbol, 30) + b"\xff,1,1,2024-01-01\n" + trades(symbol + "X", 100)[30:]
    # When the whole split path runs
    job_id, answer = split_support.run_split(s3, dynamodb, data, part_bytes=300)
    # Then the job failed where the single pass fails, with the digest of the whole file
    job = _job(dynamodb, job_id)
    assert answer["outcome"] == "split"
    assert job.errors[0]["code"] == "INVALID_ENCODING"
    assert job.sha256 == sha(data)
