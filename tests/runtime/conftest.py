"""Runtime tests run the real handlers in this process against the backend of `make run`
(dynalite and a moto server behind the one local endpoint), with the buckets, tables and queues of
the synthesized template."""

from __future__ import annotations

from events_support import job_events, put_events_faults
from runtime_support import (
    aws_endpoint,
    handlers_sign_as_their_roles,
    local_aws,
    pipeline,
    symbol,
)

__all__ = [
    "aws_endpoint",
    "handlers_sign_as_their_roles",
    "job_events",
    "local_aws",
    "pipeline",
    "put_events_faults",
    "symbol",
]
