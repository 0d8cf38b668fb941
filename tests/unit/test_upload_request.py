"""`POST /upload` request rules on their own (no AWS)."""

from __future__ import annotations

import json

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


DIGEST = "0123456789abcdef" * 4


@pytest.mark.parametrize(
    "value",
    [DIGEST[:-1], DIGEST + "0", "g" * 64, " " + DIGEST[1:], DIGEST[:-1] + "\n", 12, [DIGEST], ""],
)
def test_fails_r28_sha256_that_is_not_64_hex_digits_is_named(value):
    # Given a declared digest of 63 or 65 digits, not hex, padded, or not a string
    body = json.dumps({"fileName": "t.csv", "fileType": "csv", "sha256": value})
    # When parsed / Then the 400 names the field
    with pytest.raises(BadRequestError) as raised:
        parse_request(body, max_bytes=100)
    assert (raised.value.status_code, raised.value.code) == (400, "INVALID_SHA256")


@pytest.mark.parametrize("value", [-1, 1.5, 3.0, "3", True, False, 2**53, [3], {}])
def test_fails_r28_expected_rows_that_is_not_a_non_negative_integer_is_named(value):
    # Given a declared row count that is negative, a float, a string, a boolean or too large
    body = json.dumps({"fileName": "t.csv", "fileType": "csv", "expectedRows": value})
    # When parsed / Then the 400 names the field
    with pytest.raises(BadRequestError) as raised:
        parse_request(body, max_bytes=100)
    assert (raised.value.status_code, raised.value.code) == (400, "INVALID_EXPECTED_ROWS")


def test_r28_declarations_are_kept_the_digest_lowercase():
    # Given a digest in capitals and row counts at the edges
    for rows in (0, 5, 2**53 - 1):
        body = json.dumps(
            {"fileName": "t.csv", "fileType": "csv", "sha256": DIGEST.upper(), "expectedRows": rows}
        )
        # Then both are parsed, the digest as lowercase hex
        assert parse_request(body, max_bytes=100) == UploadRequest(
            "t.csv", sha256=DIGEST, expected_rows=rows
        )


def test_r28_absent_or_null_declarations_are_none():
    body = '{"fileName": "t.csv", "fileType": "csv", "sha256": null, "expectedRows": null}'
    assert parse_request(body, max_bytes=100) == UploadRequest("t.csv")
