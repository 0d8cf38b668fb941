"""R34, issue 17 item 4: for each function and the state machine, one grant its code needs,
removed from the synthesized template (or granted on the wrong resource instead), is refused
locally where AWS would refuse it, and the job ends as the pipeline's fault handling says.

One pipeline serves the module, from the dev template at test speed (`grants.fast_split`); each
case enforces an edited copy of that template's IAM (`LocalPipeline.policies_of`: the functions,
their workers and credentials stay as they are, only the policies change, as a deploy of the
edited template would change only them) and runs the path that needs the grant. Every case runs
twice: the grant removed, and the grant moved to a resource its code does not use.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from grants import (
    STATE_MACHINE,
    arn_of,
    fast_split,
    logical_id,
    objects_of,
    role_of,
    with_grant_moved,
    without_grant,
)
from local_api import Api, handler, make_rows, render_csv, unique_symbol
from split_template import has_state_machine

from local.endpoint import LocalAws
from local.enforcement import Denial, Enforcer
from local.lambdas import FunctionError
from local.pipeline import LocalPipeline
from local.synth import SynthesizedStack

THRESHOLD = 20_000
JOBS = "PipelineStorageJobsTable"
RESULTS = "PipelineStorageResultsTable"
BUCKET = "PipelineStorageUploadBucket"


@pytest.fixture(scope="module")
def template(synthesized: SynthesizedStack) -> dict[str, Any]:
    assert has_state_machine(synthesized.template), "the dev template has no split path"
    return fast_split(synthesized.template, threshold=THRESHOLD, part_bytes=8_000)


@pytest.fixture(scope="module")
def pipeline(
    synthesized: SynthesizedStack, local_aws: LocalAws, template: dict[str, Any]
) -> Iterator[LocalPipeline]:
    with LocalPipeline(
        template,
        stack_name=synthesized.stack_name,
        region=synthesized.region,
        port=0,
        retry_delays=(0.1, 0.2),
        schedule_period_seconds=3600,
        aws=local_aws,
    ) as local:
        yield local


@pytest.fixture(scope="module")
def api(pipeline: LocalPipeline) -> Iterator[Api]:
    client = Api(pipeline.url)
    yield client
    client.session.close()


def _id(template: dict[str, Any], prefix: str) -> str:
    kinds = {
        JOBS: "AWS::DynamoDB::GlobalTable",
        RESULTS: "AWS::DynamoDB::GlobalTable",
        BUCKET: "AWS::S3::Bucket",
    }
    if prefix in kinds:
        return logical_id(template, prefix, kinds[prefix])
    return logical_id(template, prefix, "AWS::Lambda::Function")


@dataclass(frozen=True)
class Grant:
    """One grant a function's code needs: ``action`` of ``owner``'s role on ``resource`` (a
    logical id prefix, optionally ``/path`` under it), and a ``wrong`` resource (prefix and
    path) to grant it on instead."""

    owner: str
    action: str
    resource: str
    wrong: str

    def target(self, template: dict[str, Any]) -> str:
        prefix, _, path = self.resource.partition("/")
        name = _id(template, prefix)
        return f"{name}/{path}" if path else name

    def wrong_resource(self, template: dict[str, Any]) -> Any:
        prefix, _, path = self.wrong.partition("/")
        name = _id(template, prefix)
        return objects_of(name, path) if path else arn_of(name)

    def edited(self, template: dict[str, Any], variant: str) -> dict[str, Any]:
        if variant == "removed":
            return without_grant(template, self.owner, self.action, self.target(template))
        return with_grant_moved(
            template,
            self.owner,
            self.action,
            self.wrong_resource(template),
            self.target(template),
        )


def _denials(enforcer: Enforcer, role: str, action: str) -> list[Denial]:
    return [d for d in enforcer.denials if d.caller.startswith(role) and d.action == action]


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _job(api: Api, job_id: str) -> dict[str, Any]:
    answer = api.get(f"/status/{job_id}")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _small_file(symbol: str) -> bytes:
    data = render_csv(make_rows(symbol, 50))
    assert len(data) < THRESHOLD
    return data


def _split_file(symbol: str) -> bytes:
    data = render_csv(make_rows(symbol, THRESHOLD // 40 + 400))
    assert len(data) > THRESHOLD
    return data


def _sweep(pipeline: LocalPipeline) -> Any:
    sweeper = pipeline.lambdas.by_handler(handler("sweeper"))
    return pipeline.lambdas.invoke_sync(sweeper, {"source": "aws.events"})


VARIANTS = ["removed", "moved"]


def _check_denied(
    enforcer: Enforcer, template: dict[str, Any], grant: Grant, resource_part: str
) -> Denial:
    role = role_of(template, grant.owner)
    found = _denials(enforcer, role, grant.action)
    assert found, f"no {grant.action} denial for {role}: {list(enforcer.denials)[-5:]}"
    assert any(resource_part in d.resource for d in found), [d.resource for d in found]
    return found[-1]


def _physical(pipeline: LocalPipeline, template: dict[str, Any], prefix: str) -> str:
    return pipeline.template.physical_name(_id(template, prefix))


# --- the API functions --------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_r34_upload_without_put_item_on_the_jobs_table_answers_5xx_naming_the_action(
    pipeline: LocalPipeline,
    api: Api,
    template: dict[str, Any],
    variant: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    grant = Grant(handler("upload"), "dynamodb:PutItem", JOBS, RESULTS)
    # Given the upload function's role without dynamodb:PutItem on the jobs table
    with (
        pipeline.policies_of(grant.edited(template, variant)) as enforcer,
        caplog.at_level(logging.WARNING, logger="local.iam"),
    ):
        # When a client creates a job
        answer = api.post("/upload", json={"fileName": "trades.csv", "fileType": "csv"})
    # Then the API answers a 5xx in the error shape, and the log names role, action, resource
    assert answer.status_code >= 500, answer.text
    assert "error" in answer.json()
    denial = _check_denied(enforcer, template, grant, _physical(pipeline, template, JOBS))
    assert f"IAM denied: role {denial.caller} may not dynamodb:PutItem on" in caplog.text
    # And with the template's own grants the same call succeeds
    assert api.post("/upload", json={"fileName": "t.csv", "fileType": "csv"}).status_code == 201


@pytest.mark.parametrize("variant", VARIANTS)
def test_r34_status_without_get_item_on_the_jobs_table_answers_5xx(
    pipeline: LocalPipeline, api: Api, template: dict[str, Any], variant: str
) -> None:
    grant = Grant(handler("status"), "dynamodb:GetItem", JOBS, RESULTS)
    job_id = api.create()["jobId"]
    # Given the status function's role without dynamodb:GetItem on the jobs table
    with pipeline.policies_of(grant.edited(template, variant)) as enforcer:
        # When a client asks for a job's status
        answer = api.get(f"/status/{job_id}")
    # Then the API answers a 5xx in the error shape, the denial names the table
    assert answer.status_code >= 500, answer.text
    assert "error" in answer.json()
    _check_denied(enforcer, template, grant, _physical(pipeline, template, JOBS))
    assert _job(api, job_id)["status"] == "PENDING_UPLOAD"


@pytest.mark.parametrize("variant", VARIANTS)
def test_r34_results_without_query_on_the_results_table_answers_5xx(
    pipeline: LocalPipeline, api: Api, template: dict[str, Any], variant: str
) -> None:
    grant = Grant(handler("results"), "dynamodb:Query", RESULTS, JOBS)
    # Given the results function's role without dynamodb:Query on the results table
    with pipeline.policies_of(grant.edited(template, variant)) as enforcer:
        # When a client reads a symbol's results
        answer = api.get(f"/results/{unique_symbol()}")
    # Then the API answers a 5xx in the error shape, the denial names the table
    assert answer.status_code >= 500, answer.text
    assert "error" in answer.json()
    _check_denied(enforcer, template, grant, _physical(pipeline, template, RESULTS))
    assert api.get(f"/results/{unique_symbol()}").status_code == 200


# --- the processor and the sweeper --------------------------------------------------------------


def _given_up(pipeline: LocalPipeline, api: Api) -> str:
    """A small file uploaded: the job once every attempt Lambda makes at it has failed."""
    processor = pipeline.lambdas.by_handler(handler("processor"))
    failures = pipeline.lambdas.failures[processor.logical_id]
    job_id = api.upload(_small_file(unique_symbol()))
    attempts = 1 + len(pipeline.retry_delays)
    _wait(
        lambda: pipeline.lambdas.failures[processor.logical_id] >= failures + attempts,
        60,
        "the processor's attempts",
    )
    assert pipeline.lambdas.wait_idle(60)
    return job_id


def _sweep_until_final(pipeline: LocalPipeline, api: Api, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while (job := _job(api, job_id))["status"] == "PROCESSING":
        assert time.monotonic() < deadline, "the sweeper never settled the job"
        time.sleep(1.1)  # the sweeper's windows are a second at test speed
        _sweep(pipeline)
        assert pipeline.lambdas.wait_idle(60)
    return job


@pytest.mark.parametrize("variant", VARIANTS)
def test_r34_processor_without_batch_write_on_the_results_table_fails_the_job_after_the_sweeps(
    pipeline: LocalPipeline, api: Api, template: dict[str, Any], variant: str
) -> None:
    grant = Grant(handler("processor"), "dynamodb:BatchWriteItem", RESULTS, JOBS)
    # Given the processor's role without dynamodb:BatchWriteItem on the results table
    with pipeline.policies_of(grant.edited(template, variant)) as enforcer:
        # When a small file is uploaded
        job_id = _given_up(pipeline, api)
        # Then every attempt Lambda makes fails on the denied write, and the job is left
        # PROCESSING for the sweeper (Lambda has given up on the event)
        _check_denied(enforcer, template, grant, _physical(pipeline, template, RESULTS))
        assert _job(api, job_id)["status"] == "PROCESSING"
        # And the sweeper re-drives it once (denied again), then fails it: no job hangs
        job = _sweep_until_final(pipeline, api, job_id)
    # Then the job failed as stuck, and it names the denied call the attempts met
    assert job["status"] == "FAILED"
    codes = [error["code"] for error in job["errors"]]
    assert "PROCESSING_STUCK" in codes, job["errors"]
    assert "AccessDeniedException" in codes, job["errors"]
    assert "dynamodb:BatchWriteItem" in json.dumps(job["errors"])


@pytest.mark.parametrize("variant", VARIANTS)
def test_r34_sweeper_without_update_item_on_the_jobs_table_fails_and_the_next_sweep_settles(
    pipeline: LocalPipeline, api: Api, template: dict[str, Any], variant: str
) -> None:
    stuck = Grant(handler("processor"), "dynamodb:BatchWriteItem", RESULTS, JOBS)
    grant = Grant(handler("sweeper"), "dynamodb:UpdateItem", JOBS, RESULTS)
    # Given a job the processor gave up on (its writes denied then)
    with pipeline.policies_of(stuck.edited(template, "removed")):
        job_id = _given_up(pipeline, api)
    assert _job(api, job_id)["status"] == "PROCESSING"
    # When the sweeper runs without dynamodb:UpdateItem on the jobs table, until the job is
    # stale enough for it to act on
    failed: FunctionError | None = None
    with pipeline.policies_of(grant.edited(template, variant)) as enforcer:
        deadline = time.monotonic() + 30
        while failed is None:
            assert time.monotonic() < deadline, "the sweeper never acted on the stale job"
            time.sleep(0.5)
            try:
                _sweep(pipeline)
            except FunctionError as error:
                failed = error
        assert pipeline.lambdas.wait_idle(60)
    # Then the sweep fails on the denied update (the sweeper's error, which its alarm watches),
    # and the job is left as it was
    assert "AccessDenied" in str(failed)
    _check_denied(enforcer, template, grant, _physical(pipeline, template, JOBS))
    assert _job(api, job_id)["status"] == "PROCESSING"
    # And the next sweep, with the template's grants, re-drives it: the processor, whose
    # grants are the template's too now, completes it
    job = _sweep_until_final(pipeline, api, job_id)
    assert job["status"] == "COMPLETED", job


# --- the split path -----------------------------------------------------------------------------


def _split_fails(
    pipeline: LocalPipeline, api: Api, template: dict[str, Any], grant: Grant, variant: str
) -> tuple[dict[str, Any], Enforcer]:
    """A file above the threshold uploaded while ``grant`` is edited away: the job's end."""
    with pipeline.policies_of(grant.edited(template, variant)) as enforcer:
        job_id = api.upload(_split_file(unique_symbol()))
        job = api.wait(job_id, timeout=180)
    return job, enforcer


