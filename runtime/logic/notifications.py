"""S3 notifications: the objects a notification says were created, and the synthetic one the
sweeper sends to re-drive a job. Both directions live here so that the sweeper can build the
event without importing the processor, and the processor reads it back with the same rules.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

# The module itself, not the package: the package imports every event type at cold start.
from aws_lambda_powertools.utilities.data_classes.s3_event import S3Event

from runtime.dal.objects import ObjectRef

REDRIVE_EVENT_NAME = "ObjectCreated:Redrive"


def created_objects(event: dict[str, Any]) -> list[ObjectRef]:
    """The created objects of an S3 notification, keys URL-decoded.

    The test event S3 sends when notifications are configured, and records of any other source
    or event type, name none.
    """
    if event.get("Event") == "s3:TestEvent" or not event.get("Records"):
        return []
    refs = []
    for record in S3Event(event).records:
        if record.get("eventSource") != "aws:s3":
            continue
        if not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        s3 = record.s3
        # Notification keys are URL-encoded (a space arrives as `+`); `S3Object.key` is raw.
        key = urllib.parse.unquote_plus(s3.get_object.key)
        refs.append(ObjectRef(s3.bucket.name, key, s3.get_object.etag.strip('"')))
    return refs


def redrive_event(ref: ObjectRef) -> dict[str, Any]:
    """A notification for one object, in the form S3 sends (key URL-encoded)."""
    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": REDRIVE_EVENT_NAME,
                "s3": {
                    "bucket": {"name": ref.bucket},
                    "object": {"key": urllib.parse.quote_plus(ref.key), "eTag": ref.etag},
                },
            }
        ]
    }
