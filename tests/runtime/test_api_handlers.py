"""upload and status handlers through API Gateway (REST v1) proxy events."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from runtime_support import MAX_UPLOAD_BYTES, NAMES, api_event, body_of, context

from runtime.handlers import status, upload


def _upload(body, headers=None):
    return upload.handler(
        api_event("POST", "/upload", "/upload", body=body, headers=headers), context()
    )


def _status(job_id, headers=None):
    event = api_event(
        "GET",
        f"/status/{job_id}",
        "/status/{jobId}",
        path_parameters={"jobId": job_id},
        headers=headers,
    )
    return status.handler(event, context())


def _assert_error_shape(response, status_code, code):
    assert response["statusCode"] == status_code
    body = body_of(response)
    assert set(body) == {"error", "correlationId"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert response["multiValueHeaders"]["X-Correlation-Id"] == [body["correlationId"]]


def test_r1_upload_returns_a_presigned_post_pinned_to_the_job_key(pipeline):
    # Given a valid request
    # When the upload handler runs
    response = _upload({"fileName": "trades.csv", "fileType": "csv", "contentLength": 1234})
    # Then the answer is 201 with the SPEC shape
    assert response["statusCode"] == 201
    body = body_of(response)
    assert set(body) == {"jobId", "upload", "expiresAt"}
    assert str(uuid.UUID(body["jobId"])) == body["jobId"]
    fields = body["upload"]["fields"]
    assert fields["key"] == f"incoming/{body['jobId']}.csv"
    # And the policy pins the exact key, caps the size and expires
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert {"key": fields["key"]} in policy["conditions"]
    assert ["content-length-range", 1, MAX_UPLOAD_BYTES] in policy["conditions"]
    assert policy["expiration"].endswith("Z")
    # And the job exists, pending
    job = pipeline.status(body["jobId"])
    assert job["status"] == "PENDING_UPLOAD"
    assert job["rows"] == {"total": 0, "accepted": 0, "rejected": 0, "duplicates": 0}
    assert job["expiresAt"] == body["expiresAt"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (None, "BAD_REQUEST_BODY"),
        ("{not json", "BAD_REQUEST_BODY"),
        ([], "BAD_REQUEST_BODY"),
        ({"fileType": "csv"}, "INVALID_FILE_NAME"),
        ({"fileName": "", "fileType": "csv"}, "INVALID_FILE_NAME"),
        ({"fileName": "a\nb.csv", "fileType": "csv"}, "INVALID_FILE_NAME"),
        ({"fileName": "x" * 256, "fileType": "csv"}, "INVALID_FILE_NAME"),
        ({"fileName": "a.csv", "fileType": "xlsx"}, "INVALID_FILE_TYPE"),
        ({"fileName": "a.csv"}, "INVALID_FILE_TYPE"),
        ({"fileName": "a.csv", "fileType": "csv", "contentLength": "12"}, "INVALID_CONTENT_LENGTH"),
        ({"fileName": "a.csv", "fileType": "csv", "contentLength": 0}, "INVALID_CONTENT_LENGTH"),
        ({"fileName": "a.csv", "fileType": "csv", "contentLength": True}, "INVALID_CONTENT_LENGTH"),
        ({"fileName": "a.csv", "fileType": "csv", "contentLength": 1.5}, "INVALID_CONTENT_LENGTH"),
        (
            {"fileName": "a.csv", "fileType": "csv", "contentLength": MAX_UPLOAD_BYTES + 1},
            "FILE_TOO_LARGE",
        ),
    ],
)
def test_fails_r4_upload_with_a_bad_body(pipeline, body, code):
    # Given / When a request the handler must refuse
    response = _upload(body)
    # Then 400 with the SPEC error shape
    _assert_error_shape(response, 400, code)


def test_fails_r4_body_nested_10000_levels_deep_is_a_400_bad_request_body(pipeline):
    # Given a body nested deeper than any JSON parser's recursion limit
    body = '{"x":' + "[" * 10_000 + "]" * 10_000 + "}"
    # When the upload handler reads it
    response = _upload(body, headers={"X-Correlation-Id": "deep-body-1"})
    # Then it answers 400 in the error shape, with the client's correlation id
    _assert_error_shape(response, 400, "BAD_REQUEST_BODY")
    assert body_of(response)["correlationId"] == "deep-body-1"


def test_r5_client_correlation_id_is_honoured_on_success_and_error(pipeline):
    # Given a client-sent correlation id
    headers = {"x-correlation-id": "client-abc-123"}
    # When a request succeeds and another fails
    ok = _upload({"fileName": "a.csv", "fileType": "csv"}, headers)
    bad = _upload({"fileName": "a.csv"}, headers)
    # Then both echo it; the error body carries it too
    assert ok["multiValueHeaders"]["X-Correlation-Id"] == ["client-abc-123"]
    assert bad["multiValueHeaders"]["X-Correlation-Id"] == ["client-abc-123"]
    assert body_of(bad)["correlationId"] == "client-abc-123"


def test_r5_unsafe_correlation_id_is_replaced_by_the_request_id(pipeline):
    # Given a header that would inject into logs
    event = api_event(
        "POST", "/upload", "/upload", body={"fileName": "a"}, headers={"X-Correlation-Id": "a\nb"}
    )
    # When the request fails
    response = upload.handler(event, context())
    # Then the API Gateway request id is used instead
    assert body_of(response)["correlationId"] == event["requestContext"]["requestId"]


def test_fails_r5_unknown_route_with_the_error_shape(pipeline):
    # Given a path the function does not serve
    event = api_event("GET", "/nope", "/nope")
    # When / Then 404 in the SPEC shape
    _assert_error_shape(upload.handler(event, context()), 404, "NOT_FOUND")


def test_r2_status_of_a_finished_job_has_counts_and_a_report_link(pipeline, symbol):
    # Given a job with one good and one bad row
    data = f"symbol,price,volume,timestamp\n{symbol},1,1,2024-01-01\n{symbol},x,1,2024-01-02\n"
    job_id, _ = pipeline.run(data.encode())
    # When its status is read
    response = _status(job_id)
    # Then the SPEC shape with counts, errors and a short-lived report URL
    assert response["statusCode"] == 200
    body = body_of(response)
    assert {"jobId", "status", "fileName", "createdAt", "updatedAt", "rows", "errors"} <= set(body)
    assert body["status"] == "COMPLETED_WITH_ERRORS"
    assert body["rows"] == {"total": 2, "accepted": 1, "rejected": 1, "duplicates": 0}
    assert body["errors"] == [
        {"code": "INVALID_PRICE", "message": "1 row(s) rejected", "count": 1, "line": 3}
    ]
    assert f"reports/{job_id}.csv" in body["reportUrl"]
    assert f"X-Amz-Expires={NAMES.test_env['REPORT_URL_TTL_SECONDS']}" in body["reportUrl"]


@pytest.mark.parametrize(
    "job_id",
    [
        "not-a-uuid",
        "1234",
        "../../etc",
        "{" + str(uuid.uuid4()) + "}",
        str(uuid.uuid4()).replace("-", ""),
    ],
)
def test_fails_r2_status_with_a_malformed_id(pipeline, job_id):
    _assert_error_shape(_status(job_id), 400, "INVALID_JOB_ID")


def test_fails_r2_status_of_an_unknown_job(pipeline):
    _assert_error_shape(_status(str(uuid.uuid4())), 404, "JOB_NOT_FOUND")


def test_r1_base64_encoded_body_is_decoded(pipeline):
    # Given API Gateway passing the body base64-encoded
    event = api_event("POST", "/upload", "/upload")
    event["body"] = base64.b64encode(b'{"fileName": "b.csv", "fileType": "csv"}').decode()
    event["isBase64Encoded"] = True
    # When / Then the job is created
    assert upload.handler(event, context())["statusCode"] == 201
