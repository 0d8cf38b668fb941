"""The local API front does what the template's API Gateway does, before any handler runs."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from local_api import Api, handler, sign
from werkzeug.test import Client, TestResponse

from local.apimodel import Throttle, api_from_template
from local.cfn import Template
from local.gateway import ApiGateway, TokenBucket, render_template
from local.iam import LocalCredentials, Principal, SigV4Verifier, ensure_credentials_file
from local.pipeline import LocalPipeline

REGION = "eu-west-1"


def _upload_function(pipeline: LocalPipeline) -> str:
    assert pipeline.lambdas is not None
    return pipeline.lambdas.by_handler(handler("upload")).logical_id


_UPLOAD = {"fileName": "a.csv", "fileType": "csv"}


def _assert_gateway_error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["correlationId"] == response.headers["X-Correlation-Id"]
    uuid.UUID(body["correlationId"])
    return str(body["correlationId"])


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"fileType": "csv"}, id="missing-fileName"),
        pytest.param({"fileName": "a.csv", "fileType": "xlsx"}, id="wrong-fileType"),
        pytest.param({"fileName": "a.csv", "fileType": "csv", "extra": 1}, id="extra-field"),
        # R28: a digest is 64 hex digits, a row count a non-negative integer
        pytest.param({**_UPLOAD, "sha256": "a" * 63}, id="sha256-63-digits"),
        pytest.param({**_UPLOAD, "sha256": "a" * 65}, id="sha256-65-digits"),
        pytest.param({**_UPLOAD, "sha256": "g" * 64}, id="sha256-not-hex"),
        pytest.param({**_UPLOAD, "sha256": "a" * 64 + "\n"}, id="sha256-trailing-newline"),
        pytest.param({**_UPLOAD, "sha256": 7}, id="sha256-not-a-string"),
        pytest.param({**_UPLOAD, "expectedRows": -1}, id="expectedRows-negative"),
        pytest.param({**_UPLOAD, "expectedRows": 1.5}, id="expectedRows-fraction"),
        pytest.param({**_UPLOAD, "expectedRows": "3"}, id="expectedRows-string"),
        pytest.param({**_UPLOAD, "expectedRows": None}, id="expectedRows-null"),
    ],
)
def test_fails_r4_r5_invalid_upload_body_is_rejected_by_the_gateway_before_the_handler(
    pipeline: LocalPipeline, api: Api, body: dict[str, Any]
) -> None:
    # Given the upload handler's invocation count
    assert pipeline.lambdas is not None
    function = _upload_function(pipeline)
    before = pipeline.lambdas.invocations[function]

    # When a body that the template's model rejects is posted
    response = api.post("/upload", json=body)

    # Then the gateway answers 400 in the error shape of its gateway response, with a
    # correlation id, and the handler never ran
    _assert_gateway_error(response, 400, "BAD_REQUEST_BODY")
    assert pipeline.lambdas.invocations[function] == before


@pytest.mark.parametrize(
    "declared",
    [
        pytest.param({"sha256": "0123456789abcdefABCDEF" + "0" * 42}, id="sha256-mixed-case"),
        pytest.param({"expectedRows": 0}, id="expectedRows-zero"),
        pytest.param({"sha256": "f" * 64, "expectedRows": 10**12}, id="both"),
    ],
)
def test_r28_declared_digest_and_row_count_pass_the_gateway(
    api: Api, declared: dict[str, Any]
) -> None:
    # When an upload declares what the contract allows / Then the job is created with it
    response = api.post("/upload", json={**_UPLOAD, **declared})
    assert response.status_code == 201, response.text
    job = api.get(f"/status/{response.json()['jobId']}").json()
    if "sha256" in declared:
        assert job["expectedSha256"] == declared["sha256"].lower()
    if "expectedRows" in declared:
        assert job["expectedRows"] == declared["expectedRows"]


def test_fails_r4_body_that_is_not_json_is_rejected_before_the_handler(
    pipeline: LocalPipeline, api: Api
) -> None:
    # Given the upload handler's invocation count
    assert pipeline.lambdas is not None
    function = _upload_function(pipeline)
    before = pipeline.lambdas.invocations[function]

    # When the body is not JSON
    response = api.post("/upload", data=b"{not json", headers={"Content-Type": "application/json"})

    # Then the gateway rejects it and the handler never ran
    _assert_gateway_error(response, 400, "BAD_REQUEST_BODY")
    assert pipeline.lambdas.invocations[function] == before


def _nested(depth: int, opening: str, closing: str) -> bytes:
    return ('{"x":' + opening * depth + closing * depth + "}").encode()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_nested(10_000, "[", "]"), id="arrays"),
        pytest.param(_nested(10_000, '{"a":', "}"), id="objects"),
    ],
)
def test_fails_r4_r5_body_nested_10000_levels_deep_is_rejected_by_the_gateway(
    pipeline: LocalPipeline, api: Api, body: bytes
) -> None:
    # Given the upload handler's invocation count
    assert pipeline.lambdas is not None
    function = _upload_function(pipeline)
    before = pipeline.lambdas.invocations[function]

    # When a body nested deeper than a JSON parser recurses is posted
    response = api.post("/upload", data=body, headers={"Content-Type": "application/json"})

    # Then the gateway answers 400 in the error shape, as for any invalid body, with a
    # correlation id, and the handler never ran
    assert response.headers["Content-Type"] == "application/json"
    correlation_id = _assert_gateway_error(response, 400, "BAD_REQUEST_BODY")
    assert correlation_id == response.headers["x-amzn-RequestId"]
    assert pipeline.lambdas.invocations[function] == before


def test_fails_r5_unknown_route_answers_like_api_gateway(api: Api) -> None:
    # When a path that the API does not have is called
    response = api.get("/jobs")

    # Then API Gateway's 403 comes back in the SPEC error shape
    _assert_gateway_error(response, 403, "MISSING_AUTHENTICATION_TOKEN")


def test_fails_r5_handler_error_honours_the_client_correlation_id(api: Api) -> None:
    # When a malformed job id is sent with a correlation id
    response = api.get("/status/not-a-uuid", headers={"X-Correlation-Id": "trace-42"})

    # Then the handler's 400 carries that id in the body and the header
    assert response.status_code == 400
    assert response.json()["correlationId"] == "trace-42"
    assert response.headers["X-Correlation-Id"] == "trace-42"


def test_r1_valid_upload_reaches_the_handler_with_a_proxy_event(
    pipeline: LocalPipeline, api: Api
) -> None:
    # Given the upload handler's invocation count
    assert pipeline.lambdas is not None
    function = _upload_function(pipeline)
    before = pipeline.lambdas.invocations[function]

    # When a valid body is posted
    response = api.post("/upload", json={"fileName": "a.csv", "fileType": "csv"})

    # Then the handler ran once and answered 201
    assert response.status_code == 201, response.text
    assert pipeline.lambdas.invocations[function] == before + 1


_OK = {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}


@pytest.fixture(scope="module")
def credentials(tmp_path_factory: pytest.TempPathFactory) -> LocalCredentials:
    path = tmp_path_factory.mktemp("iam") / "credentials"
    ensure_credentials_file(path, account_id="123456789012", region=REGION)
    return LocalCredentials(path)


@pytest.fixture(scope="module")
def principal(credentials: LocalCredentials) -> Principal:
    return credentials.principal("local")


def _front(
    template_body: dict[str, Any],
    seen: list[dict[str, Any]],
    *,
    result: Any = _OK,
    openapi: Callable[[str], dict[str, Any]] | None = None,
    credentials: LocalCredentials | None = None,
) -> Client:
    """The gateway of a template, with an integration that records its events and answers
    ``result``."""

    def invoke(arn: str, event: dict[str, Any]) -> Any:
        seen.append(event)
        return result

    api = api_from_template(Template(template_body, stack_name="test"))
    iam = SigV4Verifier(credentials, REGION)
    return Client(ApiGateway(api, invoke, openapi=openapi, iam=iam))


def _get(client: Client, principal: Principal, path: str, **headers: str) -> TestResponse:
    """A GET signed as ``principal``, as the werkzeug test client sends it (host localhost)."""
    signed = sign(principal, "GET", "http://localhost" + path, headers=headers)
    return client.get(path, headers=signed)


def _assert_error_shape(response: TestResponse, status: int, code: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/json"
    body = response.get_json()
    assert body["error"]["code"] == code
    assert body["correlationId"] == response.headers["X-Correlation-Id"]
    assert body["correlationId"] == response.headers["x-amzn-RequestId"]


def test_fails_r5_fault_inside_the_gateway_is_the_5xx_gateway_response_not_a_html_page(
    dev_template: dict[str, Any],
) -> None:
    # Given a gateway whose own work (here, rendering the OpenAPI document) raises
    def broken_document(server_url: str) -> dict[str, Any]:
        raise RuntimeError("emulator bug")

    client = _front(dev_template, [], openapi=broken_document)

    # When the request reaches that code
    response = client.get("/openapi.json")

    # Then the client gets the template's DEFAULT_5XX response in the error shape
    _assert_error_shape(response, 500, "DEFAULT_5XX")


@pytest.mark.parametrize(
    "result",
    [
        pytest.param({"statusCode": 200, "headers": 5, "body": "{}"}, id="headers-not-a-map"),
        pytest.param({"statusCode": 200, "multiValueHeaders": {"A": "b"}}, id="values-not-lists"),
        pytest.param({"statusCode": 200, "body": {"a": 1}}, id="body-not-a-string"),
        pytest.param({"body": "{}"}, id="no-status-code"),
    ],
)
def test_fails_r5_malformed_lambda_proxy_response_is_a_502_in_the_error_shape(
    dev_template: dict[str, Any],
    result: dict[str, Any],
    credentials: LocalCredentials,
    principal: Principal,
) -> None:
    # Given an integration that answers what API Gateway cannot map to an HTTP response
    client = _front(dev_template, [], result=result, credentials=credentials)

    # When it is called
    response = _get(client, principal, "/results/AAPL")

    # Then API Gateway's 502 comes back in the error shape
    _assert_error_shape(response, 502, "API_CONFIGURATION_ERROR")


def test_r3_proxy_event_has_the_rest_v1_shape(
    dev_template: dict[str, Any], credentials: LocalCredentials, principal: Principal
) -> None:
    # Given the gateway of the dev template with a recording integration
    seen: list[dict[str, Any]] = []
    client = _front(dev_template, seen, credentials=credentials)

    # When a results query with a repeated parameter is sent
    response = _get(client, principal, "/results/AAPL?limit=5&order=asc&order=desc", **{"X-A": "1"})

    # Then the handler receives the REST v1 proxy event
    assert response.status_code == 200
    (event,) = seen
    assert event["resource"] == "/results/{symbol}"
    assert event["path"] == "/results/AAPL"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"symbol": "AAPL"}
    assert event["queryStringParameters"] == {"limit": "5", "order": "desc"}
    assert event["multiValueQueryStringParameters"]["order"] == ["asc", "desc"]
    assert event["headers"]["X-A"] == "1"
    assert event["multiValueHeaders"]["X-A"] == ["1"]
    assert event["requestContext"]["requestId"] == response.headers["x-amzn-RequestId"]
    assert event["requestContext"]["stage"] == "v1"
    assert event["body"] is None


def test_fails_r6_throttling_follows_the_template_stage_settings(
    dev_template: dict[str, Any], credentials: LocalCredentials, principal: Principal
) -> None:
    # Given the dev template with the stage limited to a burst of 2 requests
    template = copy.deepcopy(dev_template)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::ApiGateway::Stage":
            for setting in resource["Properties"]["MethodSettings"]:
                setting.update(ThrottlingRateLimit=0.001, ThrottlingBurstLimit=2)
    seen: list[dict[str, Any]] = []
    client = _front(template, seen, credentials=credentials)

    # When three requests arrive at once
    statuses = [_get(client, principal, "/results/AAPL").status_code for _ in range(3)]

    # Then the third gets a 429 in the SPEC error shape, and never reaches the handler
    assert statuses == [200, 200, 429]
    assert len(seen) == 2
    throttled = _get(client, principal, "/results/AAPL")
    body = throttled.get_json()
    assert body["error"]["code"] == "THROTTLED"
    assert body["correlationId"] == throttled.headers["X-Correlation-Id"]


def test_r6_token_bucket_serves_the_burst_then_refills_at_the_rate() -> None:
    # Given a token bucket of rate 1000/s and burst 2000, on a clock that stands still
    now = [0.0]
    bucket = TokenBucket(Throttle(rate=1000, burst=2000), clock=lambda: now[0])

    # When 2001 requests arrive in the same instant, then one more after 1 ms
    granted = sum(bucket.take() for _ in range(2001))
    now[0] += 0.001
    refilled = bucket.take()

    # Then the burst is served, the next is refused, and the rate refills one token per ms
    assert granted == 2000
    assert refilled is True
    assert bucket.take() is False


def test_r29_api_is_read_from_the_template(dev_template: dict[str, Any]) -> None:
    # When the REST API is read from the dev template
    api = api_from_template(Template(dev_template, stack_name="test"))

    # Then routes, validators, models, gateway responses and throttling come from it
    routes = {(r.http_method, r.resource_path): r for r in api.routes}
    upload = routes[("POST", "/upload")]
    assert upload.validate_body
    assert upload.models["application/json"]["required"] == ["fileName", "fileType"]
    assert routes[("GET", "/status/{jobId}")].required_parameters == ("method.request.path.jobId",)
    assert {"DEFAULT_4XX", "DEFAULT_5XX"} <= set(api.gateway_responses)
    assert api.stage_throttle == Throttle(rate=1000.0, burst=2000)


def test_gateway_response_template_substitutes_context_variables_only() -> None:
    # Given a gateway response template that also tries VTL, which API Gateway does not run
    # in gateway responses (it only substitutes variable values)
    template = (
        '{"code": "$context.error.responseType", "message": $context.error.messageString, '
        '"id": "${context.requestId}", "js": "$util.escapeJavaScript($context.error.message)", '
        '"h": "$input.params(\'X-Trace\')", "unknown": "$context.nothing"}'
        "#if(true)x#end"
    )
    context = {
        "error.responseType": "BAD_REQUEST_BODY",
        "error.messageString": '"Invalid \\"body\\""',
        "error.message": "Invalid",
        "requestId": "r-1",
    }

    # When it is rendered
    text = render_template(template, context)

    # Then $context variables are substituted; VTL and unknown variables stay literal
    assert text == (
        '{"code": "BAD_REQUEST_BODY", "message": "Invalid \\"body\\"", "id": "r-1", '
        '"js": "$util.escapeJavaScript(Invalid)", "h": "$input.params(\'X-Trace\')", '
        '"unknown": "$context.nothing"}#if(true)x#end'
    )


def test_fails_r5_gateway_validation_error_carries_the_request_id_not_the_client_id(
    api: Api,
) -> None:
    # Given a client that sends its own correlation id
    client_id = "trace-42"

    # When API Gateway itself rejects the request body
    response = api.post(
        "/upload", json={"fileType": "csv"}, headers={"X-Correlation-Id": client_id}
    )

    # Then the gateway response carries API Gateway's request id, the same in body and
    # header (a gateway response template cannot read request headers), not the client's id
    correlation_id = _assert_gateway_error(response, 400, "BAD_REQUEST_BODY")
    assert correlation_id == response.headers["x-amzn-RequestId"]
    assert correlation_id != client_id


def test_r5_gateway_error_exposes_the_correlation_header_to_browsers(
    dev_template: dict[str, Any],
) -> None:
    # Given the gateway of the dev template (which allows one browser origin)
    seen: list[dict[str, Any]] = []
    client = _front(dev_template, seen)

    # When a browser calls a route that does not exist
    response = client.get("/jobs", headers={"Origin": "http://localhost:3000"})

    # Then the gateway error allows the origin and exposes the correlation header
    assert response.status_code == 403
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert response.headers["Access-Control-Expose-Headers"] == "X-Correlation-Id"
    assert response.get_json()["correlationId"] == response.headers["X-Correlation-Id"]


def test_cors_preflight_is_answered_by_the_template_mock_integration(
    dev_template: dict[str, Any],
) -> None:
    # Given the gateway of the dev template (which allows one browser origin)
    seen: list[dict[str, Any]] = []
    client = _front(dev_template, seen)

    # When a browser sends a preflight for POST /upload
    response = client.options(
        "/upload",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
    )

    # Then the MOCK integration's status and headers answer it, and no function runs
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert "X-Correlation-Id" in response.headers["Access-Control-Allow-Headers"]
    assert response.headers["Access-Control-Expose-Headers"] == "X-Correlation-Id"
    assert seen == []