def _failed_at(job: dict[str, Any], stage: str) -> None:
    """The split job failed, its first error naming the failed ``stage`` (a part, a partition).
    A failed child of a Distributed Map surfaces as `States.ExceedToleratedFailureThreshold`
    on AWS, not as its own error (and moto's map succeeds whatever its children do), so the job
    names the part that left no summary; the AccessDenied itself is the child's (its log, and
    here the enforcer's denials)."""
    assert job["status"] == "FAILED", job
    first = job["errors"][0]
    assert first["code"] == "PART_FAILED", job["errors"]
    assert first["message"].startswith(stage), first


@pytest.mark.parametrize("variant", VARIANTS)
def test_r34_parse_part_without_get_object_on_incoming_fails_the_split_job(
    pipeline: LocalPipeline, api: Api, template: dict[str, Any], variant: str
) -> None:
    grant = Grant(handler("parse_part"), "s3:GetObject", f"{BUCKET}/incoming/*", f"{BUCKET}/x/*")
    job, enforcer = _split_fails(pipeline, api, template, grant, variant)
    _failed_at(job, "part ")
    _check_denied(enforcer, template, grant, "/incoming/")


@pytest.mark.parametrize("variant", VARIANTS)
def test_r34_write_partition_without_get_item_on_the_jobs_table_fails_the_split_job(
    pipeline: LocalPipeline, api: Api, template: dict[str, Any], variant: str
) -> None:
    grant = Grant(handler("write_partition"), "dynamodb:GetItem", JOBS, RESULTS)
    job, enforcer = _split_fails(pipeline, api, template, grant, variant)
    _failed_at(job, "partition ")
    _check_denied(enforcer, template, grant, _physical(pipeline, template, JOBS))


@pytest.mark.parametrize("variant", VARIANTS)
def test_r34_finish_split_without_get_object_on_split_fails_the_split_job(
    pipeline: LocalPipeline, api: Api, template: dict[str, Any], variant: str
) -> None:
    grant = Grant(handler("finish_split"), "s3:GetObject", f"{BUCKET}/split/*", f"{BUCKET}/x/*")
    job, enforcer = _split_fails(pipeline, api, template, grant, variant)
    assert job["status"] == "FAILED", job
    assert "AccessDenied" in json.dumps(job["errors"])
    _check_denied(enforcer, template, grant, "/split/")


@pytest.mark.parametrize("variant", VARIANTS)
def test_r34_state_machine_without_invoke_on_write_partition_fails_the_split_job(
    pipeline: LocalPipeline, api: Api, template: dict[str, Any], variant: str
) -> None:
    grant = Grant(
        STATE_MACHINE,
        "lambda:InvokeFunction",
        "PipelineSplitWritePartition",
        "PipelineSplitParsePart",
    )
    job, enforcer = _split_fails(pipeline, api, template, grant, variant)
    _failed_at(job, "partition ")
    name = _physical(pipeline, template, "PipelineSplitWritePartition")
    _check_denied(enforcer, template, grant, name)
