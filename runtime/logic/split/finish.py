"""The last step of a split file: the single pass's outcome from what the steps left in S3.

On success: the counts are sums (rows before the earliest fatal line only), the errors and
warnings are built as the single pass builds them (same codes, messages, first lines), the
report is the merge by line of the parts' rejections and the partitions' conflicts (each in line
order; one line has one entry), written by the same `ReportWriter`, so byte for byte the single
pass's. The job is finished under the same conditions (PROCESSING, this ETag, the attempt that
started the execution), the file archived and `split/{jobId}/` deleted.

On failure (a part or partition that failed through its retries): the job is FAILED with
`PART_FAILED` naming it and its last error, without a report; the intermediate objects stay, so
the failed execution can be redriven. A redrive re-runs the failed items; its finalizer may then
finish that job once more (`JobStore.finish(redrive=True)`: only a job that PART_FAILED alone
ended, for the same attempt and ETag), with a `REDRIVEN_AFTER_PART_FAILED` warning.

The declared row count is checked as the single pass checks it (`runtime.logic.integrity`),
and the job's event (R27) is published once the job is final, before the housekeeping: a publish
that fails raises, so the state machine's retry of this task finds the job final and publishes
the event it still owes.

Idempotent: a job that is already final only gets its owed event and the housekeeping.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime.contract import JobStatus
from runtime.dal import objects
from runtime.dal.jobs import earlier_attempts, no_rows, utc_now
from runtime.dal.report import ReportWriter
from runtime.logic.csv_rules import Reason
from runtime.logic.integrity import control_total
from runtime.logic.split.plan import PartSpec
from runtime.logic.split.rows import read_fragment

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from runtime.dal.jobs import Job, JobStore
    from runtime.logic.events import JobEvents

SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
_ITEM = re.compile(r"\b(part|partition) (\d+)\b")


class IncompleteSplitError(Exception):
    """A step's summary is missing: the execution cannot have succeeded."""


def failed_item(failure: dict[str, Any] | None) -> tuple[str, str]:
    """("part 3", its last error) from a Step Functions Catch's `{"Error", "Cause"}`."""
    failure = failure or {}
    error = str(failure.get("Error", "States.ALL"))
    cause = str(failure.get("Cause", ""))
    message = cause
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        parsed = json.loads(cause)
        message = str(parsed.get("errorMessage", cause))
        error = str(parsed.get("errorType", error))
    found = _ITEM.search(message) or _ITEM.search(cause)
    what = f"{found.group(1)} {found.group(2)}" if found else "a step"
    return what, f"{error}: {message}"[:500]


