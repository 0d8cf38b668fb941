"""The environment of one function's worker processes: the template's variables for that function
and what a Lambda container would add, pointed at the local endpoint.

Each function gets its own, as in Lambda: nothing a function sets leaks into another's, and the
process that runs the local pipeline keeps its own environment untouched.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from local.lambdas import FunctionSpec

__all__ = ["LOCAL_ENVIRONMENT", "function_environment"]

# What a Lambda container would provide, pointed at nothing real: no account's credentials, and
# no X-Ray daemon to send traces to.
LOCAL_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "AWS_XRAY_SDK_ENABLED": "false",
}


def function_environment(
    spec: FunctionSpec,
    *,
    region: str,
    endpoint_url: str,
    overrides: Mapping[str, str] | None = None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """``base`` (default this process's environment) without any AWS setting of the shell (a
    profile, credentials or a service endpoint would win over the local ones), then the
    template's variables, the container's, and ``overrides`` last."""
    inherited = os.environ if base is None else base
    env = {k: v for k, v in inherited.items() if not k.startswith("AWS_")}
    env.update(spec.environment)
    env.update(LOCAL_ENVIRONMENT)
    env["AWS_DEFAULT_REGION"] = region
    env["AWS_REGION"] = region
    env["AWS_ENDPOINT_URL"] = endpoint_url
    env["AWS_LAMBDA_FUNCTION_NAME"] = spec.name
    env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(spec.memory_mb)
    env.update(overrides or {})
    return env
