"""R28 and R27 pieces on their own (no AWS): the digest of a stream however far it was read, the
planner's digest, the control total rule, and the job event's entry and size budget."""

from __future__ import annotations

import hashlib
import json

from runtime.contract import JobStatus
from runtime.dal.jobs import Job
from runtime.logic.events import MAX_DETAIL_BYTES, event_detail, event_entry
from runtime.logic.integrity import (
    CONTROL_TOTAL_MISMATCH,
    DigestingChunks,
    checksum_error,
    control_total,
)
from runtime.logic.split.plan import plan_file

DATA = b"symbol,price,volume,timestamp\n" + b"".join(
    f"S{i},1,{i},2024-01-01T00:00:{i % 60:02d}Z\n".encode() for i in range(200)
)


def _chunks(data: bytes, size: int = 64) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_r28_digest_covers_the_chunks_a_reader_left_unread():
    # Given a reader that stops after two chunks
    stream = DigestingChunks(_chunks(DATA))
    next(stream)
    next(stream)
    # When the digest is finished / Then it is the whole stream's, and stays so
    assert stream.finish() == hashlib.sha256(DATA).hexdigest()
    assert stream.finish() == hashlib.sha256(DATA).hexdigest()


def test_r28_digest_finishing_calls_back_for_each_remaining_chunk():
    seen: list[int] = []
    stream = DigestingChunks(_chunks(DATA))
    next(stream)
    stream.finish(lambda: seen.append(1))
    assert len(seen) == len(_chunks(DATA)) - 1


def test_r28_planner_digest_is_the_whole_files_even_after_a_fatal_line():
    # Given a file that breaks UTF-8 in its middle, read in small chunks
    broken = DATA[:3000] + b"\xff" + DATA[3000:]
    # When planned / Then the plan ends at the failure but its digest covers every byte
    plan = plan_file(_chunks(broken), size=len(broken), part_bytes=1000, partitions=1)
    assert plan is not None
    assert plan.fatal is not None
    assert plan.fatal["code"] == "INVALID_ENCODING"
    assert plan.sha256 == hashlib.sha256(broken).hexdigest()
    clean = plan_file(_chunks(DATA), size=len(DATA), part_bytes=1000, partitions=1)
    assert clean is not None
    assert clean.sha256 == hashlib.sha256(DATA).hexdigest()


def test_r28_checksum_error_names_both_digests():
    error = checksum_error("a" * 64, "b" * 64)
    assert error["code"] == "CHECKSUM_MISMATCH"
    assert "a" * 64 in error["message"]
    assert "b" * 64 in error["message"]


def test_r28_control_total_leaves_a_matching_count_an_undeclared_one_and_a_failed_job():
    errors = [{"code": "INVALID_PRICE", "message": "1 row(s) rejected"}]
    cases = [
        (JobStatus.COMPLETED, [], 10, 10),
        (JobStatus.COMPLETED_WITH_ERRORS, errors, 10, 10),
        (JobStatus.COMPLETED, [], None, 10),
        (JobStatus.FAILED, errors, 3, 10),
    ]
    for status, before, expected, total in cases:
        assert control_total(status, before, expected_rows=expected, total=total) == (
            status,
            before,
        )


def test_fails_r28_control_total_that_differs_is_an_error_appended_last():
    errors = [{"code": "INVALID_PRICE", "message": "1 row(s) rejected"}]
    for status, before in ((JobStatus.COMPLETED, []), (JobStatus.COMPLETED_WITH_ERRORS, errors)):
        after, listed = control_total(status, before, expected_rows=0, total=10)
        assert after == JobStatus.COMPLETED_WITH_ERRORS
        assert listed[:-1] == before
        assert listed[-1] == {
            "code": CONTROL_TOTAL_MISMATCH,
            "message": "the upload declared 0 data row(s), the file has 10",
            "expected": 0,
            "actual": 10,
        }


def _job(**fields: object) -> Job:
    base: dict[str, object] = {
        "job_id": "6f1c3c1e-0000-4000-8000-000000000000",
        "status": JobStatus.FAILED,
        "file_name": "t.csv",
        "created_at": "2026-01-01T00:00:00.000000Z",
        "updated_at": "2026-01-01T00:01:00.000000Z",
        "rows": {"total": 1, "accepted": 1, "rejected": 0, "duplicates": 0},
    }
    return Job(**{**base, **fields})  # type: ignore[arg-type]


def test_r27_entry_of_a_job_event():
    # Given a failed job with a digest, a report and an owner
    job = _job(sha256="c" * 64, report_key="reports/x.csv", owner="cognito:abc")
    # When its entry is built / Then it goes to the bus with the detail-type of its status
    entry = event_entry(job, "arn:aws:events:eu-west-1:123456789012:event-bus/default")
    assert entry["Source"] == "financial-pipeline"
    assert entry["DetailType"] == "Job Failed"
    assert entry["EventBusName"] == "arn:aws:events:eu-west-1:123456789012:event-bus/default"
    assert entry["Resources"] == []
    detail = json.loads(entry["Detail"])
    assert detail["eventId"] == f"{job.job_id}:FAILED"
    assert (detail["sha256"], detail["reportKey"], detail["owner"]) == (
        "c" * 64,
        "reports/x.csv",
        "cognito:abc",
    )


def test_r27_optional_fields_are_absent_when_the_job_has_none():
    detail = event_detail(_job(status=JobStatus.EXPIRED, rows={}))
    assert not {"sha256", "reportKey", "owner", "truncated"} & set(detail)
    assert detail["rows"] == {"total": 0, "accepted": 0, "rejected": 0, "duplicates": 0}


def test_fails_r27_an_oversized_detail_is_cut_to_fit_one_entry_and_says_so():
    # Given a job with thousands of quarantine warnings (one per extra POST of its form)
    warning = {"code": "FILE_QUARANTINED", "message": "x" * 200, "key": "quarantine/k.csv"}
    job = _job(warnings=[warning] * 5000, errors=[{"code": "E", "message": "m"}])
    # When its detail is built / Then it fits, keeps the first entries and counts what it cut
    detail = event_detail(job)
    assert len(json.dumps(detail)) <= MAX_DETAIL_BYTES
    assert detail["errors"] == job.errors
    assert detail["warnings"] == job.warnings[: len(detail["warnings"])]
    assert detail["truncated"] == {"errors": 0, "warnings": 5000 - len(detail["warnings"])}
