"""The process environment and module cache that the in-process handlers see, and their restore.

The handlers run in this process, not in a Lambda container: their boto3 clients must reach the
local endpoints, and their module-level settings and clients must be created anew for this run.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from types import ModuleType

from local.lambdas import FunctionSpec

log = logging.getLogger("local.isolation")

# What a Lambda container would provide, pointed at nothing real: no account's credentials, and
# no X-Ray daemon to send traces to.
LOCAL_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "AWS_XRAY_SDK_ENABLED": "false",
}


class RuntimeIsolation:
    """Points ``os.environ`` at the local endpoints and evicts the handler packages from
    ``sys.modules``; ``restore()`` gives the process both back (idempotent)."""

    def __init__(self) -> None:
        self._saved_env: dict[str, str] | None = None
        self._saved_modules: dict[str, ModuleType] = {}
        self._packages: set[str] = set()

    def enter(
        self,
        functions: Mapping[str, FunctionSpec],
        *,
        region: str,
        endpoint_url: str,
        lambda_url: str,
        overrides: Mapping[str, str] | None = None,
    ) -> None:
        """The functions' environment for this process; ``overrides`` win over the template."""
        self._set_environment(functions, region, endpoint_url, lambda_url, overrides or {})
        self._evict_handler_modules(functions)

    def restore(self) -> None:
        self._restore_modules()
        if self._saved_env is not None:
            os.environ.clear()
            os.environ.update(self._saved_env)
            self._saved_env = None

    def _set_environment(
        self,
        functions: Mapping[str, FunctionSpec],
        region: str,
        endpoint_url: str,
        lambda_url: str,
        overrides: Mapping[str, str],
    ) -> None:
        if self._saved_env is None:
            self._saved_env = dict(os.environ)
        # One process holds every function, so one value per variable: the functions of this
        # template agree on the ones they share, and a disagreement is worth a warning.
        merged: dict[str, str] = {}
        for spec in functions.values():
            for key, value in spec.environment.items():
                if key in merged and merged[key] != value:
                    log.warning("%s differs between functions; using %r", key, merged[key])
                merged.setdefault(key, value)
        # A service-specific endpoint left in the shell would win over AWS_ENDPOINT_URL.
        for key in [k for k in os.environ if k.startswith("AWS_ENDPOINT_URL_")]:
            del os.environ[key]
        os.environ.pop("AWS_PROFILE", None)
        os.environ.update(merged)
        os.environ.update(LOCAL_ENVIRONMENT)
        os.environ["AWS_DEFAULT_REGION"] = region
        os.environ["AWS_REGION"] = region
        os.environ["AWS_ENDPOINT_URL"] = endpoint_url
        os.environ["AWS_ENDPOINT_URL_LAMBDA"] = lambda_url
        os.environ.update(overrides)

    def _evict_handler_modules(self, functions: Mapping[str, FunctionSpec]) -> None:
        """The handlers are then imported anew, as a new Lambda container would: module-level
        settings and clients must see this run's environment, not one cached by an earlier
        import."""
        self._packages |= {spec.handler.split(".", 1)[0] for spec in functions.values()}
        for name in list(sys.modules):
            if name.split(".", 1)[0] in self._packages:
                self._saved_modules.setdefault(name, sys.modules.pop(name))

    def _restore_modules(self) -> None:
        # The modules imported during the run hold its endpoints: none of them may outlive it.
        for name in list(sys.modules):
            if name.split(".", 1)[0] in self._packages:
                del sys.modules[name]
        sys.modules.update(self._saved_modules)
        self._saved_modules = {}
        self._packages = set()
