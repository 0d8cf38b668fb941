"""Api: the REST API, one Lambda per route (R1-R7)."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any, Final

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from financial_pipeline._defaults import LOG_RETENTION, THROTTLE_BURST_LIMIT, THROTTLE_RATE_LIMIT
from financial_pipeline.api_schema import MODELS
from financial_pipeline.function import PipelineFunction
from financial_pipeline.storage import INCOMING_PREFIX, REPORTS_PREFIX, Storage

__all__ = [
    "CORRELATION_HEADER",
    "CORS_ORIGINS_VARIABLE",
    "ERROR_RESPONSE_TEMPLATE",
    "GATEWAY_CORRELATION_SOURCE",
    "STAGE_NAME",
    "Api",
    "AuthorizationMode",
    "json_schema",
]

STAGE_NAME: Final = "v1"
CORRELATION_HEADER: Final = "X-Correlation-Id"
# R5: API Gateway's own errors carry the same shape as the handlers' errors.
# `messageString` is already a quoted JSON string. A gateway response template is not VTL:
# API Gateway only substitutes `$context` and `$stageVariables` values into it (no `#if`,
# `$util` or `$input`), so it cannot choose between a client's `X-Correlation-Id` and the
# request id. The body and the header therefore both carry the request id (see `Api`).
ERROR_RESPONSE_TEMPLATE: Final = (
    '{"error": {"code": "$context.error.responseType", '
    '"message": $context.error.messageString}, '
    '"correlationId": "$context.requestId"}'
)
GATEWAY_CORRELATION_SOURCE: Final = "context.requestId"
"""Where gateway responses take the ``X-Correlation-Id`` header from: the same value as the
body's ``correlationId``."""
CORS_ORIGINS_VARIABLE: Final = "CORS_ALLOW_ORIGINS"
"""The handlers' environment variable with the allowed browser origins, comma-separated."""
_JSON: Final = "application/json"


class AuthorizationMode(enum.StrEnum):
    """How callers authenticate to the API."""

    IAM = "iam"
    """SigV4-signed requests from IAM principals (default)."""
    COGNITO = "cognito"
    """JWTs from a Cognito user pool (an existing one, or one the construct creates)."""
    NONE = "none"
    """No authentication: an explicit opt-in, for private demos only."""


_SCHEMA_KEYS: Final = {
    "$schema": "schema",
    "additionalProperties": "additional_properties",
    "minLength": "min_length",
    "maxLength": "max_length",
    "minItems": "min_items",
    "maxItems": "max_items",
    "uniqueItems": "unique_items",
    "exclusiveMinimum": "exclusive_minimum",
    "exclusiveMaximum": "exclusive_maximum",
    "multipleOf": "multiple_of",
    "minProperties": "min_properties",
    "maxProperties": "max_properties",
}


