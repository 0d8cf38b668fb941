"""FinancialPipeline's option classes, the deprecated flat arguments, and the methods a
consumer's stack calls (grant_invoke_api, grant_read_results, metric)."""

from __future__ import annotations

import inspect
import re
import tomllib
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template

import financial_pipeline
from financial_pipeline import (
    ApiOptions,
    FinancialPipeline,
    HardeningOptions,
    IngestOptions,
    LambdaOptions,
    Metric,
    ObservabilityOptions,
    SplitOptions,
    StorageOptions,
)
from financial_pipeline.options import DEPRECATED_PROPS, OPTIONS

from .conftest import REPO

NO_BUNDLE = LambdaOptions(bundle_dependencies=False)


def _stack() -> cdk.Stack:
    return cdk.Stack(
        cdk.App(), "Stack", env=cdk.Environment(account="111111111111", region="eu-west-1")
    )


def _template(stack: cdk.Stack) -> dict[str, Any]:
    template: dict[str, Any] = Template.from_stack(stack).to_json()
    return template


def test_options_and_the_deprecated_arguments_build_the_same_template() -> None:
    # Given one pipeline built with option classes and one with the 0.1.0 flat arguments
    new, old = _stack(), _stack()
    FinancialPipeline(
        new,
        "Pipeline",
        environment_name="prod",
        api_options=ApiOptions(cors_allow_origins=["https://desk.example.com"]),
        split_options=SplitOptions(threshold_bytes=32 * 1024 * 1024),
        ingest_options=IngestOptions(write_concurrency=4),
        observability_options=ObservabilityOptions(alarm_email="oncall@example.com"),
        lambda_options=NO_BUNDLE,
    )
    # When the flat call is made / Then it warns once per argument, naming the option class
    with pytest.warns(DeprecationWarning) as caught:
        FinancialPipeline(
            old,
            "Pipeline",
            environment_name="prod",
            cors_allow_origins=["https://desk.example.com"],
            split_threshold_bytes=32 * 1024 * 1024,
            write_concurrency=4,
            alarm_email="oncall@example.com",
            bundle_dependencies=False,
        )
    messages = [str(warning.message) for warning in caught]
    assert len(messages) == 5
    assert any("use split_options=SplitOptions(threshold_bytes=...)" in m for m in messages)
    # And both templates are the same
    assert _template(new) == _template(old)


def test_every_deprecated_argument_names_a_field_of_its_option_class() -> None:
    # Given the map of 0.1.0's flat arguments / Then each lands on a real field
    for prop, (argument, field_name) in DEPRECATED_PROPS.items():
        fields = inspect.signature(OPTIONS[argument]).parameters
        assert field_name in fields, prop
    # And FinancialPipeline takes each option argument
    parameters = inspect.signature(FinancialPipeline.__init__).parameters
    assert set(OPTIONS) <= set(parameters)


def test_an_argument_given_flat_and_in_its_options_is_refused() -> None:
    with pytest.raises(
        ValueError, match=re.escape("alarm_email is observability_options.alarm_email")
    ):
        FinancialPipeline(
            _stack(),
            "Pipeline",
            environment_name="dev",
            observability_options=ObservabilityOptions(),
            alarm_email="a@example.com",
            lambda_options=NO_BUNDLE,
        )


def test_an_unknown_argument_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="alarm_mail"):
        FinancialPipeline(_stack(), "Pipeline", environment_name="dev", alarm_mail="x")


