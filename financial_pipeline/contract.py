"""The names shared with the Lambda code (see ``runtime/contract.py``), defined there once.

The construct library ships the Lambda code, so it reads the contract from the very file the
functions import: installed from the wheel that is ``financial_pipeline/_runtime/runtime``, in a
checkout the top-level ``runtime/``. mypy checks this module against the same source.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from financial_pipeline._runtime import load_shipped

if TYPE_CHECKING:
    from runtime.contract import (
        CORRELATION_HEADER,
        EVENT_PENDING_ATTRIBUTE,
        EVENT_SOURCE,
        FINAL_STATUSES,
        INCOMING_PREFIX,
        JOBS_EVENT_INDEX,
        JOBS_STATUS_INDEX,
        METRIC_EVENTS_FAILED,
        METRIC_EVENTS_PUBLISHED,
        PROCESSED_PREFIX,
        QUARANTINE_PREFIX,
        REPORTS_PREFIX,
        RESULTS_QUERY_PARAMETERS,
        ROW_COUNTS,
        SPLIT_PREFIX,
        Env,
        Handler,
        JobEventType,
        JobStatus,
        Metric,
        SplitState,
        event_type_for,
    )
else:
    _shipped = load_shipped("financial_pipeline._shipped_contract", "contract.py")
    CORRELATION_HEADER = _shipped.CORRELATION_HEADER
    EVENT_PENDING_ATTRIBUTE = _shipped.EVENT_PENDING_ATTRIBUTE
    EVENT_SOURCE = _shipped.EVENT_SOURCE
    FINAL_STATUSES = _shipped.FINAL_STATUSES
    INCOMING_PREFIX = _shipped.INCOMING_PREFIX
    JOBS_EVENT_INDEX = _shipped.JOBS_EVENT_INDEX
    JOBS_STATUS_INDEX = _shipped.JOBS_STATUS_INDEX
    METRIC_EVENTS_FAILED = _shipped.METRIC_EVENTS_FAILED
    METRIC_EVENTS_PUBLISHED = _shipped.METRIC_EVENTS_PUBLISHED
    PROCESSED_PREFIX = _shipped.PROCESSED_PREFIX
    QUARANTINE_PREFIX = _shipped.QUARANTINE_PREFIX
    REPORTS_PREFIX = _shipped.REPORTS_PREFIX
    RESULTS_QUERY_PARAMETERS = _shipped.RESULTS_QUERY_PARAMETERS
    ROW_COUNTS = _shipped.ROW_COUNTS
    SPLIT_PREFIX = _shipped.SPLIT_PREFIX
    Env = _shipped.Env
    Handler = _shipped.Handler
    JobEventType = _shipped.JobEventType
    JobStatus = _shipped.JobStatus
    Metric = _shipped.Metric
    SplitState = _shipped.SplitState
    event_type_for = _shipped.event_type_for

__all__ = [
    "CORRELATION_HEADER",
    "EVENT_PENDING_ATTRIBUTE",
    "EVENT_SOURCE",
    "FINAL_STATUSES",
    "INCOMING_PREFIX",
    "JOBS_EVENT_INDEX",
    "JOBS_STATUS_INDEX",
    "METRIC_EVENTS_FAILED",
    "METRIC_EVENTS_PUBLISHED",
    "PROCESSED_PREFIX",
    "QUARANTINE_PREFIX",
    "REPORTS_PREFIX",
    "RESULTS_QUERY_PARAMETERS",
    "ROW_COUNTS",
    "SPLIT_PREFIX",
    "Env",
    "Handler",
    "JobEventType",
    "JobStatus",
    "Metric",
    "SplitState",
    "event_type_for",
]
