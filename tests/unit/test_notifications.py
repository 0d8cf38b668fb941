"""S3 notifications read with Powertools' `S3Event`, and the sweeper's re-drive event."""

from __future__ import annotations

from runtime.dal.objects import ObjectRef
from runtime.logic.notifications import created_objects, redrive_event


def _record(key: str, event_name: str = "ObjectCreated:Put", source: str = "aws:s3") -> dict:
    return {
        "eventSource": source,
        "eventName": event_name,
        "s3": {"bucket": {"name": "b"}, "object": {"key": key, "eTag": '"x"'}},
    }


def test_r9_event_keys_are_url_decoded():
    # Given a key as S3 encodes it in notifications
    event = {"Records": [_record("incoming/a+b%2Bc.csv")]}
    # Then the decoded key, and the ETag without quotes, are used
    assert created_objects(event) == [ObjectRef("b", "incoming/a b+c.csv", "x")]


def test_test_event_and_other_records_name_no_object():
    # Given the event S3 sends when notifications are configured, and other records
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}
    others = {
        "Records": [
            _record("incoming/a.csv", event_name="ObjectRemoved:Delete"),
            _record("incoming/a.csv", source="aws:sqs"),
        ]
    }
    # Then none of them names a created object
    assert created_objects(test_event) == []
    assert created_objects(others) == []
    assert created_objects({}) == []


def test_redrive_event_reads_back_as_the_same_object():
    # Given an object whose key needs encoding
    ref = ObjectRef("bucket", "incoming/a b+c.csv", "etag-1")
    # When the sweeper's event is read as the processor reads notifications
    # Then it names exactly that object
    assert created_objects(redrive_event(ref)) == [ref]