def test_environment_name_is_required() -> None:
    with pytest.raises(TypeError, match="environment_name"):
        FinancialPipeline(_stack(), "Pipeline", lambda_options=NO_BUNDLE)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ApiOptions(authorization="saml"), "authorization must be one of"),
        (lambda: ApiOptions(max_upload_bytes=0), "max_upload_bytes must be between 1"),
        (lambda: ApiOptions(report_url_ttl=Duration.days(8)), "report_url_ttl must be between"),
        (lambda: IngestOptions(write_concurrency=65), "write_concurrency must be between 1 and 64"),
        (lambda: IngestOptions(reserved_concurrency=0), "reserved_concurrency must be at least 1"),
        (lambda: IngestOptions(sweep_interval=Duration.seconds(30)), "sweep_interval must be"),
        (lambda: SplitOptions(part_bytes=1), "part_bytes must be between"),
        (lambda: SplitOptions(threshold_bytes=1024 * 1024), "threshold_bytes must be between"),
        (lambda: SplitOptions(max_concurrency=0), "max_concurrency must be between 1 and 10000"),
        (lambda: StorageOptions(job_ttl_days=0), "job_ttl_days must be at least 1"),
        (lambda: HardeningOptions(vpc_endpoints=False), "vpc_endpoints=False needs run_in_vpc"),
        (
            lambda: HardeningOptions(web_acl=False, existing_web_acl_arn="arn:x"),
            "existing_web_acl_arn needs web_acl",
        ),
        (lambda: ObservabilityOptions(log_level="TRACE"), "log_level must be one of"),
        (
            lambda: ObservabilityOptions(error_rate_threshold_percent=0),
            "error_rate_threshold_percent must be more than 0",
        ),
    ],
)
def test_each_option_class_refuses_a_wrong_value_where_it_is_written(
    make: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        make()


def test_the_hardened_profile_decides_the_switches_left_open() -> None:
    # Given open switches / When resolved for each profile / Then hardened turns all on
    resolved = HardeningOptions().resolved(hardened=True)
    assert (resolved.customer_managed_key, resolved.web_acl, resolved.run_in_vpc) == (
        True,
        True,
        True,
    )
    assert HardeningOptions().resolved(hardened=False).bucket_versioning is False
    with pytest.raises(ValueError, match="profile 'hardened' needs web_acl"):
        HardeningOptions(web_acl=False).resolved(hardened=True)


def test_grant_invoke_api_allows_execute_api_invoke_on_the_stage_routes() -> None:
    # Given a consumer role in the pipeline's stack
    stack = _stack()
    pipeline = FinancialPipeline(
        stack, "Pipeline", environment_name="dev", lambda_options=NO_BUNDLE
    )
    role = iam.Role(stack, "Consumer", assumed_by=iam.AccountRootPrincipal())
    # When it is granted GET on the results
    pipeline.grant_invoke_api(role, method="GET", path="/results/*")
    # Then its policy allows execute-api:Invoke on v1/GET/results/* of this API alone
    policies = Template.from_stack(stack).find_resources(
        "AWS::IAM::Policy",
        {"Properties": {"Roles": [{"Ref": Match.string_like_regexp("Consumer")}]}},
    )
    (policy,) = policies.values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "execute-api:Invoke"
    resource = cdk.Stack.of(pipeline).resolve(statement["Resource"])
    parts = resource["Fn::Join"][1]
    assert parts[-1] == "/v1/GET/results/*"
    assert {"Ref": next(iter(_ids(stack, "AWS::ApiGateway::RestApi")))} in parts


def _ids(stack: cdk.Stack, kind: str) -> list[str]:
    return list(Template.from_stack(stack).find_resources(kind))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"method": "DELETE"}, "method must be one of"), ({"path": "/admin"}, "path must be")],
)
def test_grant_invoke_api_refuses_what_names_no_route(kwargs: dict[str, str], message: str) -> None:
    stack = _stack()
    pipeline = FinancialPipeline(
        stack, "Pipeline", environment_name="dev", lambda_options=NO_BUNDLE
    )
    role = iam.Role(stack, "Consumer", assumed_by=iam.AccountRootPrincipal())
    with pytest.raises(ValueError, match=message):
        pipeline.grant_invoke_api(role, **kwargs)


def test_grant_invoke_api_is_refused_when_the_api_does_not_check_iam() -> None:
    stack = _stack()
    pipeline = FinancialPipeline(
        stack,
        "Pipeline",
        environment_name="dev",
        api_options=ApiOptions(authorization="cognito"),
        lambda_options=NO_BUNDLE,
    )
    role = iam.Role(stack, "Consumer", assumed_by=iam.AccountRootPrincipal())
    with pytest.raises(ValueError, match="grant_invoke_api needs authorization 'iam'"):
        pipeline.grant_invoke_api(role)


def test_metric_carries_the_dimensions_the_functions_record() -> None:
    # Given a pipeline of environment "prod"
    pipeline = FinancialPipeline(
        _stack(), "Pipeline", environment_name="prod", lambda_options=NO_BUNDLE
    )
    # When a consumer asks for a metric / Then namespace, name and both dimensions match
    metric = pipeline.metric_rows_rejected()
    assert (metric.namespace, metric.metric_name) == ("FinancialPipeline", "RowsRejected")
    assert metric.dimensions == {"service": "financial-pipeline", "environment": "prod"}
    assert pipeline.metric_job_duration().statistic == "p99"
    with pytest.raises(ValueError, match="metric must be one of"):
        pipeline.metric("RowsRejectd")
    # And the processor records under that very name
    processor = (REPO / "runtime" / "logic" / "processor.py").read_text()
    assert f'name="{Metric.ROWS_REJECTED}"' in processor or "Metric.ROWS_REJECTED" in processor


def test_version_comes_from_the_package_metadata() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert financial_pipeline.__version__ == project["version"]
    # And the version is written once, in pyproject.toml
    assert project["version"] not in (REPO / "financial_pipeline" / "__init__.py").read_text()


def test_every_sub_construct_exposes_its_functions_and_log_groups_keyed_alike(
    stack: cdk.Stack,
) -> None:
    pipeline = FinancialPipeline(
        stack, "Pipeline", environment_name="dev", lambda_options=NO_BUNDLE
    )
    expected = {
        "api": ["Upload", "Status", "Results"],
        "ingest": ["Processor", "Sweeper"],
        "split": ["ParsePart", "WritePartition", "FinishSplit"],
    }
    for part, names in expected.items():
        construct = getattr(pipeline, part)
        assert list(construct.functions) == names
        assert list(construct.log_groups) == names
        # Each log group is the one its function writes to
        for name in names:
            function = construct.functions[name]
            log_group = construct.log_groups[name]
            assert log_group.node.scope is function.node.scope, (part, name)
