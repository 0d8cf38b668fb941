"""The event outbox (R27): every transition to a final status sets `eventPending`
(`JobTable._transition`); the publisher clears it here once EventBridge took the event, and the
sweeper finds the jobs that still owe theirs through the sparse `ByPendingEvent` index.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from runtime.contract import EVENT_PENDING_ATTRIBUTE, FINAL_STATUSES, JOBS_EVENT_INDEX
from runtime.dal.jobs.record import iso
from runtime.dal.jobs.table import JobTable

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["JobOutbox"]


class JobOutbox(JobTable):
    """The job's owed event: cleared once published, and the jobs that still owe one."""

    def event_published(self, job_id: str, status: str, now: datetime) -> bool:
        """Clear the outbox flag once the event of `status` was accepted; False when the flag
        is gone or names another status (another copy was published, or a redrive finished the
        job anew and owes its own event)."""
        return self._update(
            job_id,
            "REMOVE #pending SET eventPublishedAt = :now",
            "attribute_exists(#status) AND #pending = :published",
            {":now": iso(now), ":published": status},
            names={"#pending": EVENT_PENDING_ATTRIBUTE},
        )

    def pending_events(self, updated_before: str) -> Iterator[str]:
        """Ids of final jobs whose event is still owed, last updated before the given time (the
        sparse `ByPendingEvent` index, one query per final status, paginated)."""
        paginator = self._client.get_paginator("query")
        for status in sorted(FINAL_STATUSES):
            pages = paginator.paginate(
                TableName=self._table,
                IndexName=JOBS_EVENT_INDEX,
                KeyConditionExpression="#pending = :status AND updatedAt < :before",
                ExpressionAttributeNames={"#pending": EVENT_PENDING_ATTRIBUTE},
                ExpressionAttributeValues={
                    ":status": {"S": status},
                    ":before": {"S": updated_before},
                },
            )
            for page in pages:
                for item in page.get("Items", []):
                    yield item["jobId"]["S"]
