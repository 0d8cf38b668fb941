"""The JSON-schema models of the HTTP contract (R4): draft-4, and what they accept."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft4Validator

from financial_pipeline.api_schema import (
    DRAFT4,
    ERROR_RESPONSE,
    MODELS,
    RESULTS_RESPONSE,
    STATUS_RESPONSE,
    UPLOAD_REQUEST,
)


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_is_a_valid_draft4_schema(name: str) -> None:
    # Given the model / Then it declares draft-4 and is a valid draft-4 schema
    assert MODELS[name]["$schema"] == DRAFT4
    Draft4Validator.check_schema(MODELS[name])


@pytest.mark.parametrize(
    "body",
    [
        {"fileName": "trades.csv", "fileType": "csv"},
        {"fileName": "t", "fileType": "csv", "contentLength": 1},
        {"fileName": "x" * 255, "fileType": "csv"},
        {"fileName": "t", "fileType": "csv", "sha256": "aB" * 32, "expectedRows": 0},
    ],
)
def test_r4_upload_request_accepts_contract_bodies(body: dict[str, Any]) -> None:
    assert Draft4Validator(UPLOAD_REQUEST).is_valid(body)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"fileName": "trades.csv"},
        {"fileName": "", "fileType": "csv"},
        {"fileName": "x" * 256, "fileType": "csv"},
        {"fileName": "trades.csv", "fileType": "xlsx"},
        {"fileName": "trades.csv", "fileType": "csv", "contentLength": 0},
        {"fileName": "trades.csv", "fileType": "csv", "contentLength": 1.5},
        {"fileName": "trades.csv", "fileType": "csv", "extra": 1},
        {"fileName": "trades.csv", "fileType": "csv", "sha256": "a" * 63},
        {"fileName": "trades.csv", "fileType": "csv", "sha256": "a" * 64 + "\n"},
        {"fileName": "trades.csv", "fileType": "csv", "sha256": "z" * 64},
        {"fileName": "trades.csv", "fileType": "csv", "expectedRows": -1},
        {"fileName": "trades.csv", "fileType": "csv", "expectedRows": 1.5},
        {"fileName": "trades.csv", "fileType": "csv", "expectedRows": "3"},
    ],
)
def test_r4_fails_upload_request_validation_for_bad_bodies(body: dict[str, Any]) -> None:
    assert not Draft4Validator(UPLOAD_REQUEST).is_valid(body)


def test_r5_error_response_schema_matches_the_spec_shape() -> None:
    # Given the SPEC error body / Then it validates, and one without correlationId does not
    body = {"error": {"code": "NOT_FOUND", "message": "no such job"}, "correlationId": "c-1"}
    assert Draft4Validator(ERROR_RESPONSE).is_valid(body)
    assert not Draft4Validator(ERROR_RESPONSE).is_valid({"error": body["error"]})


def test_status_response_lists_every_job_status() -> None:
    assert STATUS_RESPONSE["properties"]["status"]["enum"] == [
        "PENDING_UPLOAD",
        "PROCESSING",
        "COMPLETED",
        "COMPLETED_WITH_ERRORS",
        "FAILED",
        "EXPIRED",
    ]


def test_r28_status_response_carries_the_digests_and_the_declared_count() -> None:
    # Given a finished job's answer with the integrity fields / Then the model accepts it
    body = {
        "jobId": "j",
        "status": "COMPLETED",
        "fileName": "t.csv",
        "createdAt": "c",
        "updatedAt": "u",
        "rows": {"total": 1, "accepted": 1, "rejected": 0, "duplicates": 0},
        "errors": [],
        "sha256": "a" * 64,
        "expectedSha256": "a" * 64,
        "expectedRows": 1,
    }
    assert Draft4Validator(STATUS_RESPONSE).is_valid(body)
    assert not Draft4Validator(STATUS_RESPONSE).is_valid({**body, "expectedRows": -1})
    assert {"sha256", "expectedSha256", "expectedRows"} <= set(STATUS_RESPONSE["properties"])


def test_fails_r25_a_results_row_admits_no_job_id() -> None:
    # Given a row as the results model (and the OpenAPI document made from it) describes it
    row = RESULTS_RESPONSE["properties"]["items"]["items"]
    page = {"symbol": "AAPL", "count": 1, "items": [dict.fromkeys(row["required"], 1)]}
    page["items"][0].update(symbol="AAPL", timestamp="2024-01-01T00:00:00.000000Z")
    Draft4Validator(RESULTS_RESPONSE).validate(page)

    # Then a row naming the job that stored it does not conform: the id would show that
    # another owner's job exists (R25)
    page["items"][0]["jobId"] = "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert not Draft4Validator(RESULTS_RESPONSE).is_valid(page)
