"""The split path's start (R23), in the processor: whether a file is split, its plan, and the one
state machine execution of its job.

A file above `SPLIT_THRESHOLD_BYTES` is split when the planner can plan it (`plan`; `None`
leaves it to the single pass). `start` writes the manifests under `split/{jobId}/`, records on
the job the attempt that splits it (the only one whose execution may finish the job) and starts
the execution named after the job; `start_execution` alone re-issues that StartExecution for a
job planned already (a repeated event), which Step Functions answers with the one execution.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from runtime.dal import objects
from runtime.dal.jobs import utc_now
from runtime.logic.dedup import partitions_for
from runtime.logic.split.plan import Plan, plan_file
from runtime.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

    from runtime.dal.jobs import JobStore
    from runtime.settings import Settings


class SplitStart:
    """The processor's hand-over of a large file to the split state machine."""

    def __init__(
        self,
        settings: Settings,
        store: objects.ObjectStore,
        jobs: JobStore,
        stepfunctions: SFNClient | None,
    ) -> None:
        self._settings = settings
        self._objects = store
        self._jobs = jobs
        self._sfn = stepfunctions

    def wanted(self, size: int) -> bool:
        """Whether a file of `size` bytes goes to the split path (the planner may still leave
        it to the single pass)."""
        return size > self._settings.split_threshold_bytes

    def plan(
        self, chunks: Iterable[bytes], size: int, on_chunk: Callable[[], None] | None = None
    ) -> Plan | None:
        """The file's parts and partitions, read once; None when the single pass should run."""
        return plan_file(
            chunks,
            size=size,
            part_bytes=self._settings.part_bytes,
            partitions=partitions_for(size, self._settings.dedup_index_max_keys),
            on_chunk=on_chunk,
        )

    def start(
        self,
        job_id: str,
        ref: objects.ObjectRef,
        etag: str,
        *,
        attempt: int,
        plan: Plan,
        size: int,
    ) -> dict[str, Any]:
        """Write the manifests, give the job to `attempt`'s execution and start it: the
        processor's answer for the object."""
        self._objects.put_json(
            objects.parts_manifest_key(job_id),
            [part.to_json(etag=etag, attempt=attempt) for part in plan.parts],
        )
        self._objects.put_json(
            objects.partitions_manifest_key(job_id),
            plan.partition_items(etag=etag, attempt=attempt),
        )
        if not self._jobs.start_split(
            job_id,
            etag,
            attempt=attempt,
            parts_total=len(plan.parts),
            fatal=plan.fatal,
            now=utc_now(),
            sha256=plan.sha256,
        ):
            logger.warning("a newer attempt owns the job; this one stops here")
            return {"jobId": job_id, "outcome": "superseded"}
        self.start_execution(job_id, ref.bucket, ref.key, etag, attempt)
        logger.info(
            "split",
            extra={"parts": len(plan.parts), "partitions": plan.partitions, "size": size},
        )
        return {"jobId": job_id, "outcome": "split", "parts": len(plan.parts)}

    def start_execution(self, job_id: str, bucket: str, key: str, etag: str, attempt: int) -> None:
        """Start the job's one execution, named after the job; one that exists already is it."""
        if self._sfn is None:
            raise RuntimeError("the processor was built without a Step Functions client")
        execution_input = {
            "jobId": job_id,
            "bucket": bucket,
            "key": key,
            "etag": etag,
            "partsKey": objects.parts_manifest_key(job_id),
            "partitionsKey": objects.partitions_manifest_key(job_id),
            "attempt": attempt,
        }
        try:
            self._sfn.start_execution(
                stateMachineArn=self._settings.state_machine_arn,
                name=job_id,
                input=json.dumps(execution_input),
            )
        except ClientError as exc:
            # The job's one execution exists (a repeated event, or a retry after a crash).
            if objects.error_code(exc) != "ExecutionAlreadyExists":
                raise
            logger.info("execution already started")
