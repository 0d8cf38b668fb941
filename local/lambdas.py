"""Lambda functions from the template, run in-process: synchronous and asynchronous invocation.

Asynchronous invocation follows the Lambda service: the event is queued, the function runs later,
a failure is retried ``MaximumRetryAttempts`` times (``AWS::Lambda::EventInvokeConfig``) and then
the event goes to the on-failure destination in Lambda's destination record format.
"""

from __future__ import annotations

import importlib
import json
import logging
import queue
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from local.cfn import Template
from local.context import LambdaContext

log = logging.getLogger("local.lambdas")

DEFAULT_ASYNC_RETRIES = 2


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    handler: str
    environment: dict[str, str]
    timeout_seconds: int
    memory_mb: int
    reserved_concurrency: int | None
    max_retries: int = DEFAULT_ASYNC_RETRIES
    on_failure_queue_url: str | None = None


def functions_from_template(template: Template) -> dict[str, FunctionSpec]:
    """Every ``AWS::Lambda::Function`` with the handler that CloudFormation would run."""
    invoke_configs: dict[str, dict[str, Any]] = {}
    for invoke_config in template.of_type("AWS::Lambda::EventInvokeConfig"):
        for target in template.find_refs(invoke_config.properties.get("FunctionName")):
            invoke_configs[target] = invoke_config.properties
    # A custom resource's provider does its work at deployment (CDK's bucket notifications,
    # auto-deleted objects): the local backend does that work itself, so it never runs here.
    providers = {
        ref
        for resource in template.resources.values()
        if resource.type.startswith("Custom::")
        or resource.type == "AWS::CloudFormation::CustomResource"
        for ref in template.find_refs(resource.properties.get("ServiceToken"))
    }
    specs: dict[str, FunctionSpec] = {}
    for fn in template.of_type("AWS::Lambda::Function"):
        props = fn.properties
        if fn.logical_id in providers or "Handler" not in props:
            continue
        if "ZipFile" in (props.get("Code") or {}):
            continue  # inline code is not in this checkout to import
        runtime = str(props.get("Runtime", "python"))
        if not runtime.startswith("python"):
            log.warning("%s: a %s function cannot run in this process", fn.logical_id, runtime)
            continue
        variables = (props.get("Environment") or {}).get("Variables") or {}
        config = invoke_configs.get(fn.logical_id, {})
        on_failure = ((config.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
            "Destination"
        )
        failure_queue = None
        if on_failure is not None:
            targets = list(template.find_refs(on_failure))
            if targets and template.resource(targets[0]).type == "AWS::SQS::Queue":
                failure_queue = template.queue_url(targets[0])
        specs[fn.logical_id] = FunctionSpec(
            logical_id=fn.logical_id,
            name=template.physical_name(fn.logical_id),
            arn=template.arn(fn.logical_id),
            handler=str(props["Handler"]),
            environment={k: str(template.resolve(v)) for k, v in variables.items()},
            timeout_seconds=int(props.get("Timeout", 3)),
            memory_mb=int(props.get("MemorySize", 128)),
            reserved_concurrency=(
                int(props["ReservedConcurrentExecutions"])
                if "ReservedConcurrentExecutions" in props
                else None
            ),
            max_retries=int(config.get("MaximumRetryAttempts", DEFAULT_ASYNC_RETRIES)),
            on_failure_queue_url=failure_queue,
        )
    return specs


Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class _AsyncEvent:
    spec: FunctionSpec
    event: dict[str, Any]
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    attempt: int = 0


class LambdaService:
    """Runs the template's functions; counts invocations so tests can see what ran."""

    def __init__(
        self,
        specs: dict[str, FunctionSpec],
        *,
        send_to_queue: Callable[[str, str], None],
        retry_delays: tuple[float, ...] = (1.0, 2.0),
        async_workers: int = 4,
        handlers: dict[str, Handler] | None = None,
    ) -> None:
        """``handlers`` maps handler strings to callables that replace the imported code."""
        self.specs = specs
        self._by_name = {spec.name: spec for spec in specs.values()}
        self._by_arn = {spec.arn: spec for spec in specs.values()}
        self._send_to_queue = send_to_queue
        self._retry_delays = retry_delays
        self._handlers: dict[str, Handler] = dict(handlers or {})
        self._lock = threading.Lock()
        # A Lambda container runs one invocation at a time, and handlers keep per-request state
        # in module globals (correlation id, Powertools keys): synchronous (API) invocations,
        # which share those modules, take turns as they would never overlap in one container.
        self._sync_lock = threading.Lock()
        self.invocations: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self._queue: queue.Queue[_AsyncEvent | None] = queue.Queue()
        self._pending = 0
        self._idle = threading.Condition(self._lock)
        self._workers = [
            threading.Thread(target=self._work, name=f"lambda-async-{i}", daemon=True)
            for i in range(async_workers)
        ]
        self._timers: list[threading.Timer] = []
        self._stopped = False

    def start(self) -> None:
        for worker in self._workers:
            worker.start()

    def stop(self) -> None:
        self._stopped = True
        for timer in list(self._timers):
            timer.cancel()
        for _ in self._workers:
            self._queue.put(None)
        for worker in self._workers:
            worker.join(timeout=10)

    def lookup(self, name_or_arn: str) -> FunctionSpec:
        """A function by logical id, name, ARN or ``...:function:name[:qualifier]``."""
        if name_or_arn in self.specs:
            return self.specs[name_or_arn]
        if name_or_arn in self._by_name:
            return self._by_name[name_or_arn]
        if name_or_arn in self._by_arn:
            return self._by_arn[name_or_arn]
        if ":function:" in name_or_arn:
            name = name_or_arn.split(":function:", 1)[1].split(":", 1)[0]
            if name in self._by_name:
                return self._by_name[name]
        raise KeyError(name_or_arn)

    def by_handler(self, handler: str) -> FunctionSpec:
        for spec in self.specs.values():
            if spec.handler == handler:
                return spec
        raise KeyError(handler)

    def _handler(self, spec: FunctionSpec) -> Handler:
        with self._lock:
            if spec.handler not in self._handlers:
                module_name, _, attribute = spec.handler.rpartition(".")
                module = importlib.import_module(module_name)
                self._handlers[spec.handler] = getattr(module, attribute)
            return self._handlers[spec.handler]

    def preload(self) -> list[str]:
        """Import every handler now, as a cold start would; returns the ones that failed (their
        invocations fail, as a deployed function with broken code does)."""
        broken = []
        for spec in self.specs.values():
            try:
                self._handler(spec)
            except Exception as exc:
                log.error("%s: cannot import %s: %s", spec.name, spec.handler, exc)
                broken.append(spec.handler)
        return broken

    def invoke_sync(self, spec: FunctionSpec, event: dict[str, Any]) -> Any:
        """Synchronous invocation (RequestResponse): the handler's result or its exception."""
        with self._sync_lock:
            return self.invoke(spec, event)

    def invoke(self, spec: FunctionSpec, event: dict[str, Any]) -> Any:
        """Run the handler once: its result or its exception."""
        handler = self._handler(spec)
        context = LambdaContext(
            function_name=spec.name,
            invoked_function_arn=spec.arn,
            memory_limit_in_mb=spec.memory_mb,
            timeout_seconds=spec.timeout_seconds,
        )
        with self._lock:
            self.invocations[spec.logical_id] += 1
        try:
            return handler(event, context)
        except Exception:
            with self._lock:
                self.failures[spec.logical_id] += 1
            raise

    def invoke_async(self, spec: FunctionSpec, event: dict[str, Any]) -> str:
        """Asynchronous invocation (Event): queued, retried, then sent to the on-failure queue."""
        item = _AsyncEvent(spec, event)
        with self._lock:
            self._pending += 1
        self._queue.put(item)
        return item.request_id

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Block until no asynchronous invocation is queued, running or waiting for a retry."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._run_async(item)

    def _run_async(self, item: _AsyncEvent) -> None:
        try:
            self.invoke(item.spec, item.event)
        except Exception as exc:
            log.warning(
                "%s failed (attempt %d of %d): %s",
                item.spec.name,
                item.attempt + 1,
                item.spec.max_retries + 1,
                exc,
            )
            if item.attempt < item.spec.max_retries and not self._stopped:
                delay = self._retry_delays[min(item.attempt, len(self._retry_delays) - 1)]
                item.attempt += 1
                timer = threading.Timer(delay, self._queue.put, args=(item,))
                timer.daemon = True
                self._timers.append(timer)
                timer.start()
                return
            self._to_failure_destination(item, exc)
        self._done()

    def _done(self) -> None:
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    def _to_failure_destination(self, item: _AsyncEvent, exc: Exception) -> None:
        if item.spec.on_failure_queue_url is None:
            log.error("%s: event dropped after %d attempts", item.spec.name, item.attempt + 1)
            return
        record = {
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "requestContext": {
                "requestId": item.request_id,
                "functionArn": f"{item.spec.arn}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": item.attempt + 1,
            },
            "requestPayload": item.event,
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": {
                "errorMessage": str(exc),
                "errorType": type(exc).__name__,
                "stackTrace": traceback.format_exception(exc)[-3:],
            },
        }
        self._send_to_queue(item.spec.on_failure_queue_url, json.dumps(record))
