"""A job's public shape is written once (`runtime.dal.jobs.public_fields`): the `/status` body
(R2) and the job event's detail (R27) both carry it, so they cannot disagree on a job."""

from __future__ import annotations

from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer

from runtime.contract import ROW_COUNTS, JobStatus
from runtime.dal.jobs import Job, public_fields
from runtime.logic.events import event_detail
from runtime.logic.status import status_body

_SHARED = ("jobId", "status", "fileName", "createdAt", "updatedAt", "rows", "errors", "warnings")


def _job(**attributes: Any) -> Job:
    """A job read back from a table item, as every path reads it."""
    item = {
        "jobId": "0b7f2c9e-3f35-4f7d-9a59-0d0b1f6f3a10",
        "status": JobStatus.COMPLETED_WITH_ERRORS,
        "fileName": "trades.csv",
        "createdAt": "2026-01-02T03:04:05.000000Z",
        "updatedAt": "2026-01-02T03:05:06.000000Z",
        "expiresAt": "2026-01-02T03:19:05.000000Z",
        "attempt": 1,
        "rows": {"total": 3, "accepted": 2, "rejected": 1},
        "errors": [{"code": "INVALID_PRICE", "message": "1 row", "count": 1}],
        "warnings": [{"code": "FILE_QUARANTINED", "message": "a second upload"}],
        "owner": "sub:abc",
        **attributes,
    }
    serializer = TypeSerializer()
    return Job.from_item({key: serializer.serialize(value) for key, value in item.items()})


@pytest.mark.parametrize(
    "attributes",
    [
        {},
        {"sha256": "a" * 64, "reportKey": "reports/x.csv"},
        {"status": JobStatus.FAILED, "rows": {}},
        {"status": JobStatus.EXPIRED, "errors": []},
    ],
)
def test_status_and_event_carry_the_same_public_fields(attributes: dict[str, Any]) -> None:
    # Given a job item
    job = _job(**attributes)

    # When its /status body and its event's detail are built
    body = status_body(job, report_url=None)
    detail = event_detail(job)

    # Then both hold the job's public fields, with the same values
    public = public_fields(job)
    assert {key: body[key] for key in public} == public
    assert {key: detail[key] for key in public} == public
    # And the shared fields are all there, every row count included (zero when not counted)
    assert set(_SHARED) <= set(public)
    assert set(public["rows"]) == set(ROW_COUNTS)
    assert public["status"] == str(job.status)
    # And the digest is public exactly when a pass computed it
    assert ("sha256" in body) is ("sha256" in detail) is bool(job.sha256)


def test_public_fields_are_the_item_a_new_job_starts_from() -> None:
    # Given a job read back from an item / When its public fields are taken
    job = _job(rows={"accepted": 2})
    public = public_fields(job)

    # Then they are the item's attributes under the same names, missing counts as zero
    assert public["jobId"] == job.job_id
    assert public["rows"] == {"total": 0, "accepted": 2, "rejected": 0, "duplicates": 0}
    # And the status-only and event-only fields are not part of them
    assert not {"expiresAt", "progress", "reportUrl", "eventId", "reportKey", "owner"} & set(public)
