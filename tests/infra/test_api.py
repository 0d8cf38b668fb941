"""Api: routes, validation, error shape, throttling, tracing, logging, CORS, auth (R1-R7)."""

from __future__ import annotations

import json
import re
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cognito as cognito
from aws_cdk.assertions import Match, Template

from financial_pipeline import FinancialPipeline, LambdaOptions
from financial_pipeline.api import (
    CORRELATION_HEADER,
    ERROR_RESPONSE_TEMPLATE,
    GATEWAY_CORRELATION_SOURCE,
    json_schema,
)
from financial_pipeline.api_schema import UPLOAD_REQUEST

from .conftest import logical_id, resources


def _method(template: Template, verb: str, path_part: str) -> dict[str, Any]:
    resource_ids = [
        key
        for key, value in resources(template, "AWS::ApiGateway::Resource").items()
        if value["Properties"]["PathPart"] == path_part
    ]
    assert len(resource_ids) == 1
    methods = [
        m
        for m in resources(template, "AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] == verb
        and m["Properties"]["ResourceId"] == {"Ref": resource_ids[0]}
    ]
    assert len(methods) == 1
    method: dict[str, Any] = methods[0]
    return method


def test_r1_r2_r3_three_routes_each_with_its_own_lambda_proxy(prod: Template) -> None:
    # Given the three routes of the HTTP contract
    routes = {
        ("POST", "upload"): "UploadFunction",
        ("GET", "{jobId}"): "StatusFunction",
        ("GET", "{symbol}"): "ResultsFunction",
    }
    for (verb, part), function in routes.items():
        # When the method is found
        integration = _method(prod, verb, part)["Properties"]["Integration"]
        # Then it is a Lambda proxy to that route's own function
        assert integration["Type"] == "AWS_PROXY"
        assert integration["IntegrationHttpMethod"] == "POST"
        uri = json.dumps(integration["Uri"])
        assert logical_id(prod, "AWS::Lambda::Function", function) in uri
    prod.resource_count_is("AWS::ApiGateway::Method", 3)


def test_r4_upload_validates_body_against_the_upload_model(prod: Template) -> None:
    # Given POST /upload
    props = _method(prod, "POST", "upload")["Properties"]
    validators = resources(prod, "AWS::ApiGateway::RequestValidator")

    # Then the body is validated against the UploadRequest model
    validator = validators[props["RequestValidatorId"]["Ref"]]["Properties"]
    assert validator["ValidateRequestBody"] is True
    assert validator["ValidateRequestParameters"] is True
    model_id = logical_id(prod, "AWS::ApiGateway::Model", "UploadRequest")
    assert props["RequestModels"] == {"application/json": {"Ref": model_id}}


def test_r4_upload_model_is_the_draft4_schema_of_api_schema(prod: Template) -> None:
    # Given the UploadRequest model / Then its schema is the api_schema dictionary
    prod.has_resource_properties(
        "AWS::ApiGateway::Model",
        {"Name": "UploadRequest", "ContentType": "application/json", "Schema": UPLOAD_REQUEST},
    )


def test_r4_path_parameters_are_required_and_validated(prod: Template) -> None:
    # Given the two GET routes / Then their path parameter is required and validated
    validators = resources(prod, "AWS::ApiGateway::RequestValidator")
    for part, param in (("{jobId}", "jobId"), ("{symbol}", "symbol")):
        props = _method(prod, "GET", part)["Properties"]
        assert props["RequestParameters"][f"method.request.path.{param}"] is True
        validator = validators[props["RequestValidatorId"]["Ref"]]["Properties"]
        assert validator["ValidateRequestParameters"] is True
    results = _method(prod, "GET", "{symbol}")["Properties"]["RequestParameters"]
    assert results["method.request.querystring.limit"] is False


@pytest.mark.parametrize("response_type", ["DEFAULT_4XX", "DEFAULT_5XX"])
def test_r5_gateway_errors_use_the_spec_shape_and_correlation_header(
    prod: Template, response_type: str
) -> None:
    # Given API Gateway's own error responses
    # Then they emit the SPEC error body with the request id and the X-Correlation-Id header
    prod.has_resource_properties(
        "AWS::ApiGateway::GatewayResponse",
        {
            "ResponseType": response_type,
            "ResponseParameters": {"gatewayresponse.header.X-Correlation-Id": "context.requestId"},
            "ResponseTemplates": {"application/json": ERROR_RESPONSE_TEMPLATE},
        },
    )


def test_r5_error_template_is_the_spec_error_shape() -> None:
    # Given the template with API Gateway's variables replaced by sample values
    rendered = (
        ERROR_RESPONSE_TEMPLATE.replace("$context.error.responseType", "BAD_REQUEST_BODY")
        .replace("$context.error.messageString", '"Invalid request body"')
        .replace("$context.requestId", "abc-123")
    )
    # When parsed / Then it is the SPEC shape
    assert json.loads(rendered) == {
        "error": {"code": "BAD_REQUEST_BODY", "message": "Invalid request body"},
        "correlationId": "abc-123",
    }


def test_r5_gateway_error_header_and_body_carry_the_same_request_id() -> None:
    # Given the gateway responses' header mapping and body template
    references = re.findall(r"\$[A-Za-z{][A-Za-z0-9_.{}]*", ERROR_RESPONSE_TEMPLATE)

    # Then the body's correlationId and the header both come from the request id
    assert GATEWAY_CORRELATION_SOURCE == "context.requestId"
    assert '"correlationId": "$context.requestId"' in ERROR_RESPONSE_TEMPLATE
    # and the template uses plain $context substitution only: API Gateway does not run VTL
    # (#if, $util, $input) in gateway response templates, so nothing else would render
    assert "#" not in ERROR_RESPONSE_TEMPLATE
    assert references
    assert all(ref.startswith("$context.") for ref in references)


def test_r5_dev_cors_allows_and_exposes_the_correlation_header(dev: Template) -> None:
    # Given dev, which allows a browser origin
    # Then the preflight allows the request header and names it as exposed
    dev.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "OPTIONS",
            "Integration": Match.object_like(
                {
                    "IntegrationResponses": [
                        Match.object_like(
                            {
                                "ResponseParameters": Match.object_like(
                                    {
                                        "method.response.header.Access-Control-Allow-Headers": (
                                            Match.string_like_regexp(CORRELATION_HEADER)
                                        ),
                                        "method.response.header.Access-Control-Expose-Headers": (
                                            f"'{CORRELATION_HEADER}'"
                                        ),
                                    }
                                )
                            }
                        )
                    ]
                }
            ),
        },
    )
    # and every gateway error lets a browser script read the correlation header
    for response_type in ("DEFAULT_4XX", "DEFAULT_5XX"):
        dev.has_resource_properties(
            "AWS::ApiGateway::GatewayResponse",
            {
                "ResponseType": response_type,
                "ResponseParameters": Match.object_like(
                    {
                        "gatewayresponse.header.Access-Control-Expose-Headers": (
                            f"'{CORRELATION_HEADER}'"
                        ),
                        "gatewayresponse.header.X-Correlation-Id": "context.requestId",
                    }
                ),
            },
        )


