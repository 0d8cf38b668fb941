"""One error hierarchy; every API error becomes the SPEC shape with its HTTP status."""

from __future__ import annotations

from typing import Any


class PipelineError(Exception):
    """Base of every error the pipeline raises on purpose."""

    status_code = 500
    code = "INTERNAL_ERROR"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def body(self, correlation_id: str) -> dict[str, Any]:
        return {
            "error": {"code": self.code, "message": self.message},
            "correlationId": correlation_id,
        }


class BadRequestError(PipelineError):
    status_code = 400
    code = "BAD_REQUEST"


class NotFoundError(PipelineError):
    status_code = 404
    code = "NOT_FOUND"


class ConfigurationError(PipelineError):
    """The function was deployed with a missing or malformed environment variable."""

    code = "CONFIGURATION_ERROR"


class RetryableError(PipelineError):
    """An infrastructure failure: the processor raises it so that Lambda retries the event."""

    code = "INFRASTRUCTURE_ERROR"


class WriteError(RetryableError):
    """BatchWriteItem still had unprocessed items after the bounded retries."""

    code = "WRITE_FAILED"


class TimeoutRiskError(RetryableError):
    """The processor stopped before the function timeout; the retry starts over."""

    code = "TIMEOUT_RISK"
