"""The job events a pipeline publishes, as the EventBridge patterns a consumer matches.

Every job that reaches a final status publishes one event: source ``financial-pipeline``,
detail-type ``Job Completed`` (COMPLETED and COMPLETED_WITH_ERRORS), ``Job Failed`` or
``Job Expired``. Delivery is at least once: every copy of one job's event carries the same
``detail.eventId`` (``<jobId>:<status>``), by which a consumer drops repeats.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from aws_cdk import aws_events as events

from financial_pipeline.contract import (
    EVENT_SOURCE,
    FINAL_STATUSES,
    JobEventType,
    JobStatus,
    event_type_for,
)

__all__ = ["JOB_EVENT_DETAIL_TYPES", "job_events_pattern"]

JOB_EVENT_DETAIL_TYPES: Final = tuple(str(kind) for kind in JobEventType)
"""Every detail-type a job event may have, in the contract's order."""


def job_events_pattern(
    *,
    statuses: Sequence[JobStatus | str] | None = None,
    detail_types: Sequence[JobEventType | str] | None = None,
) -> events.EventPattern:
    """The pattern of the pipeline's job events, or of some of them.

    Args:
        statuses: only jobs that ended in these final statuses (matched on ``detail.status``);
            default: any. Without ``detail_types`` the detail-types are those of these
            statuses.
        detail_types: only these detail-types; default: all three (or those of
            ``statuses``).

    Raises:
        ValueError: a status that is not final, an unknown detail-type, an empty list, or
            statuses none of whose events has one of the detail-types (a rule that could
            never match).
    """
    chosen_statuses = _final_statuses(statuses) if statuses is not None else None
    if detail_types is not None:
        chosen_types = _detail_types(detail_types)
    elif chosen_statuses is not None:
        chosen_types = list(dict.fromkeys(str(event_type_for(s)) for s in chosen_statuses))
    else:
        chosen_types = list(JOB_EVENT_DETAIL_TYPES)
    if chosen_statuses is not None:
        unmatched = [s for s in chosen_statuses if str(event_type_for(s)) not in chosen_types]
        if unmatched:
            raise ValueError(
                f"statuses {unmatched} are never published with detail_types {chosen_types}"
            )
    return events.EventPattern(
        source=[EVENT_SOURCE],
        detail_type=chosen_types,
        detail={"status": chosen_statuses} if chosen_statuses is not None else None,
    )


def _final_statuses(statuses: Sequence[JobStatus | str]) -> list[str]:
    final = {str(status) for status in FINAL_STATUSES}
    chosen = [str(status) for status in statuses]
    bad = [status for status in chosen if status not in final]
    if not chosen or bad:
        allowed = ", ".join(sorted(final))
        raise ValueError(f"statuses must be one or more of {allowed} (got {list(statuses)!r})")
    return list(dict.fromkeys(chosen))


def _detail_types(detail_types: Sequence[JobEventType | str]) -> list[str]:
    chosen = [str(kind) for kind in detail_types]
    bad = [kind for kind in chosen if kind not in JOB_EVENT_DETAIL_TYPES]
    if not chosen or bad:
        allowed = ", ".join(map(repr, JOB_EVENT_DETAIL_TYPES))
        raise ValueError(
            f"detail_types must be one or more of {allowed} (got {list(detail_types)!r})"
        )
    return list(dict.fromkeys(chosen))
