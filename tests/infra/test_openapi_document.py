"""The OpenAPI document describes the API the construct deploys: its stage and its auth modes."""

from __future__ import annotations

from financial_pipeline.api import STAGE_NAME, AuthorizationMode
from financial_pipeline.openapi import build_document


def test_server_url_defaults_to_the_deployed_stage() -> None:
    # Given the document / When its server variables are read
    (server,) = build_document()["servers"]
    # Then the stage is the one the construct deploys (v1), not dev
    assert server["variables"]["stage"]["default"] == STAGE_NAME == "v1"
    assert server["url"].endswith("/{stage}")


def test_security_names_both_authenticated_modes_as_alternatives() -> None:
    # Given the document
    document = build_document()
    schemes = document["components"]["securitySchemes"]
    # Then SigV4 (iam) and Cognito JWTs (cognito) are described the way API Gateway names them
    assert schemes["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    assert schemes["cognito"] == {
        "type": "apiKey",
        "name": "Authorization",
        "in": "header",
        "description": schemes["cognito"]["description"],
        "x-amazon-apigateway-authtype": "cognito_user_pools",
    }
    # And either one satisfies the API (one requirement object each: OR, not AND)
    assert document["security"] == [{"sigv4": []}, {"cognito": []}]
    assert {AuthorizationMode.IAM, AuthorizationMode.COGNITO} < set(AuthorizationMode)


def test_the_local_document_names_no_aws_security() -> None:
    # Given the document served by the local run / Then it drops the AWS auth requirement
    document = build_document("http://127.0.0.1:8000")
    assert document["servers"] == [{"url": "http://127.0.0.1:8000"}]
    assert "security" not in document