def test_r5_prod_gateway_errors_have_no_cors_headers(prod: Template) -> None:
    # Given prod without browser origins / Then gateway errors carry only the correlation header
    for response in resources(prod, "AWS::ApiGateway::GatewayResponse").values():
        assert response["Properties"]["ResponseParameters"] == {
            "gatewayresponse.header.X-Correlation-Id": "context.requestId"
        }


def test_r6_r7_stage_throttles_1000_2000_traces_and_logs(prod: Template) -> None:
    # Given the stage / Then throttling, X-Ray, execution logs and JSON access logs are on
    prod.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": "v1",
            "TracingEnabled": True,
            "MethodSettings": [
                Match.object_like(
                    {
                        "HttpMethod": "*",
                        "ResourcePath": "/*",
                        "ThrottlingRateLimit": 1000,
                        "ThrottlingBurstLimit": 2000,
                        "LoggingLevel": "INFO",
                        "DataTraceEnabled": False,
                        "MetricsEnabled": True,
                    }
                )
            ],
            "AccessLogSetting": Match.object_like(
                {"Format": Match.string_like_regexp(r'^\{"requestId":"\$context\.requestId"')}
            ),
        },
    )


def test_iam_is_the_default_authorization(prod: Template) -> None:
    # Given prod (authMode iam) / Then every route needs SigV4
    prod.all_resources_properties("AWS::ApiGateway::Method", {"AuthorizationType": "AWS_IAM"})


