"""Names the construct and its Lambda code must agree on, defined once.

The Lambda code imports this module as ``runtime.contract``. The construct library loads the
very same file from the code it ships (``financial_pipeline.contract``), so an environment
variable, an index, an object prefix, a job status, a handler's path or a state name of the split
state machine is spelled in one place. Standard library only: the module is loaded outside the
``runtime`` package too.
"""

from __future__ import annotations

import enum
from typing import Final

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


class JobStatus(enum.StrEnum):
    """A job's state. It never moves backwards: PENDING_UPLOAD -> PROCESSING -> a final one."""

    PENDING_UPLOAD = "PENDING_UPLOAD"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    COMPLETED_WITH_ERRORS = "COMPLETED_WITH_ERRORS"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"


FINAL_STATUSES: Final = frozenset(
    {
        JobStatus.COMPLETED,
        JobStatus.COMPLETED_WITH_ERRORS,
        JobStatus.FAILED,
        JobStatus.EXPIRED,
    }
)


class Env(enum.StrEnum):
    """Environment variables the construct sets on the functions."""

    BUCKET_NAME = "BUCKET_NAME"
    JOBS_TABLE_NAME = "JOBS_TABLE_NAME"
    RESULTS_TABLE_NAME = "RESULTS_TABLE_NAME"
    MAX_UPLOAD_BYTES = "MAX_UPLOAD_BYTES"
    UPLOAD_URL_TTL_SECONDS = "UPLOAD_URL_TTL_SECONDS"
    REPORT_URL_TTL_SECONDS = "REPORT_URL_TTL_SECONDS"
    JOB_TTL_DAYS = "JOB_TTL_DAYS"
    WRITE_CONCURRENCY = "WRITE_CONCURRENCY"
    ENVIRONMENT = "ENVIRONMENT"
    CORS_ALLOW_ORIGINS = "CORS_ALLOW_ORIGINS"
    PROCESSOR_FUNCTION_NAME = "PROCESSOR_FUNCTION_NAME"
    PROCESSOR_TIMEOUT_SECONDS = "PROCESSOR_TIMEOUT_SECONDS"
    PROCESSOR_MAX_RETRIES = "PROCESSOR_MAX_RETRIES"
    SPLIT_THRESHOLD_BYTES = "SPLIT_THRESHOLD_BYTES"
    PART_BYTES = "PART_BYTES"
    STATE_MACHINE_ARN = "STATE_MACHINE_ARN"
    SPLIT_TIMEOUT_SECONDS = "SPLIT_TIMEOUT_SECONDS"
    EVENT_BUS_ARN = "EVENT_BUS_ARN"
    """The ARN of the EventBridge bus the functions that finish jobs publish to; the
    construct sets the ARN, so that a bus of another account is the one they reach."""


class Handler(enum.StrEnum):
    """Each function's handler, ``module.function`` in the code asset (``runtime/`` at its root)."""

    UPLOAD = "runtime.handlers.upload.handler"
    STATUS = "runtime.handlers.status.handler"
    RESULTS = "runtime.handlers.results.handler"
    PROCESSOR = "runtime.handlers.processor.handler"
    SWEEPER = "runtime.handlers.sweeper.handler"
    PARSE_PART = "runtime.handlers.parse_part.handler"
    WRITE_PARTITION = "runtime.handlers.write_partition.handler"
    FINISH_SPLIT = "runtime.handlers.finish_split.handler"

    @property
    def module(self) -> str:
        """The handler's module, ``runtime.handlers.<name>``."""
        return self.value.rpartition(".")[0]


class SplitState(enum.StrEnum):
    """The split state machine's state names. The four steps that catch are also the `stage` a
    failure names (``$.stage``, set by the step's ``<step>Failed`` Pass state), and `CHECK_KEYS`
    the `step` of the event `finish_split` gets from that state."""

    PARSE_PARTS = "ParseParts"
    PARSE_PART = "ParsePart"
    """The task inside `PARSE_PARTS`, one per part."""
    CHECK_KEYS = "CheckKeys"
    WRITE_OR_STOP = "WriteOrStop"
    NOTHING_TO_WRITE = "NothingToWrite"
    WRITE_PARTITIONS = "WritePartitions"
    WRITE_PARTITION = "WritePartition"
    """The task inside `WRITE_PARTITIONS`, one per partition."""
    FINISH = "Finish"
    FAIL_JOB = "FailJob"
    JOB_FAILED = "JobFailed"


JOBS_STATUS_INDEX: Final = "ByStatus"
"""The jobs table's index on (status, updatedAt), keys only: the sweeper's work list."""

