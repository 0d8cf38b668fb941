"""Api: the REST API, one Lambda per route."""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from financial_pipeline._defaults import (
    LOG_RETENTION,
    METRIC_PERIOD,
    THROTTLE_BURST_LIMIT,
    THROTTLE_RATE_LIMIT,
)
from financial_pipeline._names import name_prefix
from financial_pipeline.api_schema import MODELS
from financial_pipeline.contract import CORRELATION_HEADER, RESULTS_QUERY_PARAMETERS, Env, Handler
from financial_pipeline.firewall import validate_web_acl_arn
from financial_pipeline.function import FunctionGroup, FunctionOptions, PipelineFunction
from financial_pipeline.nag import NIST, acknowledge, compliance
from financial_pipeline.storage import Storage

__all__ = [
    "ERROR_RESPONSE_TEMPLATE",
    "GATEWAY_CORRELATION_SOURCE",
    "HANDLERS",
    "STAGE_NAME",
    "Api",
    "AuthorizationMode",
    "json_schema",
]

STAGE_NAME: Final = "v1"
_INVOKE_METHODS: Final = ("*", "GET", "POST")
_INVOKE_PATH: Final = re.compile(r"^/(\*|upload|status/(\*|[^/*]+)|results/(\*|[^/*]+))$")
HANDLERS: Final = {
    "Upload": Handler.UPLOAD,
    "Status": Handler.STATUS,
    "Results": Handler.RESULTS,
}
"""The route handlers' ``module.function`` in the code asset, by function construct id."""
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
_JSON: Final = "application/json"
_SYNC_DLQ: Final = (
    "Invoked synchronously by API Gateway: a dead-letter queue only receives failed "
    "asynchronous events, so it would stay empty; errors go to the caller and raise the "
    "function's error-rate alarm."
)
_SYNC_CONCURRENCY: Final = (
    "The stage throttle and, in the hardened profile, the web ACL's rate limit bound "
    "the handlers' concurrency; reserving it per handler would carve capacity out of the "
    "account's pool and fail the deployment in accounts with a low concurrency quota."
)


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


