"""The bucket's layout and the moves between its prefixes; the only module that spells a key.

- `incoming/{jobId}.csv`: the upload, pinned by the job's presigned POST (the processor's
  trigger). One POST can be used several times before it expires, so several files, with
  different ETags, can arrive under that one key.
- `processed/{jobId}.csv`: the file its job processed (deleted after 30 days, R10).
- `reports/{jobId}.csv`: the rejection report, kept as long as its job.
- `split/{jobId}/...`: the intermediate objects of a split file (R23): the parts and partitions
  manifests, per part its rows routed to each partition, its rejected rows and its summary, per
  partition its conflicting repeats and its summary. Deleted when the job ends; a short
  lifecycle rule removes those of an execution that failed and was never redriven.
- `quarantine/{jobId}/{etag}.csv`: a file that no job processed (no job, a second upload, a job
  that had ended or never started). The ETag is part of the key because several such files can
  exist for one job; the bucket's lifecycle deletes them after 30 days. Nothing in the pipeline
  deletes an upload that its job did not process: it is archived or quarantined.

A move is a copy conditional on the ETag the caller saw, then a delete of the source, so a file
replaced meanwhile is never moved under the other's name. A source that is gone or has another
ETag is not an error: the move did not happen and the caller is told so.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from runtime.contract import (
    INCOMING_PREFIX,
    PROCESSED_PREFIX,
    QUARANTINE_PREFIX,
    REPORTS_PREFIX,
    SPLIT_PREFIX,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CHUNK_BYTES = 1024 * 1024
CHECKSUM_FIELD = "x-amz-checksum-sha256"
_UPLOAD_KEY = re.compile(
    re.escape(INCOMING_PREFIX)
    + r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.csv"
).fullmatch
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
_REPLACED = frozenset({"412", "PreconditionFailed"})


def upload_key(job_id: str) -> str:
    return f"{INCOMING_PREFIX}{job_id}.csv"


def processed_key(job_id: str) -> str:
    return f"{PROCESSED_PREFIX}{job_id}.csv"


def report_key(job_id: str) -> str:
    return f"{REPORTS_PREFIX}{job_id}.csv"


def quarantine_key(job_id: str, etag: str) -> str:
    return f"{QUARANTINE_PREFIX}{job_id}/{etag}.csv"


def split_prefix(job_id: str) -> str:
    return f"{SPLIT_PREFIX}{job_id}/"


def parts_manifest_key(job_id: str) -> str:
    return f"{split_prefix(job_id)}parts.json"


def partitions_manifest_key(job_id: str) -> str:
    return f"{split_prefix(job_id)}partitions.json"


def part_summary_key(job_id: str, part: int) -> str:
    return f"{split_prefix(job_id)}parts/{part:06d}/summary.json"


def part_rejects_key(job_id: str, part: int) -> str:
    return f"{split_prefix(job_id)}parts/{part:06d}/rejects.jsonl"


def partition_rows_prefix(job_id: str, partition: int) -> str:
    return f"{split_prefix(job_id)}rows/{partition:06d}/"


def partition_rows_key(job_id: str, partition: int, part: int, chunk: int = 0) -> str:
    """One part's rows of one partition, in chunks when a part holds more than its memory budget.

    Key order is line order: the zero-padded part index orders the parts, and a chunk's key is
    the part's first key with `.{chunk:06d}` appended (a key sorts after its own prefix).
    """
    first = f"{partition_rows_prefix(job_id, partition)}{part:06d}.csv"
    return f"{first}.{chunk:06d}" if chunk else first


def partition_summary_key(job_id: str, partition: int) -> str:
    return f"{split_prefix(job_id)}partitions/{partition:06d}/summary.json"


def partition_conflicts_key(job_id: str, partition: int) -> str:
    return f"{split_prefix(job_id)}partitions/{partition:06d}/conflicts.jsonl"


def job_id_of_upload(key: str) -> str | None:
    """The job id of an upload key, or None for any other key."""
    match = _UPLOAD_KEY(key)
    return match.group(1) if match else None


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """An object as a notification names it; `etag` is empty when the notification had none."""

    bucket: str
    key: str
    etag: str


@dataclass(frozen=True, slots=True)
class Head:
    etag: str
    size: int


class ObjectStore:
    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    def head(self, key: str) -> Head | None:
        """The object's current ETag and size, or None when there is none."""
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in _MISSING:
                return None
            raise
        return Head(head["ETag"].strip('"'), int(head["ContentLength"]))

    def read(
        self, key: str, etag: str, byte_range: tuple[int, int] | None = None
    ) -> Iterator[bytes] | None:
        """The object's bytes (all, or the inclusive `byte_range`) as chunks, if it still has
        this ETag; None when it was replaced or deleted meanwhile."""
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "IfMatch": etag}
        if byte_range is not None:
            request["Range"] = f"bytes={byte_range[0]}-{byte_range[1]}"
        try:
            body = self._client.get_object(**request)
        except ClientError as exc:
            if error_code(exc) in _REPLACED | _MISSING:
                return None
            raise
        chunks: Iterator[bytes] = body["Body"].iter_chunks(CHUNK_BYTES)
        return chunks

    def put(self, key: str, body: bytes, content_type: str = "application/octet-stream") -> None:
        self._client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    def put_json(self, key: str, value: Any) -> None:
        self.put(key, json.dumps(value, separators=(",", ":")).encode(), "application/json")

    def get_bytes(self, key: str) -> bytes | None:
        """A small object's bytes, or None when there is none."""
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except ClientError as exc:
            if error_code(exc) in _MISSING:
                return None
            raise
        data: bytes = body.read()
        return data

    def get_json(self, key: str) -> Any:
        data = self.get_bytes(key)
        return None if data is None else json.loads(data)

    def stream(self, key: str) -> Iterator[bytes]:
        """An intermediate object's bytes as chunks (it must exist)."""
        body = self._client.get_object(Bucket=self.bucket, Key=key)["Body"]
        chunks: Iterator[bytes] = body.iter_chunks(CHUNK_BYTES)
        return chunks

    def keys_under(self, prefix: str) -> list[str]:
        """Every key under `prefix`, in key order."""
        keys: list[str] = []
        for page in self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)

    def delete_split(self, job_id: str) -> int:
        """Delete the job's intermediate objects (1000 per request); how many there were."""
        keys = self.keys_under(split_prefix(job_id))
        for start in range(0, len(keys), 1000):
            self._client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in keys[start : start + 1000]]},
            )
        return len(keys)

    def archive(self, job_id: str, key: str, etag: str) -> bool:
        """Move the file its job processed to `processed/`; False when it is not there."""
        return self._move(key, processed_key(job_id), etag)

    def quarantine(self, job_id: str, key: str, etag: str) -> str | None:
        """Move a file no job processed to quarantine; its new key, or None when it is not
        there (any more) with this ETag."""
        target = quarantine_key(job_id, etag)
        return target if self._move(key, target, etag) else None

    def _move(self, source: str, target: str, etag: str) -> bool:
        try:
            self._client.copy_object(
                Bucket=self.bucket,
                Key=target,
                CopySource={"Bucket": self.bucket, "Key": source},
                CopySourceIfMatch=etag,
            )
        except ClientError as exc:
            if error_code(exc) in _MISSING | _REPLACED:
                return False
            raise
        self._client.delete_object(Bucket=self.bucket, Key=source)
        return True

    def presigned_upload(
        self, job_id: str, max_bytes: int, ttl_seconds: int, *, sha256: str | None = None
    ) -> dict[str, Any]:
        """A presigned POST for the job's upload key, capped at `max_bytes`: `url` and `fields`.

        With `sha256` (hex), the form also carries `x-amz-checksum-sha256` (the digest in
        base64), which S3's POST Object checks against the bytes it receives, refusing a file
        that differs before it is stored ("POST Object", Amazon S3 API Reference,
        https://docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html). Every form field
        but a few must have a condition in the signed policy ("POST Policy",
        https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html), so
        the policy pins that value too, and a client cannot swap it. The processor checks the
        digest again whatever S3 did: emulators (moto) ignore POST policies.
        """
        conditions: list[Any] = [["content-length-range", 1, max_bytes]]
        fields: dict[str, str] = {}
        if sha256:
            checksum = base64.b64encode(bytes.fromhex(sha256)).decode("ascii")
            fields[CHECKSUM_FIELD] = checksum
            conditions.append({CHECKSUM_FIELD: checksum})
        post: Any = self._client.generate_presigned_post(
            Bucket=self.bucket,
            Key=upload_key(job_id),
            Fields=fields or None,
            Conditions=conditions,
            ExpiresIn=ttl_seconds,
        )
        return {"url": post["url"], "fields": post["fields"]}

    def report_url(self, job_id: str, key: str, ttl_seconds: int) -> str:
        """A short-lived GET link to a job's report, downloaded as `report-{jobId}.csv`."""
        return self._client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="report-{job_id}.csv"',
            },
            ExpiresIn=ttl_seconds,
        )
