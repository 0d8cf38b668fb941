"""Props validation: invalid or conflicting props fail early with ValueError."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template

from financial_pipeline import FinancialPipeline, FunctionOptions, Ingest, Storage
from financial_pipeline._defaults import merge_props


def _build(stack: cdk.Stack, **props: Any) -> FinancialPipeline:
    props.setdefault("environment_name", "dev")
    return FinancialPipeline(stack, "Pipeline", bundle_dependencies=False, **props)


def test_fails_on_an_unknown_authorization_mode(stack: cdk.Stack) -> None:
    with pytest.raises(ValueError, match=r"authorization must be one of .* \(got 'oauth'\)"):
        _build(stack, authorization="oauth")


def test_fails_when_a_user_pool_is_given_without_cognito_mode(stack: cdk.Stack) -> None:
    # Given an existing pool but IAM authorization
    pool = cognito.UserPool.from_user_pool_id(stack, "Pool", "eu-west-1_abcdefghi")
    # Then the combination is refused
    with pytest.raises(ValueError, match="existing_user_pool needs authorization 'cognito'"):
        _build(stack, existing_user_pool=pool)


@pytest.mark.parametrize("size", [0, -1, 5 * 1024**3 + 1])
def test_fails_on_an_impossible_upload_size(stack: cdk.Stack, size: int) -> None:
    with pytest.raises(ValueError, match=rf"max_upload_bytes must be between .* \(got {size}\)"):
        _build(stack, max_upload_bytes=size)


@pytest.mark.parametrize("name", ["Prod", "", "a" * 17, "dev_1", "1dev"])
def test_fails_on_a_bad_environment_name(stack: cdk.Stack, name: str) -> None:
    with pytest.raises(ValueError, match="environment_name must be"):
        _build(stack, environment_name=name)


def test_fails_on_an_unknown_log_level(stack: cdk.Stack) -> None:
    with pytest.raises(ValueError, match=r"log_level must be one of .* \(got 'verbose'\)"):
        _build(stack, log_level="verbose")


def test_fails_on_a_zero_job_ttl(stack: cdk.Stack) -> None:
    with pytest.raises(ValueError, match=r"job_ttl_days must be at least 1 \(got 0\)"):
        _build(stack, job_ttl_days=0)


def test_fails_on_a_write_concurrency_out_of_range(stack: cdk.Stack) -> None:
    with pytest.raises(ValueError, match=r"write_concurrency must be between 1 and 64 \(got 0\)"):
        _build(stack, write_concurrency=0)


def test_fails_on_an_upload_url_ttl_over_7_days(stack: cdk.Stack) -> None:
    with pytest.raises(ValueError, match="upload_url_ttl must be between 1 minute and 7 days"):
        _build(stack, upload_url_ttl=cdk.Duration.days(8))


def test_fails_on_zero_reserved_concurrency(stack: cdk.Stack) -> None:
    with pytest.raises(ValueError, match=r"reserved_concurrency must be at least 1 \(got 0\)"):
        _build(stack, processor_reserved_concurrency=0)


def test_fails_when_bucket_props_weaken_encryption(stack: cdk.Stack) -> None:
    # Given bucket props that would switch the required SSE-S3 to KMS / Then refused (R8)
    with pytest.raises(ValueError, match="bucket_props cannot override 'encryption'"):
        _build(stack, bucket_props={"encryption": s3.BucketEncryption.KMS})


def test_fails_when_bucket_props_disable_tls_enforcement(stack: cdk.Stack) -> None:
    with pytest.raises(ValueError, match="bucket_props cannot override 'enforce_ssl'"):
        _build(stack, bucket_props={"enforce_ssl": False})


def test_fails_when_function_props_replace_the_handler(stack: cdk.Stack) -> None:
    with pytest.raises(ValueError, match="function_props cannot override 'handler'"):
        _build(stack, function_props={"handler": "other.handler"})


def test_fails_when_function_props_set_the_reserved_concurrency(stack: cdk.Stack) -> None:
    # Given function props with a reserved concurrency, which the processor's own prop owns
    # Then it is refused rather than silently replaced by processor_reserved_concurrency (R15)
    with pytest.raises(
        ValueError,
        match=r"function_props cannot override 'reserved_concurrent_executions' \(got 5\)",
    ):
        _build(stack, function_props={"reserved_concurrent_executions": 5})


def test_fails_when_ingest_function_props_set_the_reserved_concurrency(stack: cdk.Stack) -> None:
    # Given Ingest used on its own, with the same conflict / Then it is refused too
    storage = Storage(stack, "Storage")
    options = FunctionOptions(
        code=lambda_.Code.from_inline("def handler(event, context): pass"),
        function_props={"reserved_concurrent_executions": 100},
    )
    with pytest.raises(ValueError, match="cannot override 'reserved_concurrent_executions'"):
        Ingest(stack, "Ingest", storage=storage, functions=options)


def test_merge_order_is_required_then_user_then_defaults() -> None:
    # Given a default, a user value and a required value
    merged = merge_props({"a": 1, "b": 1, "c": 1}, {"b": 2, "c": 3}, {"c": 3, "d": 4}, what="props")
    # Then required wins, user props beat defaults, and a user value equal to a required one is
    # accepted
    assert merged == {"a": 1, "b": 2, "c": 3, "d": 4}


def test_user_props_reach_the_resources(stack: cdk.Stack) -> None:
    # Given a user memory size and bucket versioning
    _build(stack, function_props={"memory_size": 4096}, bucket_props={"versioned": True})
    template = Template.from_stack(stack)
    # Then they override the defaults
    functions = template.find_resources("AWS::Lambda::Function")
    memory = {
        f["Properties"]["MemorySize"]
        for f in functions.values()
        if str(f["Properties"].get("Handler", "")).startswith("runtime.")
    }
    assert memory == {4096}
    template.has_resource_properties(
        "AWS::S3::Bucket", {"VersioningConfiguration": {"Status": "Enabled"}}
    )


def test_function_props_replace_the_processor_ephemeral_storage(stack: cdk.Stack) -> None:
    # Given function props with a smaller ephemeral storage
    _build(stack, function_props={"ephemeral_storage_size": cdk.Size.mebibytes(1024)})
    # When synthesized
    functions = Template.from_stack(stack).find_resources("AWS::Lambda::Function")
    # Then the user's value wins over the processor's 4 GiB default
    processor = next(
        f["Properties"]
        for f in functions.values()
        if f["Properties"].get("Handler") == "runtime.handlers.processor.handler"
    )
    assert processor["EphemeralStorage"] == {"Size": 1024}


@pytest.mark.parametrize("origin", ["https://a.example,https://b.example", "", " https://a"])
def test_fails_on_a_cors_origin_that_cannot_be_passed_on(stack: cdk.Stack, origin: str) -> None:
    # Given an origin that would not survive the comma-separated CORS_ALLOW_ORIGINS / Then refused
    with pytest.raises(ValueError, match="cors_allow_origins must be non-empty origins"):
        _build(stack, cors_allow_origins=[origin])


# Versioning, whichever prop turns it on, keeps the noncurrent-version expiry.


def _upload_bucket_props(template: Template) -> dict[str, Any]:
    buckets = template.find_resources("AWS::S3::Bucket")
    [upload] = [props for key, props in buckets.items() if "UploadBucket" in key]
    properties: dict[str, Any] = upload["Properties"]
    return properties


def _rule_ids(bucket: dict[str, Any]) -> list[str]:
    return [rule["Id"] for rule in bucket["LifecycleConfiguration"]["Rules"]]


@pytest.mark.parametrize(
    "props",
    [
        {"versioned": True},
        # S3 turns versioning on for a bucket created with Object Lock.
        {"object_lock_enabled": True},
    ],
    ids=["versioned", "object_lock"],
)
def test_fails_versioning_turned_on_by_bucket_props_still_expires_noncurrent_versions(
    stack: cdk.Stack, props: dict[str, Any]
) -> None:
    # Given versioning turned on through bucket_props, not bucket_versioning
    _build(stack, bucket_props=props)
    # When synthesized
    bucket = _upload_bucket_props(Template.from_stack(stack))
    # Then noncurrent versions and the delete markers left behind are expired, so that a moved
    # or deleted file is not kept forever
    assert {
        "Id": "ExpireNoncurrentVersions",
        "Status": "Enabled",
        "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
        "ExpiredObjectDeleteMarker": True,
    } in bucket["LifecycleConfiguration"]["Rules"]


def test_versioning_asked_for_twice_has_one_noncurrent_rule(stack: cdk.Stack) -> None:
    # Given bucket_versioning and bucket_props both turning versioning on
    _build(stack, bucket_versioning=True, bucket_props={"versioned": True})
    # Then the upload bucket has the rule once
    assert (
        _rule_ids(_upload_bucket_props(Template.from_stack(stack))).count(
            "ExpireNoncurrentVersions"
        )
        == 1
    )


def test_unversioned_bucket_has_no_noncurrent_rule(stack: cdk.Stack) -> None:
    _build(stack)
    bucket = _upload_bucket_props(Template.from_stack(stack))
    assert "VersioningConfiguration" not in bucket
    assert "ExpireNoncurrentVersions" not in _rule_ids(bucket)


# Typed props: the jsii structs are accepted wherever a mapping is.


def test_fails_typed_bucket_props_reach_the_upload_bucket(stack: cdk.Stack) -> None:
    # Given an s3.BucketProps struct instead of a mapping
    _build(stack, bucket_props=s3.BucketProps(versioned=True, transfer_acceleration=True))
    # When synthesized
    bucket = _upload_bucket_props(Template.from_stack(stack))
    # Then its values reach the bucket, with the noncurrent rule that versioning needs
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["AccelerateConfiguration"] == {"AccelerationStatus": "Enabled"}
    assert "ExpireNoncurrentVersions" in _rule_ids(bucket)


def test_fails_typed_bucket_props_still_cannot_weaken_the_bucket(stack: cdk.Stack) -> None:
    with pytest.raises(ValueError, match=r"bucket_props cannot override 'enforce_ssl'"):
        _build(stack, bucket_props=s3.BucketProps(enforce_ssl=False))


def test_fails_typed_bucket_props_of_storage_used_alone(stack: cdk.Stack) -> None:
    # Given Storage used on its own with a struct / Then it builds the bucket with it
    Storage(stack, "Storage", bucket_props=s3.BucketProps(versioned=True))
    bucket = _upload_bucket_props(Template.from_stack(stack))
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}


def _runtime_functions(template: Template) -> list[dict[str, Any]]:
    return [
        f["Properties"]
        for f in template.find_resources("AWS::Lambda::Function").values()
        if str(f["Properties"].get("Handler", "")).startswith("runtime.")
    ]


def test_fails_typed_function_props_reach_every_function(stack: cdk.Stack) -> None:
    # Given a lambda.FunctionOptions struct (every function prop but code, handler, runtime)
    _build(
        stack,
        function_props=lambda_.FunctionOptions(
            memory_size=4096, ephemeral_storage_size=cdk.Size.mebibytes(1024)
        ),
    )
    # Then every function has its values, the processor's ephemeral storage default replaced
    functions = _runtime_functions(Template.from_stack(stack))
    assert {f["MemorySize"] for f in functions} == {4096}
    assert {f["EphemeralStorage"]["Size"] for f in functions} == {1024}


def test_fails_typed_function_props_still_cannot_set_the_reserved_concurrency(
    stack: cdk.Stack,
) -> None:
    # Given Ingest used on its own with a struct carrying a reserved concurrency / Then refused
    storage = Storage(stack, "Storage")
    options = FunctionOptions(
        code=lambda_.Code.from_inline("def handler(event, context): pass"),
        function_props=lambda_.FunctionOptions(reserved_concurrent_executions=5),
    )
    with pytest.raises(ValueError, match=r"cannot override 'reserved_concurrent_executions'"):
        Ingest(stack, "Ingest", storage=storage, functions=options)


def test_fails_function_props_struct_with_its_own_code_says_to_use_function_options(
    stack: cdk.Stack,
) -> None:
    # Given a lambda.FunctionProps, whose code, handler and runtime are the construct's own
    props = lambda_.FunctionProps(
        code=lambda_.Code.from_inline("x"), handler="x.handler", runtime=lambda_.Runtime.PYTHON_3_14
    )
    # Then it is refused, naming the struct to use instead
    with pytest.raises(ValueError, match=r"function_props .*aws_lambda\.FunctionOptions"):
        _build(stack, function_props=props)


@pytest.mark.parametrize(
    ("prop", "value"),
    [
        ("bucket_props", lambda_.FunctionOptions(memory_size=128)),
        ("bucket_props", [("versioned", True)]),
        ("function_props", s3.BucketProps(versioned=True)),
    ],
)
def test_fails_props_of_another_type_name_the_prop_and_what_it_takes(
    stack: cdk.Stack, prop: str, value: object
) -> None:
    with pytest.raises(TypeError, match=rf"{prop} must be a mapping or aws_cdk\.aws_"):
        _build(stack, **{prop: value})
