"""The sweeper's changes of a job: it expires jobs never uploaded, re-drives the lost ones and
fails the stuck ones, from the `ByStatus` index.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from runtime.contract import JOBS_STATUS_INDEX, JobStatus
from runtime.dal.jobs.record import Job, iso
from runtime.dal.jobs.table import JobTable

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["SweeperJobs"]


class SweeperJobs(JobTable):
    """Jobs the sweeper finds by status and what it does to them."""

    def fail_pending(self, job_id: str, code: str, message: str, now: datetime) -> Job | None:
        """PENDING_UPLOAD -> FAILED: the job's file exists but no re-drive ever started it."""
        return self._transition(
            job_id,
            JobStatus.FAILED,
            "SET #status = :failed, errors = :errors, updatedAt = :now",
            "#status = :pending",
            {
                ":failed": JobStatus.FAILED,
                ":errors": [{"code": code, "message": message}],
                ":now": iso(now),
                ":pending": JobStatus.PENDING_UPLOAD,
            },
        )

    def expire(self, job_id: str, now: datetime) -> Job | None:
        return self._transition(
            job_id,
            JobStatus.EXPIRED,
            "SET #status = :expired, updatedAt = :now, errors = list_append("
            "if_not_exists(errors, :empty), :entry)",
            "#status = :pending",
            {
                ":expired": JobStatus.EXPIRED,
                ":now": iso(now),
                ":pending": JobStatus.PENDING_UPLOAD,
                ":empty": [],
                ":entry": [{"code": "UPLOAD_EXPIRED", "message": "no file was uploaded in time"}],
            },
        )

    def mark_redriven(self, job_id: str, seen_updated_at: str, now: datetime) -> bool:
        return self._update(
            job_id,
            "SET redriven = :true, updatedAt = :now",
            "#status = :processing AND updatedAt = :seen AND attribute_not_exists(redriven)",
            {
                ":true": True,
                ":now": iso(now),
                ":processing": JobStatus.PROCESSING,
                ":seen": seen_updated_at,
            },
        )

    def mark_upload_redriven(self, job_id: str, seen_redrives: int, now: datetime) -> bool:
        """Count one more re-drive of a PENDING_UPLOAD job whose file exists but whose
        notification was lost; conditional on the count the sweeper read.

        `updatedAt` is left alone: a pending job keeps its creation time there, which is what
        the sweeper's index query compares against.
        """
        seen = (
            "attribute_not_exists(uploadRedrives)"
            if seen_redrives == 0
            else "uploadRedrives = :seen"
        )
        values: dict[str, Any] = {
            ":next": seen_redrives + 1,
            ":now": iso(now),
            ":pending": JobStatus.PENDING_UPLOAD,
        }
        if seen_redrives:
            values[":seen"] = seen_redrives
        return self._update(
            job_id,
            "SET uploadRedrives = :next, uploadRedrivenAt = :now",
            f"#status = :pending AND {seen}",
            values,
        )

    def fail_stuck(
        self, job_id: str, seen_updated_at: str, code: str, message: str, now: datetime
    ) -> Job | None:
        return self._transition(
            job_id,
            JobStatus.FAILED,
            "SET #status = :failed, updatedAt = :now, errors = list_append("
            "if_not_exists(errors, :empty), :entry)",
            "#status = :processing AND updatedAt = :seen",
            {
                ":failed": JobStatus.FAILED,
                ":now": iso(now),
                ":processing": JobStatus.PROCESSING,
                ":seen": seen_updated_at,
                ":empty": [],
                ":entry": [{"code": code, "message": message}],
            },
        )

    def by_status(self, status: JobStatus, updated_before: str) -> Iterator[Job]:
        """Jobs in `status` last updated before the given time (the status index, paginated).

        The index holds keys only: callers read the job itself before acting on it.
        """
        paginator = self._client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self._table,
            IndexName=JOBS_STATUS_INDEX,
            KeyConditionExpression="#status = :status AND updatedAt < :before",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":status": {"S": status}, ":before": {"S": updated_before}},
        )
        for page in pages:
            for item in page.get("Items", []):
                yield Job.from_item(item)
