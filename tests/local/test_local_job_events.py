"""Job events (R27) and integrity (R28) on the local pipeline: moto's EventBridge delivers what
the functions publish to the local run's queue, which `fpipe events` reads."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from local_api import Api, make_rows, render_csv, unique_symbol

from fpipe.cli import main
from fpipe.events import LOCAL_DOCUMENT_PATH, EventsError, JobEventsQueue
from local.backend import Clients, provision
from local.banner import banner
from local.cfn import Template, TemplateError
from local.endpoint import LocalAws
from local.gateway import LOCAL_DOCUMENT_PATH as GATEWAY_DOCUMENT_PATH
from local.job_events import (
    JOB_EVENTS_QUEUE,
    JOB_EVENTS_RULE,
    event_bus_of,
    provision_job_events,
)
from local.pipeline import LocalPipeline
from runtime.contract import EVENT_SOURCE


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def queue(pipeline: LocalPipeline) -> Iterator[JobEventsQueue]:
    """The local run's job-events queue, as `fpipe events` finds it, emptied of what earlier
    tests left."""
    found = JobEventsQueue.discover(pipeline.url)
    list(found.drain())
    yield found


def _events_of(queue: JobEventsQueue, job_id: str) -> list[dict[str, Any]]:
    return [e for e in queue.drain() if (e.get("detail") or {}).get("jobId") == job_id]


def _settled(pipeline: LocalPipeline) -> None:
    """Every invocation queued so far (both deliveries of a duplicated event) has run."""
    assert pipeline.lambdas is not None
    assert pipeline.lambdas.wait_idle(120)


def test_r27_local_run_routes_the_buss_events_to_its_queue(
    pipeline: LocalPipeline, queue: JobEventsQueue
) -> None:
    # Given the rule the local run made on the bus the template's functions publish to
    assert pipeline.job_events is not None
    assert pipeline.job_events.event_bus == "default"
    assert queue.queue_url.endswith(f"/{JOB_EVENTS_QUEUE}")
    assert LOCAL_DOCUMENT_PATH == GATEWAY_DOCUMENT_PATH
    events = pipeline.clients.events
    assert events.describe_rule(Name=JOB_EVENTS_RULE, EventBusName="default")["State"] == "ENABLED"

    # When an event of the pipeline's source, and one of another source, are put on the bus
    job_id = str(uuid.uuid4())
    answer = events.put_events(
        Entries=[
            {
                "Source": EVENT_SOURCE,
                "DetailType": "Job Completed",
                "Detail": json.dumps({"jobId": job_id, "status": "COMPLETED"}),
                "EventBusName": "default",
            },
            {
                "Source": "someone-else",
                "DetailType": "Job Completed",
                "Detail": json.dumps({"jobId": job_id, "status": "COMPLETED"}),
                "EventBusName": "default",
            },
        ]
    )

    # Then moto delivered the pipeline's event, and only it, to the queue
    assert answer["FailedEntryCount"] == 0
    (event,) = _events_of(queue, job_id)
    assert event["source"] == EVENT_SOURCE
    assert event["detail-type"] == "Job Completed"


def test_r27_r28_one_event_per_job_with_the_jobs_detail(
    pipeline: LocalPipeline, api: Api, queue: JobEventsQueue
) -> None:
    # Given a file and its digest, declared with its row count
    symbol = unique_symbol("EV")
    content = render_csv(make_rows(symbol, 40))
    digest = hashlib.sha256(content).hexdigest()
    created = api.post(
        "/upload",
        json={"fileName": "ev.csv", "fileType": "csv", "sha256": digest, "expectedRows": 40},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    job_id = body["jobId"]

    # When it is uploaded and the job ends
    _post_file(body, content)
    job = api.wait(job_id)
    _settled(pipeline)

    # Then the job recorded the digest, and exactly one event went out, with the job's detail
    assert job["status"] == "COMPLETED"
    assert (job["sha256"], job["expectedSha256"], job["expectedRows"]) == (digest, digest, 40)
    (event,) = _events_of(queue, job_id)
    assert (event["source"], event["detail-type"]) == (EVENT_SOURCE, "Job Completed")
    detail = event["detail"]
    assert detail["eventId"] == f"{job_id}:COMPLETED"
    assert detail["status"] == "COMPLETED"
    assert detail["rows"] == {"total": 40, "accepted": 40, "rejected": 0, "duplicates": 0}
    assert detail["sha256"] == digest
    assert detail["fileName"] == "ev.csv"
    assert detail["errors"] == []
    assert api.principal is not None
    assert detail["owner"] == f"iam:{api.principal.principal_id}"
    assert (detail["createdAt"], detail["updatedAt"]) == (job["createdAt"], job["updatedAt"])
    assert "reportKey" not in detail


def test_r27_s3_event_delivered_twice_still_publishes_one_event(
    pipeline: LocalPipeline, api: Api, queue: JobEventsQueue
) -> None:
    # Given an emulator that delivers every S3 event twice (S3 promises at least once)
    processor = pipeline.functions[pipeline.notifications[0].function_logical_id]
    assert pipeline.lambdas is not None
    before = pipeline.lambdas.invocations[processor.logical_id]
    pipeline.duplicate_s3_events = True
    try:
        # When a file with a bad row is uploaded and both deliveries have run
        symbol = unique_symbol("DU")
        content = render_csv(make_rows(symbol, 5)) + f"{symbol},-1,1,2024-01-01\n".encode()
        job_id = api.upload(content)
        job = api.wait(job_id)
        _settled(pipeline)
    finally:
        pipeline.duplicate_s3_events = False

    # Then the processor ran twice and the job published one event, with its report
    assert pipeline.lambdas.invocations[processor.logical_id] - before == 2
    assert job["status"] == "COMPLETED_WITH_ERRORS"
    (event,) = _events_of(queue, job_id)
    assert event["detail"]["eventId"] == f"{job_id}:COMPLETED_WITH_ERRORS"
    assert event["detail"]["reportKey"] == f"reports/{job_id}.csv"
    assert event["detail"]["rows"]["rejected"] == 1


def test_r27_the_same_s3_record_sent_again_after_the_job_ended_publishes_nothing_more(
    pipeline: LocalPipeline, api: Api, queue: JobEventsQueue
) -> None:
    # Given a job that ended and published its event
    content = render_csv(make_rows(unique_symbol("RE"), 3))
    job_id = api.upload(content)
    api.wait(job_id)
    _settled(pipeline)
    assert len(_events_of(queue, job_id)) == 1

    # When S3's notification of that upload arrives once more, on the notification's queue
    notification = pipeline.notifications[0]
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Post",
        "s3": {
            "bucket": {"name": notification.bucket},
            "object": {
                "key": f"incoming/{job_id}.csv",
                "size": len(content),
                "eTag": hashlib.md5(content).hexdigest(),  # S3's ETag of a one-part upload
            },
        },
    }
    sqs = pipeline.clients.sqs
    url = sqs.get_queue_url(QueueName=notification.queue_name)["QueueUrl"]
    assert pipeline.lambdas is not None
    processor = pipeline.functions[notification.function_logical_id]
    before = pipeline.lambdas.invocations[processor.logical_id]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"Records": [record]}))
    _wait_for(lambda: _invoked(pipeline, processor, before))
    _settled(pipeline)

    # Then the processor ran again and no second event went out
    assert _events_of(queue, job_id) == []
    assert api.wait(job_id)["status"] == "COMPLETED"


def test_r28_tampered_upload_fails_checksum_mismatch_with_nothing_stored(
    pipeline: LocalPipeline, api: Api, queue: JobEventsQueue
) -> None:
    # Given a file declared with the digest of another file
    symbol = unique_symbol("TA")
    content = render_csv(make_rows(symbol, 25))
    declared = hashlib.sha256(b"the file the sender meant to send").hexdigest()
    created = api.post(
        "/upload", json={"fileName": "t.csv", "fileType": "csv", "sha256": declared.upper()}
    )
    assert created.status_code == 201, created.text
    job_id = created.json()["jobId"]

    # When the other file is uploaded
    _post_file(created.json(), content)
    job = api.wait(job_id)
    _settled(pipeline)

    # Then the job failed CHECKSUM_MISMATCH naming both digests, and no row was stored
    actual = hashlib.sha256(content).hexdigest()
    assert job["status"] == "FAILED"
    assert job["rows"]["accepted"] == 0
    (error,) = [e for e in job["errors"] if e["code"] == "CHECKSUM_MISMATCH"]
    assert declared in error["message"] and actual in error["message"]
    assert (job["expectedSha256"], job["sha256"]) == (declared, actual)
    rows, _ = api.all_rows(symbol, limit=1000)
    assert rows == []
    # And its one event says so
    (event,) = _events_of(queue, job_id)
    assert event["detail-type"] == "Job Failed"
    assert event["detail"]["sha256"] == actual


def test_r28_a_different_row_count_completes_with_control_total_mismatch(
    pipeline: LocalPipeline, api: Api
) -> None:
    # Given a file of 12 rows declared as 13
    symbol = unique_symbol("CT")
    content = render_csv(make_rows(symbol, 12))
    created = api.post("/upload", json={"fileName": "c.csv", "fileType": "csv", "expectedRows": 13})
    assert created.status_code == 201, created.text
    job_id = created.json()["jobId"]

    # When it is uploaded
    _post_file(created.json(), content)
    job = api.wait(job_id)

    # Then every row is stored, and the job reports the count it was promised and found
    assert job["status"] == "COMPLETED_WITH_ERRORS"
    (error,) = [e for e in job["errors"] if e["code"] == "CONTROL_TOTAL_MISMATCH"]
    assert (error["expected"], error["actual"]) == (13, 12)
    assert "13" in error["message"] and "12" in error["message"]
    rows, _ = api.all_rows(symbol, limit=1000)
    assert len(rows) == 12


def test_r27_fpipe_events_prints_one_line_per_event_and_consumes_them(
    pipeline: LocalPipeline, api: Api, queue: JobEventsQueue
) -> None:
    # Given a finished job
    job_id = api.upload(render_csv(make_rows(unique_symbol("FE"), 2)))
    api.wait(job_id)
    _settled(pipeline)

    # When fpipe events runs twice against the local API
    code, out, err = _run("--api", pipeline.url, "events")
    again_code, again_out, _ = _run("--api", pipeline.url, "--json", "events")

    # Then the first run printed the job's event on one line and the second found it consumed
    assert code == 0, err
    (line,) = [line for line in out.splitlines() if job_id in line]
    assert "Job Completed" in line
    assert "COMPLETED" in line
    assert "total=2 accepted=2 rejected=0 duplicates=0" in line
    assert "sha256 " in line and "sha256 -" not in line
    assert again_code == 0
    assert job_id not in again_out


def test_r27_fpipe_events_json_prints_the_raw_events(
    pipeline: LocalPipeline, api: Api, queue: JobEventsQueue
) -> None:
    job_id = api.upload(render_csv(make_rows(unique_symbol("FJ"), 1)))
    api.wait(job_id)
    _settled(pipeline)

    code, out, _ = _run("--api", pipeline.url, "--json", "events")

    assert code == 0
    mine = [json.loads(line) for line in out.splitlines() if job_id in line]
    assert [(e["source"], e["detail"]["eventId"]) for e in mine] == [
        (EVENT_SOURCE, f"{job_id}:COMPLETED")
    ]


def test_r27_follow_waits_for_events_until_stopped(
    pipeline: LocalPipeline, queue: JobEventsQueue
) -> None:
    # Given a follower that stops after its first event
    stop = threading.Event()
    seen: list[dict[str, Any]] = []

    def follow() -> None:
        for event in queue.follow(stop, wait_seconds=1):
            seen.append(event)
            stop.set()

    follower = threading.Thread(target=follow)
    follower.start()
    # When an event arrives after it started waiting
    time.sleep(1.5)
    pipeline.clients.events.put_events(
        Entries=[
            {
                "Source": EVENT_SOURCE,
                "DetailType": "Job Expired",
                "Detail": json.dumps({"jobId": "late", "status": "EXPIRED"}),
            }
        ]
    )
    follower.join(timeout=30)

    # Then it printed that event and returned
    assert not follower.is_alive()
    assert [e["detail"]["jobId"] for e in seen] == ["late"]


def test_fails_r27_fpipe_events_without_a_local_run_asks_for_a_queue_url(
    pipeline: LocalPipeline,
) -> None:
    # Given an endpoint that is no local pipeline (the AWS endpoint answers no /local.json)
    assert pipeline.endpoint_url is not None
    # When fpipe events is pointed at it
    code, _, err = _run("--api", pipeline.endpoint_url, "events")
    # Then it says how to name the queue of a deployment
    assert code == 1
    assert "--queue-url" in err


def test_fails_r27_fpipe_events_with_a_queue_url_of_no_region() -> None:
    code, _, err = _run("events", "--queue-url", "http://queue.example/1/q")
    assert code == 1
    assert "cannot tell the region" in err


def test_fails_r27_an_unreadable_queue_is_an_error_not_an_empty_list(
    pipeline: LocalPipeline,
) -> None:
    # Given a client whose ReceiveMessage fails (the queue was deleted, or access is denied)
    assert pipeline.job_events is not None
    client = boto3.client(
        "sqs",
        endpoint_url=pipeline.endpoint_url,
        region_name=pipeline.template.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )

    def refuse(**kwargs: Any) -> None:
        raise client.exceptions.QueueDoesNotExist(
            {"Error": {"Code": "AWS.SimpleQueueService.NonExistentQueue", "Message": "gone"}},
            "ReceiveMessage",
        )

    client.meta.events.register("before-call.sqs.ReceiveMessage", refuse)
    queue = JobEventsQueue(client, pipeline.job_events.queue_url)
    # When it is drained / Then the failure is reported as such
    with pytest.raises(EventsError, match=r"cannot read .*gone"):
        list(queue.drain())


def _post_file(created: dict[str, Any], content: bytes) -> None:
    form = requests.post(
        created["upload"]["url"],
        data=created["upload"]["fields"],
        files={"file": ("f.csv", content, "text/csv")},
        timeout=60,
    )
    assert form.status_code in (200, 201, 204), form.text


def _invoked(pipeline: LocalPipeline, spec: Any, before: int) -> bool:
    assert pipeline.lambdas is not None
    return pipeline.lambdas.invocations[spec.logical_id] > before


def _wait_for(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _publishing_template(bus_value: Any, *, extra: dict[str, Any] | None = None) -> Template:
    function = {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Handler": "runtime.handlers.processor.handler",
            "Environment": {"Variables": {"EVENT_BUS_ARN": bus_value}},
        },
    }
    return Template(
        {"Resources": {"Processor": function, **(extra or {})}},
        stack_name="bus",
        region="eu-west-1",
    )


def test_r27_the_local_run_subscribes_on_the_bus_the_template_names(local_aws: LocalAws) -> None:
    # Given a template whose function publishes to a bus of its own (by ARN, as the construct
    # sets it), on the shared local endpoint
    bus = {"Type": "AWS::Events::EventBus", "Properties": {"Name": f"b-{uuid.uuid4().hex[:8]}"}}
    template = _publishing_template({"Fn::GetAtt": ["Bus", "Arn"]}, extra={"Bus": bus})
    clients = Clients(local_aws.url, template.region)
    name = bus["Properties"]["Name"]
    assert event_bus_of(template) == name

    # When its resources and the job-events queue are provisioned
    provision(template, clients)
    found = provision_job_events(template, clients)

    # Then the rule is on that bus, and the bus's job events reach the queue
    assert found is not None and found.event_bus == name
    clients.events.put_events(
        Entries=[
            {
                "Source": EVENT_SOURCE,
                "DetailType": "Job Failed",
                "Detail": json.dumps({"jobId": name, "status": "FAILED"}),
                "EventBusName": template.arn("Bus"),
            }
        ]
    )
    sqs = clients.sqs
    messages = sqs.receive_message(QueueUrl=found.queue_url, MaxNumberOfMessages=10)
    bodies = [json.loads(m["Body"]) for m in messages.get("Messages", [])]
    assert [b["detail"]["jobId"] for b in bodies if b["detail"]["jobId"] == name] == [name]
    for message in messages.get("Messages", []):
        sqs.delete_message(QueueUrl=found.queue_url, ReceiptHandle=message["ReceiptHandle"])
    clients.events.remove_targets(
        Rule=found.rule_name, EventBusName=name, Ids=["fpipe-local-queue"]
    )
    clients.events.delete_rule(Name=found.rule_name, EventBusName=name)


def test_r27_a_template_that_publishes_nothing_gets_no_job_events_queue(
    local_aws: LocalAws,
) -> None:
    template = Template({"Resources": {}}, stack_name="quiet", region="eu-west-1")
    assert provision_job_events(template, Clients(local_aws.url, template.region)) is None


def test_fails_r27_functions_publishing_to_two_buses() -> None:
    # Given two functions of one template that name different buses
    template = _publishing_template("default")
    other = dict(template.body["Resources"]["Processor"])
    other["Properties"] = {"Handler": "h", "Environment": {"Variables": {"EVENT_BUS_ARN": "x"}}}
    template.body["Resources"]["Other"] = other
    # Then the local run refuses to guess which one to subscribe on
    with pytest.raises(TemplateError, match="several buses"):
        event_bus_of(template)


def test_r27_banner_says_where_the_job_events_go(pipeline: LocalPipeline) -> None:
    # When the banner of the running dev pipeline is rendered
    text = banner(pipeline, time.monotonic())
    # Then it names the queue and the bus, and shows fpipe events among the things to try
    assert pipeline.job_events is not None
    assert f"job events (R27):            {pipeline.job_events.queue_url}" in text
    assert "on bus default" in text
    assert f"--api {pipeline.url} events --follow" in text


def _split_threshold(pipeline: LocalPipeline) -> int:
    assert pipeline.lambdas is not None
    processor = pipeline.lambdas.by_handler("runtime.handlers.processor.handler")
    return int(processor.environment["SPLIT_THRESHOLD_BYTES"])


def _split_file(pipeline: LocalPipeline, symbol: str) -> tuple[bytes, int]:
    count = _split_threshold(pipeline) // 40 + 2_000
    content = render_csv(make_rows(symbol, count))
    assert len(content) > _split_threshold(pipeline)
    return content, count


def test_r27_r28_a_split_file_publishes_one_event_from_its_finisher(
    pipeline: LocalPipeline, api: Api, queue: JobEventsQueue
) -> None:
    # Given a file above the template's split threshold, declared with its digest and count
    symbol = unique_symbol("SE")
    content, count = _split_file(pipeline, symbol)
    digest = hashlib.sha256(content).hexdigest()
    created = api.post(
        "/upload",
        json={"fileName": "s.csv", "fileType": "csv", "sha256": digest, "expectedRows": count},
    )
    assert created.status_code == 201, created.text
    job_id = created.json()["jobId"]
    assert pipeline.lambdas is not None
    finisher = pipeline.lambdas.by_handler("runtime.handlers.finish_split.handler")
    before = pipeline.lambdas.invocations[finisher.logical_id]

    # When it is uploaded and its execution has finished the job
    _post_file(created.json(), content)
    job = api.wait(job_id, timeout=300)
    _settled(pipeline)

    # Then the state machine's finisher ended the job, which matched both declarations and
    # published one event
    assert job["status"] == "COMPLETED", job["errors"]
    # At least its own Finish (the execution-ended rule targets the same function, and may
    # deliver an earlier test's failed execution meanwhile); one event either way (below)
    assert pipeline.lambdas.invocations[finisher.logical_id] >= before + 1
    assert job["sha256"] == digest
    (event,) = _events_of(queue, job_id)
    assert event["detail"]["rows"]["total"] == count
    assert event["detail"]["sha256"] == digest


def test_r28_a_tampered_split_file_fails_before_any_part_is_processed(
    pipeline: LocalPipeline, api: Api, queue: JobEventsQueue
) -> None:
    # Given a file above the split threshold, declared with the digest of another file
    symbol = unique_symbol("ST")
    content, _ = _split_file(pipeline, symbol)
    declared = hashlib.sha256(content + b"\n").hexdigest()
    created = api.post("/upload", json={"fileName": "s.csv", "fileType": "csv", "sha256": declared})
    assert created.status_code == 201, created.text
    job_id = created.json()["jobId"]

    # When it is uploaded
    _post_file(created.json(), content)
    job = api.wait(job_id, timeout=300)
    _settled(pipeline)

    # Then the planner failed it CHECKSUM_MISMATCH and no row of it was stored
    assert job["status"] == "FAILED"
    assert [e["code"] for e in job["errors"]].count("CHECKSUM_MISMATCH") == 1
    assert job["sha256"] == hashlib.sha256(content).hexdigest()
    rows, _ = api.all_rows(symbol, limit=1000)
    assert rows == []
    (event,) = _events_of(queue, job_id)
    assert event["detail-type"] == "Job Failed"
