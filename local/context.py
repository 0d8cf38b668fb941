"""The Lambda context object, as the local run, the tests and the benchmarks hand it to handlers."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

__all__ = ["LambdaContext"]


@dataclass
class LambdaContext:
    """The attributes of the Lambda context that handlers and Powertools read.

    The remaining time counts down from ``timeout_seconds`` from creation, as in Lambda;
    ``remaining_ms`` pins it instead (tests of the processor's timeout margin).
    """

    function_name: str = "function"
    timeout_seconds: float = 300
    memory_limit_in_mb: int = 3008
    invoked_function_arn: str = ""
    region: str = "eu-west-1"
    account_id: str = "000000000000"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    remaining_ms: int | None = None
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        if not self.invoked_function_arn:
            self.invoked_function_arn = (
                f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"
            )
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        if self.remaining_ms is not None:
            return self.remaining_ms
        return max(0, int((self._deadline - time.monotonic()) * 1000))