class SplitFinisher:
    def __init__(
        self, s3: S3Client, store: objects.ObjectStore, jobs: JobStore, events: JobEvents
    ) -> None:
        self._s3 = s3
        self._store = store
        self._jobs = jobs
        self._events = events

    def finish(
        self,
        *,
        job_id: str,
        key: str,
        etag: str,
        attempt: int,
        outcome: str,
        failure: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        job = self._jobs.get(job_id)
        if job is None:
            return {"jobId": job_id, "outcome": "no-job"}
        redrive = False
        if job.is_final or job.etag != etag or job.split_attempt != attempt:
            redrive = (
                outcome == SUCCEEDED
                and job.status == JobStatus.FAILED
                and job.part_failed
                and job.etag == etag
                and job.split_attempt == attempt
            )
            if not redrive:
                if job.is_final:
                    self._events.publish(job)
                if job.is_final and job.etag == etag and not job.part_failed:
                    self._housekeeping(job_id, key, etag)
                return {"jobId": job_id, "outcome": "duplicate", "status": job.status}
        if outcome != SUCCEEDED:
            return self._part_failed(job, attempt, failure)
        return self._succeeded(job, key, etag, attempt, redrive)

    def _part_failed(
        self, job: Job, attempt: int, failure: dict[str, Any] | None
    ) -> dict[str, Any]:
        what, message = failed_item(failure)
        warnings = earlier_attempts(job.errors)
        if what.startswith("partition"):
            warnings.append(
                {
                    "code": "ROWS_MAY_BE_STORED",
                    "message": "some partitions were written before the failure",
                }
            )
        finished = self._jobs.finish(
            job.job_id,
            job.etag,
            attempt=attempt,
            status=JobStatus.FAILED,
            rows=no_rows(),
            errors=[{"code": "PART_FAILED", "message": f"{what} failed: {message}"}],
            warnings=warnings,
            report_key=None,
            now=utc_now(),
            parts_done=job.parts_done,
            split=True,
            part_failed=True,
        )
        if finished is not None:
            self._events.publish(finished)
        return {
            "jobId": job.job_id,
            "outcome": "failed" if finished else "superseded",
            "status": JobStatus.FAILED,
            "failed": what,
        }

    def _succeeded(
        self, job: Job, key: str, etag: str, attempt: int, redrive: bool
    ) -> dict[str, Any]:
        job_id = job.job_id
        manifest = self._store.get_json(objects.parts_manifest_key(job_id))
        parts = [PartSpec.from_json(item) for item in manifest]
        partitions = parts[0].partitions
        fatal = job.split_fatal
        fatal_line = int(fatal["line"]) if fatal else None
        part_summaries = []
        for spec in parts:
            if fatal_line is not None and spec.line >= fatal_line:
                continue  # wholly after the failure: the single pass never read it
            summary = self._store.get_json(objects.part_summary_key(job_id, spec.index))
            if summary is None:
                raise IncompleteSplitError(f"part {spec.index}: no summary")
            part_summaries.append(summary)
        partition_summaries = []
        for index in range(partitions):
            summary = self._store.get_json(objects.partition_summary_key(job_id, index))
            if summary is None:
                raise IncompleteSplitError(f"partition {index}: no summary")
            partition_summaries.append(summary)

        reasons: Counter[str] = Counter()
        first_line: dict[str, int] = {}
        for summary in part_summaries:
            reasons.update(summary["reasons"])
            for reason, line in summary["firstLine"].items():
                first_line[reason] = min(int(line), first_line.get(reason, int(line)))
        accepted = sum(int(s["accepted"]) for s in partition_summaries)
        duplicates = sum(int(s["duplicates"]) for s in partition_summaries)
        conflicts = sum(int(s["conflicts"]) for s in partition_summaries)
        if conflicts:
            reasons[Reason.CONFLICTING_DUPLICATE] += conflicts
            first_line[Reason.CONFLICTING_DUPLICATE] = min(
                int(s["firstConflict"]) for s in partition_summaries if s["conflicts"]
            )
        rejected = sum(reasons.values())
        rows = {
            "total": accepted + rejected + duplicates,
            "accepted": accepted,
            "rejected": rejected,
            "duplicates": duplicates,
        }
        extra = list(parts[0].header.extra_columns)
        extra_warning = (
            [{"code": "EXTRA_COLUMNS_IGNORED", "message": "ignored column(s): " + ", ".join(extra)}]
            if extra
            else []
        )
        warnings = earlier_attempts(job.errors)
        report_key: str | None = None
        if fatal is not None:
            if accepted:
                warnings.append(
                    {
                        "code": "ROWS_STORED_BEFORE_FAILURE",
                        "message": f"{accepted} rows before line {fatal_line} were stored",
                    }
                )
            warnings.extend(extra_warning)
            entry: dict[str, Any] = {"code": fatal["code"], "message": fatal["message"]}
            if fatal.get("line") is not None:
                entry["line"] = int(fatal["line"])
            errors = [entry]
            status = JobStatus.FAILED
        else:
            warnings.extend(extra_warning)
            errors = [
                {
                    "code": reason,
                    "message": f"{count} row(s) rejected",
                    "count": count,
                    "line": first_line[reason],
                }
                for reason, count in sorted(reasons.items())
            ]
            status = JobStatus.COMPLETED_WITH_ERRORS if rejected else JobStatus.COMPLETED
            status, errors = control_total(
                status, errors, expected_rows=job.expected_rows, total=rows["total"]
            )
            if rejected:
                fragments = [
                    objects.part_rejects_key(job_id, int(s["index"]))
                    for s in part_summaries
                    if s["rejected"]
                ] + [
                    objects.partition_conflicts_key(job_id, int(s["index"]))
                    for s in partition_summaries
                    if s["conflicts"]
                ]
                report_key = self._merge_report(job_id, fragments)
        if redrive:
            warnings.append(
                {
                    "code": "REDRIVEN_AFTER_PART_FAILED",
                    "message": "a part failed, and the redriven execution completed the job",
                }
            )
        finished = self._jobs.finish(
            job_id,
            etag,
            attempt=attempt,
            status=status,
            rows=rows,
            errors=errors,
            warnings=warnings,
            report_key=report_key,
            now=utc_now(),
            parts_done=len(parts),
            split=True,
            redrive=redrive,
        )
        if finished is None:
            return {"jobId": job_id, "outcome": "superseded"}
        self._events.publish(finished)
        self._housekeeping(job_id, key, etag)
        return {"jobId": job_id, "outcome": "processed", "status": status, "rows": rows}

    def _merge_report(self, job_id: str, fragments: list[str]) -> str | None:
        """Merge the fragments by line into `reports/{jobId}.csv`; each is spooled to /tmp, so
        memory stays at one read buffer per fragment."""
        report = ReportWriter(self._s3, self._store.bucket, objects.report_key(job_id))
        with tempfile.TemporaryDirectory(prefix="report-") as directory:
            paths = []
            for number, fragment in enumerate(fragments):
                path = Path(directory) / f"{number:06d}"
                with path.open("wb") as out:
                    for chunk in self._store.stream(fragment):
                        out.write(chunk)
                paths.append(path)
            with contextlib.ExitStack() as files:
                streams = [read_fragment(_lines(files.enter_context(p.open("rb")))) for p in paths]
                try:
                    for line, reason, cells in _merge(streams):
                        report.add(line, reason, cells)
                    return report.close()
                except BaseException:
                    report.abort()
                    raise

    def _housekeeping(self, job_id: str, key: str, etag: str) -> None:
        if not self._store.archive(job_id, key, etag):
            pass  # already archived by an earlier run, or replaced meanwhile
        self._store.delete_split(job_id)


def _lines(source: Any) -> Iterator[bytes]:
    yield from source


def _merge(
    streams: list[Iterator[tuple[int, str, list[str]]]],
) -> Iterator[tuple[int, str, list[str]]]:
    # Lines are unique across fragments, so the tuples never compare past the line.
    return heapq.merge(*streams)
