"""The single pass's changes of a job (the processor): it claims the job for its object and
leaves a trail of each attempt that failed; it ends the job through `JobTable.finish`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from runtime.contract import JobStatus
from runtime.dal.jobs.record import iso
from runtime.dal.jobs.table import JobTable, is_condition_failure

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["SinglePassJobs"]


class SinglePassJobs(JobTable):
    """PENDING_UPLOAD -> PROCESSING, and the attempts of a running job."""

    def claim(self, job_id: str, etag: str, object_key: str, now: datetime) -> int | None:
        """PENDING_UPLOAD -> PROCESSING for this object, or a retry of the same object.

        Returns the attempt number, or None when the job belongs to another state or object.
        """
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={"jobId": {"S": job_id}},
                UpdateExpression=(
                    "SET #status = :processing, etag = :etag, objectKey = :key, updatedAt = :now, "
                    "partsTotal = :one, partsDone = :zero, rowsProcessed = :zero "
                    "REMOVE partIndexes, splitFatal "
                    "ADD attempt :one"
                ),
                # A job whose file is split belongs to its execution: a repeated event never
                # claims it again (that would reset its progress and plan it anew).
                ConditionExpression=(
                    "#status = :pending OR (#status = :processing AND etag = :etag "
                    "AND attribute_not_exists(splitAttempt))"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":processing": {"S": JobStatus.PROCESSING},
                    ":pending": {"S": JobStatus.PENDING_UPLOAD},
                    ":etag": {"S": etag},
                    ":key": {"S": object_key},
                    ":now": {"S": iso(now)},
                    ":one": {"N": "1"},
                    ":zero": {"N": "0"},
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return None
            raise
        return int(response["Attributes"]["attempt"]["N"])

    def record_attempt_error(
        self, job_id: str, etag: str, *, attempt: int, code: str, message: str, now: datetime
    ) -> bool:
        """Leave a trail on a PROCESSING job before the invocation raises."""
        entry = {"code": code, "message": message[:500], "attempt": attempt, "at": iso(now)}
        return self._update(
            job_id,
            "SET errors = list_append(if_not_exists(errors, :empty), :entry), updatedAt = :now",
            "#status = :processing AND etag = :etag",
            {
                ":empty": [],
                ":entry": [entry],
                ":now": iso(now),
                ":processing": JobStatus.PROCESSING,
                ":etag": etag,
            },
        )
