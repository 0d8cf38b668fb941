"""Jobs table access. Every state change is a conditional write, so status never moves backwards
and two concurrent invocations cannot both win a transition.

Every transition to a final status also sets `eventPending` to that status in the same update:
the job's event (R27) is then owed, whatever happens to the function afterwards. The function
publishes it and clears the flag (`event_published`); a job whose flag stays set is found again
by a retry, or by the sweeper through the sparse `ByPendingEvent` index (`pending_events`).
The transitions answer the job as it is after the update, which is what the event describes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from runtime.contract import (
    EVENT_PENDING_ATTRIBUTE,
    FINAL_STATUSES,
    JOBS_EVENT_INDEX,
    JOBS_STATUS_INDEX,
    ROW_COUNTS,
    JobStatus,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def no_rows() -> dict[str, int]:
    """The row counts of a job that has read no row."""
    return dict.fromkeys(ROW_COUNTS, 0)


def earlier_attempts(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The warnings that keep a job's failed earlier attempts visible once it has finished."""
    return [
        {
            "code": "EARLIER_ATTEMPT_FAILED",
            "message": f"attempt {entry['attempt']}: {entry.get('code', '')}",
        }
        for entry in errors
        if "attempt" in entry
    ]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """The fixed-width UTC form used for every time attribute (string order is time order)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, set):
        return sorted(_plain(item) for item in value)
    return value


def _av(value: Any) -> Any:
    return _serializer.serialize(value)


def _is_condition_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


@dataclass(slots=True)
class Job:
    job_id: str
    status: JobStatus
    file_name: str = ""
    created_at: str = ""
    updated_at: str = ""
    expires_at: str = ""
    object_key: str = ""
    etag: str = ""
    attempt: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    report_key: str = ""
    redriven: bool = False
    upload_redrives: int = 0
    upload_redriven_at: str = ""
    owner: str | None = None
    owner_caller: str | None = None
    # R24 progress, and the split path's state (R23): the attempt whose execution runs, the
    # earliest file-level failure any step found, and whether PART_FAILED ended the job.
    parts_total: int = 0
    parts_done: int = 0
    rows_processed: int = 0
    split_attempt: int = 0
    split_fatal: dict[str, Any] | None = None
    part_failed: bool = False
    # R28: the digest computed from the object (lowercase hex), and what POST /upload declared.
    sha256: str = ""
    expected_sha256: str = ""
    expected_rows: int | None = None
    # R27: the final status whose event is not published yet (the outbox flag).
    event_pending: str = ""

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Job:
        data = {key: _plain(_deserializer.deserialize(value)) for key, value in item.items()}
        return cls(
            job_id=data["jobId"],
            status=JobStatus(data["status"]),
            file_name=data.get("fileName", ""),
            created_at=data.get("createdAt", ""),
            updated_at=data.get("updatedAt", ""),
            expires_at=data.get("expiresAt", ""),
            object_key=data.get("objectKey", ""),
            etag=data.get("etag", ""),
            attempt=int(data.get("attempt", 0)),
            rows={key: int(value) for key, value in data.get("rows", {}).items()},
            errors=list(data.get("errors", [])),
            warnings=list(data.get("warnings", [])),
            report_key=data.get("reportKey", ""),
            redriven=bool(data.get("redriven", False)),
            upload_redrives=int(data.get("uploadRedrives", 0)),
            upload_redriven_at=data.get("uploadRedrivenAt", ""),
            owner=data.get("owner"),
            owner_caller=data.get("ownerCaller"),
            parts_total=int(data.get("partsTotal", 0)),
            parts_done=int(data.get("partsDone", 0)),
            rows_processed=int(data.get("rowsProcessed", 0)),
            split_attempt=int(data.get("splitAttempt", 0)),
            split_fatal=data.get("splitFatal"),
            part_failed=bool(data.get("partFailed", False)),
            sha256=data.get("sha256", ""),
            expected_sha256=data.get("expectedSha256", ""),
            expected_rows=(
                int(data["expectedRows"]) if data.get("expectedRows") is not None else None
            ),
            event_pending=data.get(EVENT_PENDING_ATTRIBUTE, ""),
        )


class JobStore:
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
                ExpressionAttributeValues={key: _av(value) for key, value in values.items()},
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
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
                    ":pendingStatus": _av(str(final)),
                    **{key: _av(value) for key, value in values.items()},
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
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
            "jobId": job.job_id,
            "status": job.status,
            "fileName": job.file_name,
            "createdAt": job.created_at,
            "updatedAt": job.updated_at,
            "expiresAt": job.expires_at,
            "attempt": 0,
            "rows": job.rows,
            "errors": [],
            "warnings": [],
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
            Item={key: _av(value) for key, value in item.items()},
            ConditionExpression="attribute_not_exists(jobId)",
        )
        return job

    def get(self, job_id: str) -> Job | None:
        response = self._client.get_item(
            TableName=self._table, Key={"jobId": {"S": job_id}}, ConsistentRead=True
        )
        item = response.get("Item")
        return Job.from_item(item) if item else None

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
            if _is_condition_failure(exc):
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
