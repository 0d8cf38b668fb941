"""The job events of a pipeline (R27), read from an SQS queue a rule on its bus fills.

For the local pipeline the queue is the local run's own (its rule on the bus the functions
publish to, see ``local/job_events.py``), found through the local run's document
``GET <api>/local.json``, and read on its local AWS endpoint. For a deployment there is no such
document: the queue is the consumer's (``pipeline.on_job_finished(targets.SqsQueue(queue))``),
named by its URL and read with the standard AWS credential chain.

Reading consumes: every message printed is deleted from the queue.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import requests

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

__all__ = [
    "LOCAL_DOCUMENT_PATH",
    "EventsError",
    "JobEventsQueue",
    "event_line",
    "queue_region",
]

LOCAL_DOCUMENT_PATH = "/local.json"
"""The local run's document: where its AWS endpoint and job-events queue are."""
_QUEUE_HOST = re.compile(r"^sqs[.-](?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
_MAX_MESSAGES = 10
_LONG_POLL_SECONDS = 20


class EventsError(RuntimeError):
    """No queue to read the job events from, or the queue cannot be read."""


def queue_region(queue_url: str) -> str | None:
    """The region of an SQS queue URL (``https://sqs.<region>.amazonaws.com/<account>/<name>``),
    or None for any other URL."""
    host = urlsplit(queue_url).hostname or ""
    found = _QUEUE_HOST.match(host)
    return found.group("region") if found else None


@dataclass(frozen=True)
class _Location:
    queue_url: str
    endpoint_url: str | None
    region: str
    local: bool


class JobEventsQueue:
    """Receives (and deletes) the job events of one queue."""

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self.queue_url = queue_url

    @classmethod
    def for_queue(
        cls, queue_url: str, *, profile: str | None = None, endpoint_url: str | None = None
    ) -> JobEventsQueue:
        """A deployment's queue, read with the standard credential chain (``profile``)."""
        region = queue_region(queue_url)
        if region is None and endpoint_url is None:
            raise EventsError(
                f"cannot tell the region of {queue_url!r}: pass an SQS queue URL "
                "(https://sqs.<region>.amazonaws.com/<account>/<name>)"
            )
        return cls._open(_Location(queue_url, endpoint_url, region or "us-east-1", False), profile)

    @classmethod
    def discover(cls, api_url: str, *, timeout: float = 10.0) -> JobEventsQueue:
        """The local run's queue, from its document at ``api_url``."""
        url = api_url.rstrip("/") + LOCAL_DOCUMENT_PATH
        try:
            response = requests.get(url, timeout=timeout)
        except requests.ConnectionError as exc:
            raise EventsError(f"cannot reach the API at {api_url}") from exc
        try:
            document = response.json() if response.status_code == 200 else None
        except ValueError:
            document = None
        events = document.get("jobEvents") if isinstance(document, dict) else None
        if not isinstance(document, dict) or not isinstance(events, dict):
            raise EventsError(
                f"{api_url} is not a local pipeline that collects job events "
                f"(no {LOCAL_DOCUMENT_PATH}): pass --queue-url, the URL of an SQS queue that "
                "a rule on the pipeline's bus fills (on_job_finished)"
            )
        location = _Location(
            queue_url=str(events["queueUrl"]),
            endpoint_url=str(document["endpointUrl"]),
            region=str(document["region"]),
            local=True,
        )
        return cls._open(location, None)

    @classmethod
    def _open(cls, location: _Location, profile: str | None) -> JobEventsQueue:
        import botocore.session  # noqa: PLC0415 - botocore is slow to import

        session = botocore.session.Session(profile=profile)
        credentials: dict[str, str] = {}
        if location.local:
            # The emulator accepts any keys: never sign with a real account's.
            credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        client = session.create_client(
            "sqs",
            region_name=location.region,
            endpoint_url=location.endpoint_url,
            **credentials,  # type: ignore[arg-type]
        )
        return cls(cast("SQSClient", client), location.queue_url)

    def receive(self, wait_seconds: int) -> list[dict[str, Any]]:
        """The events of one receive (up to 10, waiting up to ``wait_seconds`` for the first),
        deleted from the queue once parsed. A message that is no JSON object is kept as
        ``{"body": ...}`` so nothing is lost silently."""
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            answer = self._client.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=_MAX_MESSAGES,
                WaitTimeSeconds=wait_seconds,
            )
            found = []
            for message in answer.get("Messages", []):
                found.append(_event_of(str(message.get("Body", ""))))
                self._client.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        except (BotoCoreError, ClientError) as exc:
            raise EventsError(f"cannot read {self.queue_url}: {exc}") from exc
        return found

    def drain(self, wait_seconds: int = 1) -> Iterator[dict[str, Any]]:
        """Every event in the queue now: receives until one comes back empty."""
        while batch := self.receive(wait_seconds):
            yield from batch

    def follow(
        self, stop: threading.Event | None = None, *, wait_seconds: int = _LONG_POLL_SECONDS
    ) -> Iterator[dict[str, Any]]:
        """Every event, as it arrives, until ``stop`` is set (or forever: Ctrl-C)."""
        while stop is None or not stop.is_set():
            yield from self.receive(wait_seconds)


def _event_of(body: str) -> dict[str, Any]:
    try:
        event = json.loads(body)
    except ValueError:
        return {"body": body}
    return event if isinstance(event, dict) else {"body": body}


def event_line(event: dict[str, Any]) -> str:
    """One line per event: time, detail-type, jobId, status, rows, sha256."""
    detail = _mapping(event.get("detail"))
    rows = _mapping(detail.get("rows"))
    counts = " ".join(
        f"{k}={rows.get(k, '-')}" for k in ("total", "accepted", "rejected", "duplicates")
    )
    return "  ".join(
        [
            str(event.get("time", "-")),
            f"{event.get('detail-type', '-')!s:<13}",
            str(detail.get("jobId", "-")),
            f"{detail.get('status', '-')!s:<21}",
            counts,
            f"sha256 {detail.get('sha256') or '-'}",
        ]
    ).rstrip()


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