def test_dev_has_cors_preflight_and_cors_on_gateway_errors(dev: Template) -> None:
    # Given dev with a browser origin / Then preflight exists and gateway errors allow the origin
    dev.has_resource_properties(
        "AWS::ApiGateway::Method", {"HttpMethod": "OPTIONS", "AuthorizationType": "NONE"}
    )
    dev.has_resource_properties(
        "AWS::ApiGateway::GatewayResponse",
        {
            "ResponseParameters": Match.object_like(
                {"gatewayresponse.header.Access-Control-Allow-Origin": "'http://localhost:3000'"}
            )
        },
    )


def _variables(template: Template, name: str) -> dict[str, Any]:
    functions = resources(template, "AWS::Lambda::Function")
    variables: dict[str, Any] = functions[
        logical_id(template, "AWS::Lambda::Function", f"{name}Function")
    ]["Properties"]["Environment"]["Variables"]
    return variables


def test_api_handlers_get_the_allowed_origins(dev: Template, prod: Template) -> None:
    # Given dev (one browser origin) and prod (none)
    for name in ("Upload", "Status", "Results"):
        # When the handlers' environment is read
        # Then CORS_ALLOW_ORIGINS lists the origins, empty when CORS is off
        assert _variables(dev, name)["CORS_ALLOW_ORIGINS"] == "http://localhost:3000"
        assert _variables(prod, name)["CORS_ALLOW_ORIGINS"] == ""
    # and the functions that answer no browser do not get it
    for name in ("Processor", "Sweeper"):
        assert "CORS_ALLOW_ORIGINS" not in _variables(dev, name)


def test_several_origins_reach_the_handlers_but_no_gateway_response_favours_one(
    stack: cdk.Stack,
) -> None:
    # Given two browser origins
    origins = ["https://a.example", "https://b.example"]
    FinancialPipeline(
        stack,
        "Pipeline",
        environment_name="dev",
        lambda_options=LambdaOptions(bundle_dependencies=False),
        cors_allow_origins=origins,
    )

    # When synthesized
    template = Template.from_stack(stack)

    # Then the handlers get both, comma-separated, and can answer each with its own origin
    assert _variables(template, "Upload")["CORS_ALLOW_ORIGINS"] == ",".join(origins)
    # while gateway errors, whose headers are static, allow neither rather than only the first
    responses = resources(template, "AWS::ApiGateway::GatewayResponse").values()
    assert len(responses) == 2
    for response in responses:
        assert response["Properties"]["ResponseParameters"] == {
            "gatewayresponse.header.X-Correlation-Id": "context.requestId"
        }
    # and the preflight still allows both origins
    template.has_resource_properties(
        "AWS::ApiGateway::Method", {"HttpMethod": "OPTIONS", "AuthorizationType": "NONE"}
    )


def test_prod_has_no_cors_preflight(prod: Template) -> None:
    # Given prod without browser origins / Then no OPTIONS method is created
    prod.resource_properties_count_is("AWS::ApiGateway::Method", {"HttpMethod": "OPTIONS"}, 0)


