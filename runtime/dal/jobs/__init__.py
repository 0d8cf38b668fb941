"""Jobs table access. Every state change is a conditional write, so status never moves backwards
and two concurrent invocations cannot both win a transition.

Every transition to a final status also sets `eventPending` to that status in the same update:
the job's event (R27) is then owed, whatever happens to the function afterwards. The function
publishes it and clears the flag (`event_published`); a job whose flag stays set is found again
by a retry, or by the sweeper through the sparse `ByPendingEvent` index (`pending_events`).
The transitions answer the job as it is after the update, which is what the event describes.

The state changes are grouped by who makes them: `table` (the conditional writes, creating and
reading a job, a warning, the end of a running job), `single_pass` (the processor), `split`
(the split steps), `sweeper`, and `outbox` (the owed event); `record` is the job record and its
public shape. `JobStore` is all of them on one table.
"""

from __future__ import annotations

from runtime.dal.jobs.outbox import JobOutbox
from runtime.dal.jobs.record import Job, earlier_attempts, iso, no_rows, public_fields, utc_now
from runtime.dal.jobs.single_pass import SinglePassJobs
from runtime.dal.jobs.split import SplitJobs
from runtime.dal.jobs.sweeper import SweeperJobs

__all__ = [
    "Job",
    "JobStore",
    "earlier_attempts",
    "iso",
    "no_rows",
    "public_fields",
    "utc_now",
]


class JobStore(SinglePassJobs, SplitJobs, SweeperJobs, JobOutbox):
    """The jobs table, with every path's state changes."""
