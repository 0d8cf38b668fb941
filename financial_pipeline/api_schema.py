"""JSON-schema (draft-4) models of the HTTP contract, as plain dictionaries.

API Gateway validates request bodies against draft-4 schemas, so every schema here stays inside
draft-4. The `Api` construct turns these dictionaries into `apigateway.Model`s, and the OpenAPI
document is generated from the very same dictionaries, so the gateway, the document and the
handlers cannot drift apart.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Final

from financial_pipeline.contract import ROW_COUNTS, JobStatus

__all__ = [
    "DRAFT4",
    "ERROR_RESPONSE",
    "MODELS",
    "RESULTS_RESPONSE",
    "SHA256_PATTERN",
    "STATUS_RESPONSE",
    "UPLOAD_REQUEST",
    "UPLOAD_RESPONSE",
]

DRAFT4: Final = "http://json-schema.org/draft-04/schema#"
SHA256_PATTERN: Final = "^[0-9a-fA-F]{64}$"
"""A SHA-256 digest as 64 hex digits, either case; the job stores it lowercase."""

UPLOAD_REQUEST: Final[dict[str, Any]] = {
    "$schema": DRAFT4,
    "title": "UploadRequest",
    "description": "Body of POST /upload: the file the client is about to send.",
    "type": "object",
    "properties": {
        "fileName": {"type": "string", "minLength": 1, "maxLength": 255},
        "fileType": {"type": "string", "enum": ["csv"]},
        "contentLength": {"type": "integer", "minimum": 1},
        "sha256": {
            "type": "string",
            # The lengths too: Python's `$` (the local gateway's validator) also matches
            # before a final newline, ECMA's (API Gateway's) does not.
            "minLength": 64,
            "maxLength": 64,
            "pattern": SHA256_PATTERN,
            "description": "SHA-256 of the file, hex: a file whose digest differs fails the "
            "job CHECKSUM_MISMATCH before any row is stored",
        },
        "expectedRows": {
            "type": "integer",
            "minimum": 0,
            "description": "data rows of the file (the header and blank lines not counted): "
            "a different count is reported as CONTROL_TOTAL_MISMATCH",
        },
    },
    "required": ["fileName", "fileType"],
    "additionalProperties": False,
}

UPLOAD_RESPONSE: Final[dict[str, Any]] = {
    "$schema": DRAFT4,
    "title": "UploadResponse",
    "description": "201 answer of POST /upload: an S3 presigned POST for the file.",
    "type": "object",
    "properties": {
        "jobId": {"type": "string"},
        "upload": {
            "type": "object",
            "properties": {
                "url": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            "required": ["url", "fields"],
        },
        "expiresAt": {"type": "string"},
    },
    "required": ["jobId", "upload", "expiresAt"],
}

_ROW_COUNTS: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {name: {"type": "integer", "minimum": 0} for name in ROW_COUNTS},
    "required": list(ROW_COUNTS),
}

STATUS_RESPONSE: Final[dict[str, Any]] = {
    "$schema": DRAFT4,
    "title": "StatusResponse",
    "description": "200 answer of GET /status/{jobId}.",
    "type": "object",
    "properties": {
        "jobId": {"type": "string"},
        "status": {"type": "string", "enum": [str(status) for status in JobStatus]},
        "fileName": {"type": "string"},
        "createdAt": {"type": "string"},
        "updatedAt": {"type": "string"},
        "rows": _ROW_COUNTS,
        "errors": {"type": "array", "items": {}},
        "reportUrl": {"type": "string"},
        "sha256": {
            "type": "string",
            "description": "SHA-256 of the file the pipeline read, lowercase hex",
        },
        "expectedSha256": {
            "type": "string",
            "description": "the sha256 POST /upload declared, lowercase",
        },
        "expectedRows": {
            "type": "integer",
            "minimum": 0,
            "description": "the data-row count POST /upload declared",
        },
    },
    "required": ["jobId", "status", "fileName", "createdAt", "updatedAt", "rows", "errors"],
}

RESULTS_RESPONSE: Final[dict[str, Any]] = {
    "$schema": DRAFT4,
    "title": "ResultsResponse",
    "description": "200 answer of GET /results/{symbol}: stored rows, time-ordered.",
    "type": "object",
    "properties": {
        "symbol": {"type": "string"},
        "count": {"type": "integer", "minimum": 0},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "symbol": {"type": "string"},
                    "timestamp": {"type": "string"},
                    "price": {
                        "type": ["string", "number"],
                        "description": "exact decimal, never rounded through a float",
                    },
                    "volume": {"type": "integer", "minimum": 0},
                },
                "required": ["symbol", "timestamp", "price", "volume"],
                # The market data only: never the job that stored the row.
                "additionalProperties": False,
            },
        },
        "nextToken": {"type": "string"},
    },
    "required": ["symbol", "count", "items"],
}

ERROR_RESPONSE: Final[dict[str, Any]] = {
    "$schema": DRAFT4,
    "title": "ErrorResponse",
    "description": "Every error, from a handler or from API Gateway itself.",
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            "required": ["code", "message"],
        },
        "correlationId": {"type": "string"},
    },
    "required": ["error", "correlationId"],
}

MODELS: Final = MappingProxyType(
    {
        "UploadRequest": UPLOAD_REQUEST,
        "UploadResponse": UPLOAD_RESPONSE,
        "StatusResponse": STATUS_RESPONSE,
        "ResultsResponse": RESULTS_RESPONSE,
        "ErrorResponse": ERROR_RESPONSE,
    }
)
"""Model name -> schema, in the order the API declares them."""
