"""The split path's changes of a job (R23, R24): the planner (in the processor) hands the job to
one execution, `parse_part` records file-level failures and progress, `write_partition` its
signs of life; the finisher ends the job through `JobTable.finish` with `split`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime.contract import JobStatus
from runtime.dal.jobs.record import iso
from runtime.dal.jobs.table import JobTable

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["SplitJobs"]


class SplitJobs(JobTable):
    """A split job's state: its execution's attempt, its earliest fatal line, its progress."""

    def start_split(
        self,
        job_id: str,
        etag: str,
        *,
        attempt: int,
        parts_total: int,
        fatal: dict[str, Any] | None,
        now: datetime,
        sha256: str,
    ) -> bool:
        """Record that `attempt` splits the file (once per job): the execution it starts is the
        only one that may finish the job. `sha256`, the planner's digest of the whole object,
        stays on the job to its end (R28)."""
        update = (
            "SET splitAttempt = :attempt, partsTotal = :total, partsDone = :zero, "
            "rowsProcessed = :zero, updatedAt = :now, sha256 = :sha256"
        )
        values: dict[str, Any] = {
            ":attempt": attempt,
            ":total": parts_total,
            ":zero": 0,
            ":now": iso(now),
            ":processing": JobStatus.PROCESSING,
            ":etag": etag,
            ":sha256": sha256,
        }
        if fatal is not None:
            update += ", splitFatal = :fatal"
            values[":fatal"] = fatal
        return self._update(
            job_id,
            update,
            "#status = :processing AND etag = :etag AND attempt = :attempt "
            "AND attribute_not_exists(splitAttempt)",
            values,
        )

    def record_fatal(
        self, job_id: str, etag: str, *, split_attempt: int, fatal: dict[str, Any], now: datetime
    ) -> bool:
        """Keep the earliest file-level failure of the split file (the one a single pass meets)."""
        return self._update(
            job_id,
            "SET splitFatal = :fatal, updatedAt = :now",
            "attribute_exists(#status) AND etag = :etag AND splitAttempt = :attempt AND "
            "(attribute_not_exists(splitFatal) OR splitFatal.#line > :line)",
            {
                ":fatal": fatal,
                ":now": iso(now),
                ":etag": etag,
                ":attempt": split_attempt,
                ":line": int(fatal["line"]),
            },
            names={"#line": "line"},
        )

    def record_part(
        self, job_id: str, etag: str, *, split_attempt: int, part: int, rows: int, now: datetime
    ) -> bool:
        """R24 progress: one more part done and its rows, counted once however often it runs."""
        return self._update(
            job_id,
            "SET updatedAt = :now ADD partsDone :one, rowsProcessed :rows, partIndexes :index",
            "attribute_exists(#status) AND etag = :etag AND splitAttempt = :attempt "
            "AND NOT contains(partIndexes, :part)",
            {
                ":now": iso(now),
                ":one": 1,
                ":rows": rows,
                ":index": {part},
                ":part": part,
                ":etag": etag,
                ":attempt": split_attempt,
            },
        )

    def touch(self, job_id: str, etag: str, *, split_attempt: int, now: datetime) -> bool:
        """A sign of life of a running split job (the sweeper takes a silent job for stuck)."""
        return self._update(
            job_id,
            "SET updatedAt = :now",
            "#status = :processing AND etag = :etag AND splitAttempt = :attempt",
            {
                ":now": iso(now),
                ":processing": JobStatus.PROCESSING,
                ":etag": etag,
                ":attempt": split_attempt,
            },
        )
