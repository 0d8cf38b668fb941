"""The rejection report `reports/{jobId}.csv`, streamed to S3 with a multipart upload.

Memory stays at one part (8 MiB) whatever the number of rejected rows. Columns: `line`,
`reason`, `row` (the original cells, re-encoded as one CSV line). A cell that a spreadsheet would
read as a formula (`= + - @`, tab, CR) is prefixed with `'` in the `row` column.
"""

from __future__ import annotations

import csv
import io
import logging
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

PART_SIZE = 8 * 1024 * 1024
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _row_text(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(cells)
    text = buffer.getvalue()
    return "'" + text if text.startswith(_FORMULA_START) else text


class ReportWriter:
    def __init__(self, client: S3Client, bucket: str, key: str) -> None:
        self._client = client
        self._bucket = bucket
        self.key = key
        self._text = io.StringIO()
        self._csv = csv.writer(self._text, lineterminator="\r\n")
        self._csv.writerow(["line", "reason", "row"])
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self.rows = 0

    def add(self, line: int, reason: str, cells: list[str]) -> None:
        self.rows += 1
        self._csv.writerow([line, reason, _row_text(cells)])
        if self._text.tell() >= PART_SIZE:
            self._send_part()

    def _send_part(self) -> None:
        data = self._text.getvalue().encode("utf-8")
        self._text.seek(0)
        self._text.truncate()
        if self._upload_id is None:
            created = self._client.create_multipart_upload(
                Bucket=self._bucket, Key=self.key, ContentType="text/csv; charset=utf-8"
            )
            self._upload_id = created["UploadId"]
        number = len(self._parts) + 1
        response = self._client.upload_part(
            Bucket=self._bucket,
            Key=self.key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=data,
        )
        self._parts.append({"ETag": response["ETag"], "PartNumber": number})

    def close(self) -> str | None:
        """Finish the object; returns its key, or None when no row was rejected."""
        if self.rows == 0:
            self.abort()
            return None
        if self._upload_id is None:
            self._client.put_object(
                Bucket=self._bucket,
                Key=self.key,
                Body=self._text.getvalue().encode("utf-8"),
                ContentType="text/csv; charset=utf-8",
            )
            return self.key
        if self._text.tell():
            self._send_part()
        self._client.complete_multipart_upload(
            Bucket=self._bucket,
            Key=self.key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},  # type: ignore[typeddict-item]
        )
        return self.key

    def abort(self) -> None:
        """Abandon the report. Best effort: it runs while the job fails for another reason, and
        its own failure must not take that reason's place; an upload left open is removed by the
        bucket's incomplete-multipart-upload lifecycle rule."""
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            try:
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=self.key, UploadId=upload_id
                )
            except (ClientError, BotoCoreError) as exc:
                log.warning(
                    "report upload not aborted; the lifecycle rule will remove it",
                    extra={"key": self.key, "error": str(exc)},
                )
