"""The OpenAPI document: one source with the gateway models, current, served, and honoured."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from local_api import Api
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from financial_pipeline import api_schema
from financial_pipeline.openapi import DOCUMENT_PATH, build_document, render
from local.pipeline import LocalPipeline

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def generated(examples: int) -> Any:
    """Hypothesis settings for requests generated from the OpenAPI document: repeatable, no
    deadline (each example is an HTTP round trip), no example database."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


def test_committed_document_is_current() -> None:
    # When the document is generated afresh
    fresh = render(build_document())

    # Then docs/openapi.json is exactly that (`make openapi` regenerates it)
    assert DOCUMENT_PATH.read_text(encoding="utf-8") == fresh


def test_document_is_valid_openapi_built_from_the_gateway_models() -> None:
    # When the document is generated
    document = build_document()

    # Then it is valid OpenAPI, and its schemas are the construct's models
    validate(document)
    for name, schema in api_schema.MODELS.items():
        component = document["components"]["schemas"][name]
        assert component == {k: v for k, v in schema.items() if k != "$schema"}


def test_r4_gateway_models_match_the_document(pipeline: LocalPipeline) -> None:
    # Given the upload route's model in the synthesized template
    assert pipeline.gateway is not None
    route = next(
        r
        for r in pipeline.gateway.api.routes
        if (r.http_method, r.resource_path) == ("POST", "/upload")
    )

    # Then the document's request schema is the model the gateway validates with
    document = build_document()
    assert (
        route.models["application/json"]["required"]
        == (document["components"]["schemas"]["UploadRequest"]["required"])
    )


def test_local_pipeline_serves_the_document_with_its_own_server(api: Api) -> None:
    # When /openapi.json is fetched from the local pipeline
    response = api.get("/openapi.json")

    # Then it is the document, pointing at the local pipeline, without AWS auth
    assert response.status_code == 200
    document = response.json()
    assert document["servers"] == [{"url": api.url}]
    assert "security" not in document
    assert document["paths"].keys() == build_document()["paths"].keys()


@pytest.fixture(scope="module")
def openapi_schema(pipeline: LocalPipeline) -> Any:
    return schemathesis.openapi.from_url(f"{pipeline.url}/openapi.json")


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/upload"), ("GET", "/status/{jobId}"), ("GET", "/results/{symbol}")],
)
def test_r4_r5_api_conforms_to_its_openapi_document(
    pipeline: LocalPipeline, api: Api, openapi_schema: Any, method: str, path: str
) -> None:
    # Given requests generated from the served document for one operation (a fixed number)
    operation = openapi_schema[path][method]
    assert pipeline.gateway is not None
    served_before = pipeline.gateway.requests_served

    @given(case=operation.as_strategy())
    @generated(25)
    def check(case: Any) -> None:
        # When each is sent to the local pipeline, signed as the local principal (IAM)
        # Then there is no 5xx and the response matches the documented status, type and schema
        case.call_and_validate(session=api.session, checks=CHECKS)

    check()
    assert pipeline.gateway.requests_served - served_before >= 10


def test_r5_error_bodies_of_the_gateway_match_the_error_schema(api: Api) -> None:
    # Given the error schema of the document
    error_schema = build_document()["components"]["schemas"]["ErrorResponse"]

    # When the gateway itself rejects a request
    response = api.post("/upload", data=json.dumps({"fileName": ""}))

    # Then its body validates against that schema
    assert response.status_code == 400
    jsonschema.validate(response.json(), error_schema)


def _assert_error_shape(response: Any, status: int, code: str) -> None:
    """``response`` is schemathesis' own: header names lower-cased, each with its values."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code
    assert [body["correlationId"]] == response.headers["x-correlation-id"]


def test_fails_r25_generated_status_requests_of_another_principal_get_the_404(
    pipeline: LocalPipeline, api: Api, openapi_schema: Any
) -> None:
    # Given a job of the local principal, and generated status requests (headers included)
    # that ask for it signed as local-other
    job_id = api.create()["jobId"]
    other = Api(pipeline.url, profile="local-other", credentials_file=pipeline.credentials_file)
    operation = openapi_schema["/status/{jobId}"]["GET"]
    answers: list[int] = []

    @given(case=operation.as_strategy())
    @generated(15)
    def check(case: Any) -> None:
        case.path_parameters = {"jobId": job_id}
        # When each is sent
        response = case.call(session=other.session)
        # Then every one is the unknown job's 404 in the error shape
        _assert_error_shape(response, 404, "JOB_NOT_FOUND")
        answers.append(response.status_code)

    try:
        check()
    finally:
        other.session.close()
    assert len(answers) >= 5


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/upload"), ("GET", "/status/{jobId}"), ("GET", "/results/{symbol}")],
)
def test_fails_r29_generated_unsigned_requests_get_the_403(
    pipeline: LocalPipeline, openapi_schema: Any, method: str, path: str
) -> None:
    # Given generated requests for one operation, sent without a signature
    anonymous = Api(pipeline.url, profile=None)
    operation = openapi_schema[path][method]
    answers: list[int] = []

    @given(case=operation.as_strategy())
    @generated(15)
    def check(case: Any) -> None:
        # When each is sent
        response = case.call(session=anonymous.session)
        # Then it is API Gateway's 403 in the error shape: no function runs unauthenticated
        _assert_error_shape(response, 403, "MISSING_AUTHENTICATION_TOKEN")
        answers.append(response.status_code)

    try:
        check()
    finally:
        anonymous.session.close()
    assert len(answers) >= 5
