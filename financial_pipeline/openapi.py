"""The OpenAPI 3.1 document of the HTTP API, generated from `financial_pipeline.api_schema`.

The construct builds its API Gateway models from the same dictionaries, so the document cannot
drift from what the gateway validates. OpenAPI 3.1 is used because its schema objects are JSON
Schema, which keeps draft-4 constructs such as ``"type": ["string", "number"]`` valid.

``python -m financial_pipeline.openapi [PATH]`` writes the document (``make openapi``:
docs/openapi.json).
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any, Final

from financial_pipeline import api_schema
from financial_pipeline.api import STAGE_NAME
from financial_pipeline.contract import CORRELATION_HEADER, RESULTS_QUERY_PARAMETERS

DOCUMENT_PATH = Path("docs") / "openapi.json"
AWS_SERVER = "https://{restApiId}.execute-api.{region}.amazonaws.com/{stage}"
# One deployment uses one of them (the construct's `authorization`); either satisfies the API.
SECURITY_SCHEMES: Final = {
    "sigv4": {
        "type": "apiKey",
        "name": "Authorization",
        "in": "header",
        "description": "AWS Signature Version 4 (service execute-api), authorization 'iam'.",
        "x-amazon-apigateway-authtype": "awsSigv4",
    },
    "cognito": {
        "type": "apiKey",
        "name": "Authorization",
        "in": "header",
        "description": (
            "A Cognito user pool ID token (JWT), sent as the Authorization header, "
            "authorization 'cognito'."
        ),
        "x-amazon-apigateway-authtype": "cognito_user_pools",
    },
}

# Keyed by the contract's parameter names: a parameter added there without a schema here fails
# loudly when the document is built.
_RESULTS_QUERY_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    "startTime": {"type": "string"},
    "endTime": {"type": "string"},
    "limit": {"type": "integer", "minimum": 1, "maximum": 1000},
    "order": {"enum": ["asc", "desc"]},
    "nextToken": {"type": "string"},
}


def _component(schema: dict[str, Any]) -> dict[str, Any]:
    component = copy.deepcopy(schema)
    component.pop("$schema", None)
    return component


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {CORRELATION_HEADER: {"$ref": "#/components/headers/CorrelationId"}},
        "content": _json("ErrorResponse"),
    }


def _common_errors() -> dict[str, Any]:
    return {
        "400": _error("Invalid request (API Gateway validator or handler)."),
        "429": _error("Stage throttling limit exceeded."),
        "4XX": _error("Any other client error, in the same error shape."),
        "5XX": _error("Server error, in the same error shape."),
    }


def build_document(server_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI document; ``server_url`` replaces the deployed-API server (local stack)."""
    correlation_header = {
        "name": CORRELATION_HEADER,
        "in": "header",
        "required": False,
        "description": (
            "Honoured as the request's correlation id by the handlers. Errors that API Gateway "
            "produces itself (unknown route, validation, throttling) carry API Gateway's "
            "request id instead: its gateway responses cannot read request headers."
        ),
        "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[!-~]+$"},
    }
    paths: dict[str, Any] = {
        "/upload": {
            "post": {
                "operationId": "createUpload",
                "summary": "Create a job and get a presigned POST for the file.",
                "parameters": [correlation_header],
                "requestBody": {"required": True, "content": _json("UploadRequest")},
                "responses": {
                    "201": {
                        "description": "Job created; POST the file to upload.url.",
                        "headers": {
                            CORRELATION_HEADER: {"$ref": "#/components/headers/CorrelationId"}
                        },
                        "content": _json("UploadResponse"),
                    },
                    **_common_errors(),
                },
            }
        },
        "/status/{jobId}": {
            "get": {
                "operationId": "getStatus",
                "summary": "A job's state and row counts.",
                "parameters": [
                    {
                        "name": "jobId",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "minLength": 1},
                    },
                    correlation_header,
                ],
                "responses": {
                    "200": {
                        "description": "The job.",
                        "headers": {
                            CORRELATION_HEADER: {"$ref": "#/components/headers/CorrelationId"}
                        },
                        "content": _json("StatusResponse"),
                    },
                    "404": _error("Unknown job."),
                    **_common_errors(),
                },
            }
        },
        "/results/{symbol}": {
            "get": {
                "operationId": "getResults",
                "summary": "Stored rows of one symbol, time-ordered, paginated.",
                "parameters": [
                    {
                        "name": "symbol",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "minLength": 1},
                    },
                    *(
                        {"name": name, "in": "query", "schema": _RESULTS_QUERY_SCHEMAS[name]}
                        for name in RESULTS_QUERY_PARAMETERS
                    ),
                    correlation_header,
                ],
                "responses": {
                    "200": {
                        "description": "One page of rows.",
                        "headers": {
                            CORRELATION_HEADER: {"$ref": "#/components/headers/CorrelationId"}
                        },
                        "content": _json("ResultsResponse"),
                    },
                    **_common_errors(),
                },
            }
        },
    }
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Financial pipeline API",
            "version": "1.0.0",
            "description": (
                "Upload financial market CSV files, follow their processing and read the stored "
                "rows. Generated from financial_pipeline/api_schema.py; do not edit by hand."
            ),
        },
        "servers": [
            {
                "url": AWS_SERVER,
                "variables": {
                    "restApiId": {"default": "abcdef1234"},
                    "region": {"default": "us-east-1"},
                    "stage": {"default": STAGE_NAME},
                },
            }
        ],
        "security": [{name: []} for name in SECURITY_SCHEMES],
        "paths": paths,
        "components": {
            "schemas": {name: _component(schema) for name, schema in api_schema.MODELS.items()},
            "headers": {
                "CorrelationId": {
                    "description": (
                        "The request's correlation id, the same as correlationId in error bodies."
                    ),
                    "schema": {"type": "string"},
                }
            },
            "securitySchemes": copy.deepcopy(SECURITY_SCHEMES),
        },
    }
    if server_url is not None:
        # The local stack does not authenticate: it serves itself and drops the AWS auth scheme.
        document["servers"] = [{"url": server_url}]
        document.pop("security")
    return document


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else DOCUMENT_PATH
    target.write_text(render(build_document()), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
