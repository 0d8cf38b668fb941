"""`POST /upload` request rules on their own (no AWS)."""

from __future__ import annotations

import pytest

from runtime.errors import BadRequestError
from runtime.logic.upload import UploadRequest, parse_request


@pytest.mark.parametrize(
    "body",
    [None, "", "{not json", "[]", '"text"', "3", '{"x":' + "[" * 10_000 + "]" * 10_000 + "}"],
)
def test_fails_r4_body_that_is_not_a_json_object_is_bad_request_body(body):
    # Given a body that is missing, not JSON, not an object, or nested beyond the parser
    # When parsed / Then the code is the one API Gateway's own model check answers
    with pytest.raises(BadRequestError) as raised:
        parse_request(body, max_bytes=100)
    assert (raised.value.status_code, raised.value.code) == (400, "BAD_REQUEST_BODY")


def test_r1_valid_body_gives_the_file_name():
    body = '{"fileName": "trades.csv", "fileType": "csv", "contentLength": 100}'
    assert parse_request(body, max_bytes=100) == UploadRequest("trades.csv")
