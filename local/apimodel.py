"""The template's REST API: routes, validators, models, gateway responses and the stage."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from local.cfn import Template, TemplateError


@dataclass(frozen=True)
class Route:
    resource_path: str  # "/status/{jobId}"
    http_method: str  # "GET", or "ANY"
    function_arn: str | None  # AWS_PROXY target; None for a MOCK integration
    authorization_type: str
    validate_body: bool
    validate_parameters: bool
    required_parameters: tuple[str, ...]  # "method.request.querystring.limit", ...
    models: dict[str, dict[str, Any]]  # content type -> JSON schema
    mock_status: int = 200
    mock_headers: dict[str, str] = field(default_factory=dict)

    def match(self, path: str) -> dict[str, str] | None:
        found = _compile(self.resource_path).fullmatch(path)
        return None if found is None else found.groupdict()


@functools.cache
def _compile(resource_path: str) -> re.Pattern[str]:
    pattern = ""
    for part in resource_path.strip("/").split("/"):
        if not part:
            continue
        if part.startswith("{") and part.endswith("+}"):
            pattern += f"/(?P<{part[1:-2]}>.+)"
        elif part.startswith("{") and part.endswith("}"):
            pattern += f"/(?P<{part[1:-1]}>[^/]+)"
        else:
            pattern += "/" + re.escape(part)
    return re.compile(pattern or "/")


@dataclass(frozen=True)
class GatewayResponse:
    response_type: str
    status_code: int | None
    headers: dict[str, str]  # header -> mapping expression ("'literal'", "context.requestId")
    templates: dict[str, str]


@dataclass(frozen=True)
class Throttle:
    rate: float
    burst: int


@dataclass
class RestApiModel:
    name: str
    stage_name: str
    routes: list[Route]
    gateway_responses: dict[str, GatewayResponse]
    stage_throttle: Throttle | None
    method_throttles: dict[tuple[str, str], Throttle]  # (resource path, method) -> limits
    binary_media_types: tuple[str, ...] = ()

    def find(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        # A literal segment wins over a path parameter, as in API Gateway.
        candidates = []
        for route in self.routes:
            params = route.match(path)
            if params is None:
                continue
            if route.http_method in (method, "ANY"):
                literal_segments = sum(
                    1 for part in route.resource_path.split("/") if part and "{" not in part
                )
                candidates.append((literal_segments, route.http_method != "ANY", route, params))
        if not candidates:
            return None
        candidates.sort(key=lambda item: (item[0], item[1]), reverse=True)
        return candidates[0][2], candidates[0][3]

    def path_exists(self, path: str) -> bool:
        return any(route.match(path) is not None for route in self.routes)


def api_from_template(template: Template) -> RestApiModel:
    apis = list(template.of_type("AWS::ApiGateway::RestApi"))
    if len(apis) != 1:
        raise TemplateError(f"expected one AWS::ApiGateway::RestApi, found {len(apis)}")
    api = apis[0]
    paths = _resource_paths(template, api.logical_id)
    models = {m.logical_id: m.properties for m in template.of_type("AWS::ApiGateway::Model")}
    validators = {
        v.logical_id: v.properties for v in template.of_type("AWS::ApiGateway::RequestValidator")
    }
    routes: list[Route] = []
    for method in template.of_type("AWS::ApiGateway::Method"):
        props = method.properties
        resource_ids = list(template.find_refs(props.get("ResourceId")))
        resource_path = paths.get(resource_ids[0], "/") if resource_ids else "/"
        validator = {}
        validator_ids = list(template.find_refs(props.get("RequestValidatorId")))
        if validator_ids:
            validator = validators.get(validator_ids[0], {})
        request_models: dict[str, dict[str, Any]] = {}
        for content_type, model_ref in (props.get("RequestModels") or {}).items():
            model_ids = list(template.find_refs(model_ref))
            if model_ids and model_ids[0] in models:
                request_models[content_type] = template.resolve(models[model_ids[0]]["Schema"])
        integration = props.get("Integration") or {}
        function_arn = None
        mock_status, mock_headers = 200, {}
        if integration.get("Type") == "AWS_PROXY":
            function_arn = str(template.resolve(integration.get("Uri")))
        elif integration.get("Type") == "MOCK":
            responses = integration.get("IntegrationResponses") or [{}]
            mock_status = int(responses[0].get("StatusCode", 200))
            mock_headers = {
                key.removeprefix("method.response.header."): str(template.resolve(value)).strip("'")
                for key, value in (responses[0].get("ResponseParameters") or {}).items()
            }
        routes.append(
            Route(
                resource_path=resource_path,
                http_method=str(props.get("HttpMethod", "ANY")).upper(),
                function_arn=function_arn,
                authorization_type=str(props.get("AuthorizationType", "NONE")),
                validate_body=bool(validator.get("ValidateRequestBody", False)),
                validate_parameters=bool(validator.get("ValidateRequestParameters", False)),
                required_parameters=tuple(
                    sorted(
                        key
                        for key, required in (props.get("RequestParameters") or {}).items()
                        if required is True or required == "true"
                    )
                ),
                models=request_models,
                mock_status=mock_status,
                mock_headers=mock_headers,
            )
        )
    responses = {}
    for gr in template.of_type("AWS::ApiGateway::GatewayResponse"):
        props = gr.properties
        response_type = str(props["ResponseType"])
        responses[response_type] = GatewayResponse(
            response_type=response_type,
            status_code=int(props["StatusCode"]) if "StatusCode" in props else None,
            headers={
                key.removeprefix("gatewayresponse.header."): str(template.resolve(value))
                for key, value in (props.get("ResponseParameters") or {}).items()
                if key.startswith("gatewayresponse.header.")
            },
            templates={
                k: str(template.resolve(v))
                for k, v in (props.get("ResponseTemplates") or {}).items()
            },
        )
    stage_name, stage_throttle, method_throttles = _stage(template)
    return RestApiModel(
        name=str(template.resolve(api.properties.get("Name", api.logical_id))),
        stage_name=stage_name,
        routes=routes,
        gateway_responses=responses,
        stage_throttle=stage_throttle,
        method_throttles=method_throttles,
        binary_media_types=tuple(api.properties.get("BinaryMediaTypes") or ()),
    )


def _resource_paths(template: Template, api_id: str) -> dict[str, str]:
    """Logical id of each AWS::ApiGateway::Resource -> its full path; the API root is "/"."""
    resources = {r.logical_id: r.properties for r in template.of_type("AWS::ApiGateway::Resource")}
    paths: dict[str, str] = {api_id: "/"}

    def path_of(logical_id: str) -> str:
        if logical_id in paths:
            return paths[logical_id]
        props = resources[logical_id]
        parents = list(template.find_refs(props.get("ParentId")))
        parent = path_of(parents[0]) if parents else "/"
        paths[logical_id] = parent.rstrip("/") + "/" + str(props["PathPart"])
        return paths[logical_id]

    for logical_id in resources:
        path_of(logical_id)
    return paths


def _stage(
    template: Template,
) -> tuple[str, Throttle | None, dict[tuple[str, str], Throttle]]:
    stages = list(template.of_type("AWS::ApiGateway::Stage"))
    if not stages:
        return "local", None, {}
    props = stages[0].properties
    stage_throttle = None
    method_throttles: dict[tuple[str, str], Throttle] = {}
    for setting in props.get("MethodSettings") or []:
        if "ThrottlingRateLimit" not in setting and "ThrottlingBurstLimit" not in setting:
            continue
        throttle = Throttle(
            rate=float(setting.get("ThrottlingRateLimit", 10000)),
            burst=int(setting.get("ThrottlingBurstLimit", 5000)),
        )
        resource_path = str(setting.get("ResourcePath", "/*"))
        http_method = str(setting.get("HttpMethod", "*"))
        if resource_path == "/*" and http_method == "*":
            stage_throttle = throttle
        else:
            # MethodSettings escape "/" in resource paths as "~1".
            path = resource_path.replace("~1", "/")
            method_throttles[(path, http_method.upper())] = throttle
    return str(template.resolve(props.get("StageName", "prod"))), stage_throttle, method_throttles