def json_schema(schema: Mapping[str, Any]) -> apigw.JsonSchema:
    """Convert a draft-4 schema dictionary (see `api_schema`) into an `apigw.JsonSchema`."""
    kwargs: dict[str, Any] = {}
    for key, value in schema.items():
        name = _SCHEMA_KEYS.get(key, key)
        if key == "$schema":
            kwargs[name] = apigw.JsonSchemaVersion.DRAFT4
        elif key == "type":
            kwargs[name] = (
                [apigw.JsonSchemaType[v.upper()] for v in value]
                if isinstance(value, list)
                else apigw.JsonSchemaType[value.upper()]
            )
        elif key == "properties":
            kwargs[name] = {k: json_schema(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, Mapping):
            kwargs[name] = json_schema(value)
        else:
            kwargs[name] = value
    return apigw.JsonSchema(**kwargs)


class Api(Construct):
    """REST API with Lambda proxy integrations.

    Correlation ids (R5): a handler answers with the client's ``X-Correlation-Id`` when it
    sent a usable one, else with API Gateway's request id. An error that API Gateway produces
    itself (unknown route 403, validation 400, throttling 429, payload 413, integration 5XX)
    comes from the DEFAULT_4XX/DEFAULT_5XX gateway responses, whose body template is plain
    variable substitution over ``$context``/``$stageVariables``: it cannot read or test a
    request header. Such an error therefore always carries API Gateway's request id
    (``$context.requestId``), in the body's ``correlationId`` and in the ``X-Correlation-Id``
    header alike, also when the client sent its own id; the same id is the ``x-amzn-RequestId``
    header and the ``requestId`` of the access log. Echoing the client's header instead would
    make the header disagree with the body, and leave no header when the client sent none.

    Attributes:
        rest_api: the API; its ``url`` is the stage URL.
        upload_function, status_function, results_function: the route handlers.
        log_groups: the functions' log groups, by route name.
        access_log_group: the stage's JSON access log.
        models: the API Gateway models, by name (from `api_schema.MODELS`).
        user_pool: the Cognito user pool in ``cognito`` mode, else None.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        storage: Storage,
        code: lambda_.Code,
        environment: Mapping[str, str],
        layers: Sequence[lambda_.ILayerVersion] = (),
        authorization: AuthorizationMode = AuthorizationMode.IAM,
        existing_user_pool: cognito.IUserPool | None = None,
        cors_allow_origins: Sequence[str] = (),
        api_name: str | None = None,
        cloud_watch_role: bool = True,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        function_props: Mapping[str, Any] | None = None,
    ) -> None:
        """Create the API.

        Args:
            storage: the bucket and tables the handlers use.
            code: the Lambda code asset.
            environment: the contract's environment variables.
            layers: dependency layers; default none.
            authorization: default IAM.
            existing_user_pool: only with COGNITO; default: a new pool is created.
            cors_allow_origins: browser origins; default none (no CORS preflight). The
                handlers receive them as ``CORS_ALLOW_ORIGINS`` (comma-separated, empty when
                none) and answer a listed ``Origin`` with that origin. API Gateway's own
                errors (DEFAULT_4XX/5XX gateway responses) can only carry static CORS
                headers: a gateway response cannot test the request's ``Origin`` against a
                list. With exactly one origin (or ``*``) they allow it; with several, they
                carry no ``Access-Control-Allow-Origin`` at all rather than favour one
                origin, so a browser script sees such an error as a CORS failure (its
                correlation id, the request id, is still in the access log).
            api_name: default: the construct path.
            cloud_watch_role: create the account-level role API Gateway needs for execution
                logs; default True. Turn off where the account already has one.
            removal_policy: for log groups and a created user pool; default RETAIN.
            function_props: extra ``lambda.Function`` props; default none.
        """
        super().__init__(scope, construct_id)
        if existing_user_pool is not None and authorization != AuthorizationMode.COGNITO:
            raise ValueError(
                f"existing_user_pool needs authorization 'cognito' (got {authorization.value!r})"
            )
        bad_origins = [o for o in cors_allow_origins if not o or "," in o or o != o.strip()]
        if bad_origins:
            raise ValueError(
                "cors_allow_origins must be non-empty origins without commas or spaces "
                f"(got {bad_origins!r})"
            )
        handler_environment = {
            **environment,
            CORS_ORIGINS_VARIABLE: ",".join(cors_allow_origins),
        }

        def handler(name: str, description: str) -> PipelineFunction:
            return PipelineFunction(
                self,
                name,
                handler=f"runtime.{name.lower()}.handler",
                code=code,
                layers=layers,
                environment=handler_environment,
                description=description,
                removal_policy=removal_policy,
                function_props=function_props,
            )

        upload = handler("Upload", "POST /upload: creates a job and a presigned POST")
        status = handler("Status", "GET /status/{jobId}: job state and row counts")
        results = handler("Results", "GET /results/{symbol}: stored rows of a symbol")
        self.upload_function = upload.function
        self.status_function = status.function
        self.results_function = results.function
        self.log_groups = {
            "upload": upload.log_group,
            "status": status.log_group,
            "results": results.log_group,
        }

        # Only what each handler does: the presigned POST is signed for incoming/ only.
        storage.jobs_table.grant_write_data(self.upload_function)
        storage.grant_objects(self.upload_function, INCOMING_PREFIX, "s3:PutObject")
        storage.jobs_table.grant_read_data(self.status_function)
        storage.grant_objects(self.status_function, REPORTS_PREFIX, "s3:GetObject")
        storage.results_table.grant_read_data(self.results_function)

        self.access_log_group = logs.LogGroup(
            self, "AccessLogs", retention=LOG_RETENTION, removal_policy=removal_policy
        )
        cors = (
            apigw.CorsOptions(
                allow_origins=list(cors_allow_origins),
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=[*apigw.Cors.DEFAULT_HEADERS, CORRELATION_HEADER],
                expose_headers=[CORRELATION_HEADER],
            )
            if cors_allow_origins
            else None
        )
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=api_name,
            description="Financial CSV pipeline",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=cloud_watch_role,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            default_cors_preflight_options=cors,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                throttling_rate_limit=THROTTLE_RATE_LIMIT,
                throttling_burst_limit=THROTTLE_BURST_LIMIT,
                tracing_enabled=True,
                logging_level=apigw.MethodLoggingLevel.INFO,
                # Request bodies hold customer data: execution logs keep metadata only.
                data_trace_enabled=False,
                metrics_enabled=True,
                access_log_destination=apigw.LogGroupLogDestination(self.access_log_group),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
            ),
        )
        api = self.rest_api

        headers = {CORRELATION_HEADER: GATEWAY_CORRELATION_SOURCE}
        # A gateway response header is static: it can allow one origin, not choose among
        # several (see cors_allow_origins above).
        if len(cors_allow_origins) == 1:
            headers["Access-Control-Allow-Origin"] = f"'{cors_allow_origins[0]}'"
            # Without it a browser script cannot read the correlation id of a gateway error.
            headers["Access-Control-Expose-Headers"] = f"'{CORRELATION_HEADER}'"
        for response_id, response_type in (
            ("Default4xx", apigw.ResponseType.DEFAULT_4_XX),
            ("Default5xx", apigw.ResponseType.DEFAULT_5_XX),
        ):
            api.add_gateway_response(
                response_id,
                type=response_type,
                response_headers=headers,
                templates={_JSON: ERROR_RESPONSE_TEMPLATE},
            )

        self.models = {
            name: api.add_model(
                name, content_type=_JSON, model_name=name, schema=json_schema(schema)
            )
            for name, schema in MODELS.items()
        }
        body_validator = api.add_request_validator(
            "BodyValidator", validate_request_body=True, validate_request_parameters=True
        )
        params_validator = api.add_request_validator(
            "ParamsValidator", validate_request_body=False, validate_request_parameters=True
        )

        self.user_pool: cognito.IUserPool | None = None
        method_options = self._authorization(authorization, existing_user_pool, removal_policy)

        def responses(status_code: str, model: str) -> list[apigw.MethodResponse]:
            error = {_JSON: self.models["ErrorResponse"]}
            header = {f"method.response.header.{CORRELATION_HEADER}": True}
            return [
                apigw.MethodResponse(
                    status_code=status_code,
                    response_models={_JSON: self.models[model]},
                    response_parameters=header,
                ),
                *(
                    apigw.MethodResponse(
                        status_code=code, response_models=error, response_parameters=header
                    )
                    for code in ("400", "404", "500")
                ),
            ]

        api.root.add_resource("upload").add_method(
            "POST",
            apigw.LambdaIntegration(self.upload_function),
            request_validator=body_validator,
            request_models={_JSON: self.models["UploadRequest"]},
            method_responses=responses("201", "UploadResponse"),
            **method_options,
        )
        api.root.add_resource("status").add_resource("{jobId}").add_method(
            "GET",
            apigw.LambdaIntegration(self.status_function),
            request_validator=params_validator,
            request_parameters={"method.request.path.jobId": True},
            method_responses=responses("200", "StatusResponse"),
            **method_options,
        )
        api.root.add_resource("results").add_resource("{symbol}").add_method(
            "GET",
            apigw.LambdaIntegration(self.results_function),
            request_validator=params_validator,
            request_parameters={
                "method.request.path.symbol": True,
                **{
                    f"method.request.querystring.{name}": False
                    for name in ("startTime", "endTime", "limit", "order", "nextToken")
                },
            },
            method_responses=responses("200", "ResultsResponse"),
            **method_options,
        )

    def _authorization(
        self,
        mode: AuthorizationMode,
        existing_user_pool: cognito.IUserPool | None,
        removal_policy: RemovalPolicy,
    ) -> dict[str, Any]:
        if mode == AuthorizationMode.IAM:
            return {"authorization_type": apigw.AuthorizationType.IAM}
        if mode == AuthorizationMode.NONE:
            return {"authorization_type": apigw.AuthorizationType.NONE}
        pool = existing_user_pool or cognito.UserPool(
            self,
            "UserPool",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_digits=True,
                require_lowercase=True,
                require_uppercase=True,
                require_symbols=True,
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            removal_policy=removal_policy,
        )
        self.user_pool = pool
        authorizer = apigw.CognitoUserPoolsAuthorizer(self, "Authorizer", cognito_user_pools=[pool])
        return {
            "authorization_type": apigw.AuthorizationType.COGNITO,
            "authorizer": authorizer,
        }
