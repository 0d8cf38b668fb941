"""The jobs table's one class of writes: every state change is a conditional update
(`JobTable._update`), and one to a final status also owes the job's event in the same write
(`JobTable._transition`). Beside them what every path shares: creating a job (the upload),
reading one, a warning on any job, and the end of a running job (`finish`: the single pass, the
split finisher and the file-level refusals before a pass).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from runtime.contract import EVENT_PENDING_ATTRIBUTE, JobStatus
from runtime.dal.jobs.record import Job, iso, no_rows, public_fields

if TYPE_CHECKING:
    from datetime import datetime

    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["JobTable", "attribute_value", "is_condition_failure"]

_serializer = TypeSerializer()


def attribute_value(value: Any) -> Any:
    """`value` as a DynamoDB attribute value."""
    return _serializer.serialize(value)


def is_condition_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class JobTable:
    """The jobs table; the state changes of each path are in the modules beside this one."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def _update(
        self,
        job_id: str,
        update: str,
        condition: str,
        values: dict[str, Any],
        names: dict[str, str] | None = None,
    ) -> bool:
        """Run one conditional update; False when the condition did not hold.

        `#status` is always defined; `names` adds the other placeholders the expressions use
        (DynamoDB refuses a name that no expression uses).
        """
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"jobId": {"S": job_id}},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#status": "status", **(names or {})},
                ExpressionAttributeValues={
                    key: attribute_value(value) for key, value in values.items()
                },
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True

    def _transition(
        self,
        job_id: str,
        final: JobStatus,
        update: str,
        condition: str,
        values: dict[str, Any],
        *,
        names: dict[str, str] | None = None,
    ) -> Job | None:
        """A conditional update to the `final` status that also owes the job's event: the job
        after the update, or None when the condition did not hold.

        `update` is a SET clause followed, optionally, by other clauses; `eventPending` joins the
        SET so that the flag and the status change in one write.
        """
        if not update.startswith("SET "):
            raise ValueError("a transition's update starts with its SET clause")
        update = f"SET #pending = :pendingStatus, {update[len('SET ') :]}"
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={"jobId": {"S": job_id}},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={
                    "#status": "status",
                    "#pending": EVENT_PENDING_ATTRIBUTE,
                    **(names or {}),
                },
                ExpressionAttributeValues={
                    ":pendingStatus": attribute_value(str(final)),
                    **{key: attribute_value(value) for key, value in values.items()},
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return None
            raise
        return Job.from_item(response["Attributes"])

    def create(
        self,
        job_id: str,
        file_name: str,
        now: datetime,
        expires_at: datetime,
        ttl: int,
        *,
        owner: str | None = None,
        owner_caller: str | None = None,
        expected_sha256: str | None = None,
        expected_rows: int | None = None,
    ) -> Job:
        """A PENDING_UPLOAD job; ``owner`` (R25) is stored only when there is one, so that an
        ownerless job is one without the attribute, and so are what the sender declared of its
        file (R28: ``expected_sha256``, lowercase hex, and ``expected_rows``)."""
        job = Job(
            job_id=job_id,
            status=JobStatus.PENDING_UPLOAD,
            file_name=file_name,
            created_at=iso(now),
            updated_at=iso(now),
            expires_at=iso(expires_at),
            rows=no_rows(),
            owner=owner,
            owner_caller=owner_caller,
            expected_sha256=expected_sha256 or "",
            expected_rows=expected_rows,
        )
        item: dict[str, Any] = {
            **public_fields(job),
            "expiresAt": job.expires_at,
            "attempt": 0,
            "ttl": ttl,
        }
        if owner is not None:
            item["owner"] = owner
        if owner_caller is not None:
            item["ownerCaller"] = owner_caller
        if expected_sha256:
            item["expectedSha256"] = expected_sha256
        if expected_rows is not None:
            item["expectedRows"] = expected_rows
        self._client.put_item(
            TableName=self._table,
            Item={key: attribute_value(value) for key, value in item.items()},
            ConditionExpression="attribute_not_exists(jobId)",
        )
        return job

    def get(self, job_id: str) -> Job | None:
        response = self._client.get_item(
            TableName=self._table, Key={"jobId": {"S": job_id}}, ConsistentRead=True
        )
        item = response.get("Item")
        return Job.from_item(item) if item else None

    def add_warning(
        self,
        job_id: str,
        code: str,
        message: str,
        now: datetime,
        details: dict[str, str] | None = None,
    ) -> bool:
        """Append a warning to any existing job; `details` are extra fields of the entry."""
        entry = {"code": code, "message": message, "at": iso(now), **(details or {})}
        return self._update(
            job_id,
            "SET warnings = list_append(if_not_exists(warnings, :empty), :entry), updatedAt = :now",
            "attribute_exists(jobId) AND #status <> :none",
            {
                ":empty": [],
                ":entry": [entry],
                ":now": iso(now),
                ":none": "",
            },
        )

    def finish(
        self,
        job_id: str,
        etag: str,
        *,
        attempt: int,
        status: JobStatus,
        rows: dict[str, int],
        errors: list[dict[str, Any]],
        warnings: list[dict[str, Any]],
        report_key: str | None,
        now: datetime,
        parts_done: int = 1,
        split: bool = False,
        part_failed: bool = False,
        redrive: bool = False,
        sha256: str | None = None,
    ) -> Job | None:
        """PROCESSING -> a final status; only the latest attempt on this object may finish.
        The finished job, or None when another attempt owns it or it ended meanwhile.

        `warnings` are appended to the job's own: a warning recorded while the job ran (such
        as `FILE_QUARANTINED`) stays, since warnings only ever grow.

        `sha256` is the object's digest when this attempt computed it (a split job's was
        recorded by `start_split` and stays).

        A split job (`split`) is finished by the execution its attempt started, so `attempt` is
        compared with `splitAttempt` (a repeated S3 event never claims it again). `part_failed`
        marks a FAILED that only a part's failure caused; with `redrive`, the finalizer of the
        redriven execution of that same attempt may finish such a job once more.
        """
        update = (
            "SET #status = :final, #rows = :rows, errors = :errors, "
            "warnings = list_append(if_not_exists(warnings, :empty), :warnings), "
            "updatedAt = :now, partsDone = :done, rowsProcessed = :processed"
        )
        values: dict[str, Any] = {
            ":final": status,
            ":rows": rows,
            ":errors": errors,
            ":warnings": warnings,
            ":empty": [],
            ":now": iso(now),
            ":processing": JobStatus.PROCESSING,
            ":etag": etag,
            ":attempt": attempt,
            ":done": parts_done,
            ":processed": rows["total"],
        }
        removed = []
        if part_failed:
            update += ", partFailed = :true"
            values[":true"] = True
        else:
            removed.append("partFailed")
        if report_key:
            update += ", reportKey = :report"
            values[":report"] = report_key
        else:
            removed.append("reportKey")
        if sha256:
            update += ", sha256 = :sha256"
            values[":sha256"] = sha256
        update += " REMOVE " + ", ".join(removed)
        state = "#status = :processing"
        if redrive:
            state = "(#status = :processing OR (#status = :failed AND partFailed = :flag))"
            values[":failed"] = JobStatus.FAILED
            values[":flag"] = True
        owner = "splitAttempt" if split else "attempt"
        return self._transition(
            job_id,
            status,
            update,
            f"{state} AND etag = :etag AND {owner} = :attempt",
            values,
            names={"#rows": "rows"},
        )