class Api(FunctionGroup, Construct):
    """REST API with Lambda proxy integrations.

    Correlation ids: a handler answers with the client's ``X-Correlation-Id`` when it
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
        functions, log_groups: the route handlers and their log groups by role name
            (``Upload``, ``Status``, ``Results``), the shape of `Ingest` and
            `SplitProcessing`.
        access_log_group: the stage's JSON access log.
        models: the API Gateway models, by name (from `api_schema.MODELS`).
        authorization: the `AuthorizationMode` callers authenticate with.
        user_pool: the Cognito user pool in ``cognito`` mode, else None.
        web_acl_association: the stage's WAF association when ``web_acl_arn`` is given,
            else None.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        storage: Storage,
        functions: FunctionOptions,
        authorization: AuthorizationMode = AuthorizationMode.IAM,
        existing_user_pool: cognito.IUserPool | None = None,
        cors_allow_origins: Sequence[str] = (),
        api_name: str | None = None,
        cloud_watch_role: bool = False,
        web_acl_arn: str | None = None,
    ) -> None:
        """Create the API.

        Args:
            storage: the bucket and tables the handlers use.
            functions: code, environment, layers, removal policy and extra props of the
                handlers; the removal policy also applies to the access log group and a
                created user pool.
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
            api_name: default: the stack name and the construct path from the stack down,
                e.g. ``MyStack-Pipeline-Api``, so two APIs of one stack never share a name.
            cloud_watch_role: create a role for API Gateway to write CloudWatch Logs with and
                make it the account's (``AWS::ApiGateway::Account``, one setting per account
                and region, overwritten by every stack that sets it); default False. The
                stage's access and execution logs need that role set once per account and
                region: turn this on in one stack there, or set it outside CDK.
            web_acl_arn: a regional WAFv2 web ACL to associate with the stage; default
                none. WAFv2 has no L2 construct, hence an ARN. The access log group uses
                ``functions.encryption_key``.
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
        removal_policy = functions.removal_policy
        self._handlers(functions, cors_allow_origins)
        self._grant_handlers(storage)
        self._rest_api(
            functions,
            cors_allow_origins=cors_allow_origins,
            api_name=api_name,
            cloud_watch_role=cloud_watch_role,
        )
        self._secure_stage(web_acl_arn)
        self._gateway_responses(cors_allow_origins)
        self._routes(authorization, existing_user_pool, removal_policy)

    def _handlers(self, functions: FunctionOptions, cors_allow_origins: Sequence[str]) -> None:
        """One function per route, each with the allowed origins in its environment."""
        handler_options = dataclasses.replace(
            functions,
            environment={
                **functions.environment,
                Env.CORS_ALLOW_ORIGINS: ",".join(cors_allow_origins),
            },
        )

        def handler(name: str, description: str) -> PipelineFunction:
            created = PipelineFunction(
                self,
                name,
                handler=HANDLERS[name],
                description=description,
                options=handler_options,
            )
            acknowledge(
                created.function,
                ["Serverless-LambdaDLQ", *compliance("LambdaDLQ", packs=(NIST,))],
                _SYNC_DLQ,
            )
            acknowledge(
                created.function,
                compliance("LambdaConcurrency", packs=(NIST,)),
                _SYNC_CONCURRENCY,
            )
            return created

        upload = handler("Upload", "POST /upload: creates a job and a presigned POST")
        status = handler("Status", "GET /status/{jobId}: job state and row counts")
        results = handler("Results", "GET /results/{symbol}: stored rows of a symbol")
        self.upload_function = self._add_member("Upload", upload)
        self.status_function = self._add_member("Status", status)
        self.results_function = self._add_member("Results", results)

    def _grant_handlers(self, storage: Storage) -> None:
        """Each handler may do what it does, and nothing more."""
        # Only what each handler does: the presigned POST is signed for incoming/ only.
        storage.grant_create_jobs(self.upload_function)
        storage.grant_presign_uploads(self.upload_function)
        storage.grant_get_jobs(self.status_function)
        storage.grant_read_reports(self.status_function)
        storage.grant_read_results(self.results_function)

    def _rest_api(
        self,
        functions: FunctionOptions,
        *,
        cors_allow_origins: Sequence[str],
        api_name: str | None,
        cloud_watch_role: bool,
    ) -> None:
        """The REST API, its stage (throttled, traced, logged) and the stage's access log."""
        self.access_log_group = logs.LogGroup(
            self,
            "AccessLogs",
            retention=LOG_RETENTION,
            encryption_key=functions.encryption_key,
            removal_policy=functions.removal_policy,
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
            rest_api_name=api_name or name_prefix(self),
            description="Financial CSV pipeline",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=cloud_watch_role,
            # Kept when the stack goes: the account's setting (and every stage of the account
            # and region that logs) still points at it.
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN if cloud_watch_role else None,
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

    def _secure_stage(self, web_acl_arn: str | None) -> None:
        """The stage's web ACL (or why there is none) and its other acknowledgments."""
        stage = self.rest_api.deployment_stage
        self.web_acl_association: wafv2.CfnWebACLAssociation | None = None
        if web_acl_arn is not None:
            validate_web_acl_arn(web_acl_arn)
            self.web_acl_association = wafv2.CfnWebACLAssociation(
                self, "WebAclAssociation", resource_arn=stage.stage_arn, web_acl_arn=web_acl_arn
            )
        else:
            acknowledge(
                stage,
                ["AwsSolutions-APIG3", *compliance("APIGWAssociatedWithWAF")],
                "Callers are authenticated and the stage is throttled; a WAF web ACL, "
                "where the organisation mandates one, is the hardened profile's or is "
                "associated by its central security tooling.",
            )
        acknowledge(
            stage,
            compliance("APIGWCacheEnabledAndEncrypted"),
            "Every answer is dynamic and per caller (a job's progress, the latest stored "
            "rows), so a stage cache would serve stale or another caller's data.",
        )
        acknowledge(
            stage,
            compliance("APIGWSSLEnabled"),
            "A client certificate authenticates API Gateway to an HTTP backend; every "
            "integration here is a Lambda proxy invoked through IAM, with no HTTP backend.",
        )
        # CDK creates this role (cloud_watch_role) but does not expose it.
        logging_role = self.rest_api.node.try_find_child("CloudWatchRole")
        if logging_role is not None:
            acknowledge(
                logging_role,
                "AwsSolutions-IAM4",
                "API Gateway's account-level logging role needs to create log groups named by "
                "API id and stage; the AWS managed policy is the documented minimum.",
                applies_to=(
                    "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                    "AmazonAPIGatewayPushToCloudWatchLogs"
                ),
            )

    def _gateway_responses(self, cors_allow_origins: Sequence[str]) -> None:
        """API Gateway's own errors in the one error shape, with the correlation id."""
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
            self.rest_api.add_gateway_response(
                response_id,
                type=response_type,
                response_headers=headers,
                templates={_JSON: ERROR_RESPONSE_TEMPLATE},
            )

    def _routes(
        self,
        authorization: AuthorizationMode,
        existing_user_pool: cognito.IUserPool | None,
        removal_policy: RemovalPolicy,
    ) -> None:
        """The models, validators and the three routes, each behind the authorization."""
        api = self.rest_api
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
                    f"method.request.querystring.{name}": False for name in RESULTS_QUERY_PARAMETERS
                },
            },
            method_responses=responses("200", "ResultsResponse"),
            **method_options,
        )
        for method in api.methods:
            if method.http_method != "OPTIONS":
                _acknowledge_authorization(method, authorization)

    # Metrics of the stage's requests over ``period`` (default 5 minutes).

    def metric_requests(self, *, period: Duration = METRIC_PERIOD) -> cloudwatch.IMetric:
        """Requests, summed."""
        return self.rest_api.metric_count(period=period, statistic="Sum")

    def metric_client_errors(self, *, period: Duration = METRIC_PERIOD) -> cloudwatch.IMetric:
        """Requests answered 4XX, summed."""
        return self.rest_api.metric_client_error(period=period, statistic="Sum")

    def metric_server_errors(self, *, period: Duration = METRIC_PERIOD) -> cloudwatch.IMetric:
        """Requests answered 5XX, summed."""
        return self.rest_api.metric_server_error(period=period, statistic="Sum")

    def metric_latency(
        self, *, statistic: str = "p99", period: Duration = METRIC_PERIOD
    ) -> cloudwatch.IMetric:
        """Time from request to response (default p99)."""
        return self.rest_api.metric_latency(period=period, statistic=statistic)

    def grant_invoke_api(
        self, grantee: iam.IGrantable, *, method: str = "*", path: str = "/*"
    ) -> iam.Grant:
        """Let ``grantee`` call the API: ``execute-api:Invoke`` on the stage's routes.

        Example::

            pipeline.api.grant_invoke_api(uploader_role, method="POST", path="/upload")
            pipeline.api.grant_invoke_api(reader_role, method="GET")

        Args:
            grantee: the principal (a role, a function, a user).
            method: ``GET``, ``POST`` or ``*`` (default: both).
            path: a resource path of the API, ``/*`` (default: every route), ``/upload``,
                ``/status/*``, ``/results/*`` or one resource such as ``/results/AAPL``.

        Raises:
            ValueError: the API does not authorize with IAM (its callers present a Cognito
                token, or nothing), or ``method`` / ``path`` names no route of the API.
        """
        if self.authorization != AuthorizationMode.IAM:
            raise ValueError(
                "grant_invoke_api needs authorization 'iam' "
                f"(got {self.authorization.value!r}: the API does not check IAM policies)"
            )
        if method not in _INVOKE_METHODS:
            raise ValueError(f"method must be one of {', '.join(_INVOKE_METHODS)} (got {method!r})")
        if not _INVOKE_PATH.match(path):
            raise ValueError(
                "path must be /* or a route of the API (/upload, /status/..., /results/...) "
                f"(got {path!r})"
            )
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["execute-api:Invoke"],
            resource_arns=[self.rest_api.arn_for_execute_api(method, path, STAGE_NAME)],
        )

    def _authorization(
        self,
        mode: AuthorizationMode,
        existing_user_pool: cognito.IUserPool | None,
        removal_policy: RemovalPolicy,
    ) -> dict[str, Any]:
        self.authorization = mode
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
        if isinstance(pool, cognito.UserPool):
            acknowledge(
                pool,
                "AwsSolutions-COG8",
                "The pool the construct creates has self sign-up disabled and MFA required; "
                "threat protection (Plus plan) is billed per user, so teams that need it pass "
                "their own Plus-plan pool as existing_user_pool.",
            )
        authorizer = apigw.CognitoUserPoolsAuthorizer(self, "Authorizer", cognito_user_pools=[pool])
        return {
            "authorization_type": apigw.AuthorizationType.COGNITO,
            "authorizer": authorizer,
        }


def _acknowledge_authorization(method: apigw.Method, mode: AuthorizationMode) -> None:
    if mode == AuthorizationMode.IAM:
        acknowledge(
            method,
            "AwsSolutions-COG4",
            "Authorization is IAM (SigV4): callers are back-office services and scripts with "
            "IAM roles, not end users with Cognito identities.",
        )
    elif mode == AuthorizationMode.NONE:
        reason = (
            "authorization='none' was chosen explicitly for a private demonstration "
            "environment; the default is IAM."
        )
        acknowledge(method, "AwsSolutions-APIG4", reason)
        acknowledge(method, "AwsSolutions-COG4", reason)