JOBS_EVENT_INDEX: Final = "ByPendingEvent"
"""The jobs table's sparse index on (eventPending, updatedAt), keys only: final jobs whose event
is not yet published, which the sweeper publishes after a grace period."""
EVENT_PENDING_ATTRIBUTE: Final = "eventPending"
"""Set to the final status in the update that makes a job final, removed once its event is
published: the outbox flag, and the hash key of `JOBS_EVENT_INDEX`."""


class JobEventType(enum.StrEnum):
    """The detail-type of the one event a job publishes when it reaches a final status."""

    COMPLETED = "Job Completed"
    FAILED = "Job Failed"
    EXPIRED = "Job Expired"


def event_type_for(status: str) -> JobEventType:
    """The detail-type for a final status; COMPLETED_WITH_ERRORS is a completed job."""
    match JobStatus(status):
        case JobStatus.COMPLETED | JobStatus.COMPLETED_WITH_ERRORS:
            return JobEventType.COMPLETED
        case JobStatus.FAILED:
            return JobEventType.FAILED
        case JobStatus.EXPIRED:
            return JobEventType.EXPIRED
        case _:
            raise ValueError(f"{status} is not a final status")


EVENT_SOURCE: Final = "financial-pipeline"
"""The `source` of every job event: what a consumer's rule matches on."""
METRIC_EVENTS_PUBLISHED: Final = "JobEventsPublished"
"""Count metric of job events accepted by EventBridge (processor, finish_split, sweeper)."""
METRIC_EVENTS_FAILED: Final = "JobEventsFailed"
"""Count metric of job events EventBridge refused or that could not be sent; alarmed on."""


class Metric(enum.StrEnum):
    """The functions' custom metrics (Powertools EMF, namespace ``FinancialPipeline``,
    dimensions ``service`` and ``environment``)."""

    ROWS_ACCEPTED = "RowsAccepted"
    """Rows a single-pass job stored (processor, one datapoint per job)."""
    ROWS_REJECTED = "RowsRejected"
    """Rows a single-pass job put in its rejection report."""
    ROWS_DUPLICATE = "RowsDuplicate"
    """Rows a single-pass job skipped as repeats of an earlier row of the file."""
    JOB_DURATION = "JobDurationMs"
    """Milliseconds from a single-pass job's start to its final status."""
    ROWS_PARSED = "RowsParsed"
    """Records one split part held (parse_part)."""
    ROWS_WRITTEN = "RowsWritten"
    """Rows one split partition stored (write_partition)."""
    SPLIT_JOBS_FINISHED = "SplitJobsFinished"
    """Split jobs finish_split brought to a final status."""
    SPLIT_JOBS_REFUSED_HOT_KEY = "SplitJobsRefusedHotKey"
    """Split jobs refused because one symbol needs more writes than the execution allows."""
    SPLIT_EXECUTIONS_ENDED_UNFINISHED = "SplitExecutionsEndedUnfinished"
    """Split executions that ended (failed, timed out, aborted) before their job was final."""
    OBJECTS_NOTIFIED = "ObjectsNotified"
    """Uploaded objects the processor was notified of."""
    EVENTS_PUBLISHED = METRIC_EVENTS_PUBLISHED
    """Job events EventBridge accepted."""
    EVENTS_FAILED = METRIC_EVENTS_FAILED
    """Job events EventBridge refused, or that could not be sent."""


INCOMING_PREFIX: Final = "incoming/"
"""Where uploads land, as ``incoming/{jobId}.csv``: the processor's trigger."""
PROCESSED_PREFIX: Final = "processed/"
"""Files of ended jobs; deleted after 30 days."""
REPORTS_PREFIX: Final = "reports/"
"""Rejection reports, ``reports/{jobId}.csv``; kept as long as their job."""
QUARANTINE_PREFIX: Final = "quarantine/"
"""Uploaded files that no job processed (no job, or a second upload); kept for inspection."""
SPLIT_PREFIX: Final = "split/"
"""Intermediate objects of a split file, ``split/{jobId}/...``: deleted when the job ends, and
by a short lifecycle rule when a failed execution is never redriven."""

ROW_COUNTS: Final = ("total", "accepted", "rejected", "duplicates")
"""The row counts of a job (`rows` in the jobs table, `/status` and the job events)."""

RESULTS_QUERY_PARAMETERS: Final = ("startTime", "endTime", "limit", "order", "nextToken")
"""The query string parameters of ``GET /results/{symbol}``."""

CORRELATION_HEADER: Final = "X-Correlation-Id"
