"""The local pipeline brings up what the template describes, with the template's semantics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from local_api import handler

from local import synth
from local.cfn import Template, TemplateError
from local.lambdas import LambdaService
from local.pipeline import LocalPipeline
from local.synth import _source_key, synthesize_cached


def _resource_id(template: dict[str, Any], type_: str, contains: str) -> str:
    (found,) = [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == type_ and contains in logical_id
    ]
    return found


def test_r11_tables_have_the_template_keys_and_indexes_and_say_ttl_is_not_emulated(
    pipeline: LocalPipeline, dev_template: dict[str, Any]
) -> None:
    # Given the dev template's two tables
    results_id = _resource_id(dev_template, "AWS::DynamoDB::GlobalTable", "Results")
    jobs_id = _resource_id(dev_template, "AWS::DynamoDB::GlobalTable", "Jobs")
    ddb = pipeline.clients.dynamodb

    # When the local tables are described
    results = ddb.describe_table(TableName=pipeline.template.physical_name(results_id))["Table"]
    jobs_name = pipeline.template.physical_name(jobs_id)
    jobs = ddb.describe_table(TableName=jobs_name)["Table"]
    ttl = ddb.describe_time_to_live(TableName=jobs_name)["TimeToLiveDescription"]

    # Then they carry the template's key schema and index
    assert results["KeySchema"] == [
        {"AttributeName": "symbol", "KeyType": "HASH"},
        {"AttributeName": "timestamp", "KeyType": "RANGE"},
    ]
    assert jobs["KeySchema"] == [{"AttributeName": "jobId", "KeyType": "HASH"}]
    indexes = {
        index["IndexName"]: (
            [k["AttributeName"] for k in index["KeySchema"]],
            index["Projection"]["ProjectionType"],
        )
        for index in jobs["GlobalSecondaryIndexes"]
    }
    assert indexes == {
        "ByStatus": (["status", "updatedAt"], "KEYS_ONLY"),
        "ByPendingEvent": (["eventPending", "updatedAt"], "KEYS_ONLY"),
    }
    # And the template's TTL is not claimed by dynalite, which has none (the banner says so)
    jobs_props = dev_template["Resources"][jobs_id]["Properties"]
    assert jobs_props["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert ttl == {"TimeToLiveStatus": "DISABLED"}


def test_r9_bucket_notification_keeps_the_template_filter(pipeline: LocalPipeline) -> None:
    # Given the upload bucket of the template's S3 notification
    (notification,) = pipeline.notifications

    # When its notification configuration is read back from the emulated S3
    config = pipeline.clients.s3.get_bucket_notification_configuration(Bucket=notification.bucket)

    # Then object-created events under incoming/*.csv go to the poller's queue
    (queue_config,) = config["QueueConfigurations"]
    assert queue_config["Events"] == ["s3:ObjectCreated:*"]
    rules = {r["Name"].lower(): r["Value"] for r in queue_config["Filter"]["Key"]["FilterRules"]}
    assert rules == {"prefix": "incoming/", "suffix": ".csv"}
    assert notification.matches("incoming/a.csv")
    assert not notification.matches("processed/a.csv")


def test_r12_r13_functions_get_the_template_environment_with_references_resolved(
    pipeline: LocalPipeline,
) -> None:
    # Given the functions read from the template
    specs = {spec.handler: spec for spec in pipeline.functions.values()}

    # Then the handlers of the contract are there (the split path's three too), inline CDK
    # providers are not
    assert set(specs) == {
        handler("upload"),
        handler("status"),
        handler("results"),
        handler("processor"),
        handler("sweeper"),
        handler("parse_part"),
        handler("write_partition"),
        handler("finish_split"),
    }
    # And Ref/GetAtt resolve to the local resources
    processor = specs[handler("processor")]
    env = specs[handler("sweeper")].environment
    assert env["PROCESSOR_FUNCTION_NAME"] == processor.name
    buckets = pipeline.clients.s3.list_buckets()["Buckets"]
    assert env["BUCKET_NAME"] in {b["Name"] for b in buckets}
    tables = pipeline.clients.dynamodb.list_tables()["TableNames"]
    assert {env["JOBS_TABLE_NAME"], env["RESULTS_TABLE_NAME"]} <= set(tables)


def test_fails_r14_failed_async_invocation_retries_twice_then_goes_to_the_failure_queue(
    pipeline: LocalPipeline,
) -> None:
    # Given the template's processor with code that always fails
    processor = pipeline.lambdas.by_handler(handler("processor"))  # type: ignore[union-attr]
    assert processor.max_retries == 2
    assert processor.on_failure_queue_url is not None
    calls: list[dict[str, Any]] = []

    def failing(event: dict[str, Any], context: Any) -> None:
        calls.append(event)
        raise RuntimeError("DynamoDB unavailable")

    service = LambdaService(
        {processor.logical_id: processor},
        send_to_queue=lambda url, body: pipeline.clients.sqs.send_message(
            QueueUrl=url, MessageBody=body
        ),
        retry_delays=(0.01,),
        handlers={processor.handler: failing},
    )
    service.start()
    try:
        # When an event is invoked asynchronously
        service.invoke_async(processor, {"marker": "r14"})
        assert service.wait_idle(30)
    finally:
        service.stop()

    # Then it ran three times and its record reached the template's failure queue
    assert len(calls) == 3
    messages = pipeline.clients.sqs.receive_message(
        QueueUrl=processor.on_failure_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=5
    )["Messages"]
    records = [json.loads(m["Body"]) for m in messages]
    (record,) = [r for r in records if r["requestPayload"] == {"marker": "r14"}]
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["responsePayload"]["errorMessage"] == "DynamoDB unavailable"


def test_sweeper_redrive_reaches_the_processor_through_the_lambda_invoke_api(
    pipeline: LocalPipeline,
) -> None:
    # Given a boto3 Lambda client on the one local endpoint, as the handlers' clients are
    assert pipeline.lambdas is not None
    processor = pipeline.lambdas.by_handler(handler("processor"))
    before = pipeline.lambdas.invocations[processor.logical_id]
    client = boto3.client(
        "lambda",
        endpoint_url=pipeline.endpoint_url,
        region_name=pipeline.template.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )

    # When an asynchronous invocation of the processor is requested by name
    answer = client.invoke(
        FunctionName=processor.name, InvocationType="Event", Payload=b'{"Records": []}'
    )
    assert pipeline.lambdas.wait_idle(30)

    # Then the local runtime accepted and ran it
    assert answer["StatusCode"] == 202
    assert pipeline.lambdas.invocations[processor.logical_id] == before + 1


def test_r29_intrinsic_functions_resolve_to_local_values() -> None:
    # Given a template with references of every kind the local pipeline resolves
    template = Template(
        {
            "Parameters": {"Stage": {"Type": "String", "Default": "dev"}},
            "Resources": {
                "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "b-1"}},
                "Queue": {"Type": "AWS::SQS::Queue"},
            },
        },
        stack_name="s",
        region="eu-west-1",
        sqs_endpoint="http://127.0.0.1:1",
    )

    # Then each resolves as CloudFormation would, with local endpoints
    assert template.resolve({"Ref": "Bucket"}) == "b-1"
    assert template.resolve({"Fn::GetAtt": ["Bucket", "Arn"]}) == "arn:aws:s3:::b-1"
    assert template.resolve({"Fn::Sub": "${AWS::Region}-${Stage}-${Bucket}"}) == "eu-west-1-dev-b-1"
    assert template.resolve({"Fn::Join": ["/", [{"Ref": "AWS::AccountId"}, "x"]]}) == (
        "123456789012/x"
    )
    queue_url = template.resolve({"Ref": "Queue"})
    assert queue_url.startswith("http://127.0.0.1:1/123456789012/s-Queue-")
    assert template.resolve({"Fn::GetAtt": ["Queue", "QueueName"]}) == queue_url.rsplit("/", 1)[1]
    with pytest.raises(TemplateError, match="Missing"):
        template.resolve({"Ref": "Missing"})


def test_cached_template_is_reused_while_its_sources_are_unchanged(tmp_path: Path) -> None:
    # Given a cached template under the key of the current sources
    key = _source_key("dev")
    cached = {"stack_name": "S", "region": "eu-west-1", "template": {"Resources": {}}}
    (tmp_path / f"dev-{key}.json").write_text(json.dumps(cached))

    # When the dev template is asked for
    synthesized = synthesize_cached("dev", cache_dir=tmp_path)

    # Then the cached one is returned, and another environment has another key
    assert synthesized.stack_name == "S"
    assert synthesized.template == {"Resources": {}}
    assert _source_key("prod") != key


def _copy_of_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in checkout with one file of each kind the template may depend on."""
    for relative in (
        "app.py",
        "cdk.json",
        "financial_pipeline/api.py",
        "infra/config.py",
        "runtime/contract.py",
        "runtime/handlers/upload.py",
    ):
        target = tmp_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"# {relative}\n")
    monkeypatch.setattr(synth, "ROOT", tmp_path)


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("infra/config.py", id="app-package"),
        pytest.param("runtime/contract.py", id="contract-read-at-synth"),
        pytest.param("financial_pipeline/api.py", id="construct-library"),
        pytest.param("app.py", id="app"),
        pytest.param("cdk.json", id="context"),
    ],
)
def test_cached_template_is_refreshed_when_a_source_of_the_template_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    # Given the cache key of a checkout
    _copy_of_sources(tmp_path, monkeypatch)
    before = _source_key("dev")

    # When one source of the template changes
    with (tmp_path / source).open("a") as file:
        file.write("# changed\n")

    # Then the key changes, so the cached template is not reused
    assert _source_key("dev") != before


def test_cached_template_is_kept_when_only_lambda_code_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the cache key of a checkout
    _copy_of_sources(tmp_path, monkeypatch)
    before = _source_key("dev")

    # When a handler changes (the local pipeline imports it from the checkout)
    (tmp_path / "runtime/handlers/upload.py").write_text("# changed\n")

    # Then the cached template stays valid
    assert _source_key("dev") == before
