"""The job record: a job item of the jobs table as the code reads it (`Job`), and the one
mapping of a job to its public shape (`public_fields`), which the `/status` body, the job event's
detail and the item a new job is stored as all start from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from runtime.contract import EVENT_PENDING_ATTRIBUTE, FINAL_STATUSES, ROW_COUNTS, JobStatus

__all__ = ["Job", "earlier_attempts", "iso", "no_rows", "public_fields", "utc_now"]

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


def public_fields(job: Job) -> dict[str, Any]:
    """The job as it shows outside the function, under its item's attribute names: what the
    `/status` body and the job event's detail both carry (each adds its own fields), with every
    row count (zero until rows are read) and the file's digest once a pass computed it."""
    rows = no_rows()
    rows.update(job.rows)
    fields: dict[str, Any] = {
        "jobId": job.job_id,
        "status": str(job.status),
        "fileName": job.file_name,
        "createdAt": job.created_at,
        "updatedAt": job.updated_at,
        "rows": rows,
        "errors": job.errors,
        "warnings": job.warnings,
    }
    if job.sha256:
        fields["sha256"] = job.sha256
    return fields