def test_json_schema_converts_types_and_keywords() -> None:
    # Given the upload request schema / When converted for API Gateway
    converted = json_schema(UPLOAD_REQUEST)
    # Then the draft-4 keywords survive
    assert converted.required == ["fileName", "fileType"]
    assert converted.additional_properties is False
    assert converted.properties is not None
    assert converted.properties["fileName"].max_length == 255


def _template_with(stack: cdk.Stack, **props: Any) -> Template:
    FinancialPipeline(
        stack,
        "Pipeline",
        environment_name="dev",
        lambda_options=LambdaOptions(bundle_dependencies=False),
        **props,
    )
    return Template.from_stack(stack)


def test_cognito_mode_creates_a_pool_and_authorizer(stack: cdk.Stack) -> None:
    # Given authorization "cognito" without a pool / When synthesized
    template = _template_with(stack, authorization="cognito")
    # Then a user pool backs a Cognito authorizer used by every route
    template.resource_count_is("AWS::Cognito::UserPool", 1)
    template.has_resource_properties("AWS::ApiGateway::Authorizer", {"Type": "COGNITO_USER_POOLS"})
    template.all_resources_properties(
        "AWS::ApiGateway::Method", {"AuthorizationType": "COGNITO_USER_POOLS"}
    )


def test_cognito_mode_trusts_an_existing_pool(stack: cdk.Stack) -> None:
    # Given an existing pool
    pool = cognito.UserPool.from_user_pool_id(stack, "Existing", "eu-west-1_abcdefghi")
    # When synthesized / Then no pool is created and the authorizer names the existing one
    template = _template_with(stack, authorization="cognito", existing_user_pool=pool)
    template.resource_count_is("AWS::Cognito::UserPool", 0)
    authorizer = next(iter(resources(template, "AWS::ApiGateway::Authorizer").values()))
    assert "userpool/eu-west-1_abcdefghi" in json.dumps(authorizer["Properties"]["ProviderARNs"])


def _table_actions(template: Template, policy_fragment: str) -> dict[str, list[str]]:
    """``policy_fragment``'s DynamoDB actions, by the table (``jobs``/``results``, with
    ``/index`` for a table's indexes) they are granted on."""
    policy_id = logical_id(template, "AWS::IAM::Policy", policy_fragment)
    statements = resources(template, "AWS::IAM::Policy")[policy_id]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    tables = {
        name: logical_id(template, "AWS::DynamoDB::GlobalTable", f"{name.title()}Table")
        for name in ("jobs", "results")
    }
    found: dict[str, list[str]] = {}
    for statement in statements:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        targets = (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        )
        for target in targets:
            text = json.dumps(target)
            for name, table in tables.items():
                if table in text:
                    key = f"{name}/index" if "/index/" in text else name
                    found.setdefault(key, []).extend(
                        a for a in actions if a.startswith("dynamodb:")
                    )
    return {key: sorted(value) for key, value in found.items()}


@pytest.mark.parametrize("env", ["dev", "prod", "regulated"])
def test_fails_r34_each_api_function_may_make_only_the_table_calls_its_code_makes(
    env: str, request: pytest.FixtureRequest
) -> None:
    # Given the API functions, whose code creates a job (PutItem), reads one by its id
    # (GetItem) and queries a symbol's rows (Query), none of them by an index
    template: Template = request.getfixturevalue(env)
    # Then each role may make exactly those calls, on that table itself: no write of another
    # kind, no Scan, no stream reads, nothing on the jobs table's indexes
    assert _table_actions(template, "UploadRoleDefaultPolicy") == {"jobs": ["dynamodb:PutItem"]}
    assert _table_actions(template, "StatusRoleDefaultPolicy") == {"jobs": ["dynamodb:GetItem"]}
    assert _table_actions(template, "ResultsRoleDefaultPolicy") == {"results": ["dynamodb:Query"]}
