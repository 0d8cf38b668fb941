"""Lambda functions from the template, each run in its own worker processes: synchronous and
asynchronous invocation.

Asynchronous invocation follows the Lambda service: the event is queued, the function runs later,
a failure is retried ``MaximumRetryAttempts`` times (``AWS::Lambda::EventInvokeConfig``) and then
the event goes to the on-failure destination in Lambda's destination record format.
"""

from __future__ import annotations

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
from local.workers import DEFAULT_TMP_MB, FunctionError, WorkerPool, local_concurrency_cap

log = logging.getLogger("local.lambdas")

DEFAULT_ASYNC_RETRIES = 2


SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024
"""Lambda's synchronous invocation request and response payloads, at most (6 MB)."""
ASYNC_PAYLOAD_LIMIT = 1024 * 1024
"""Lambda's asynchronous (Event) invocation payload, at most (1 MB; 256 KB until 2025, and still
for the deprecated InvokeAsync)."""


class PayloadTooLarge(Exception):
    """An invocation request over Lambda's limit: refused (``RequestEntityTooLargeException``,
    HTTP 413) before the function runs."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"Request must be smaller than {limit} bytes for the InvokeFunction operation "
            f"(it is {size} bytes)"
        )
        self.size = size
        self.limit = limit


def payload_size(value: Any) -> int:
    """The size of ``value`` as the JSON Lambda carries."""
    return len(json.dumps(value, separators=(",", ":")).encode())


def check_request(event: Any, limit: int) -> None:
    size = payload_size(event)
    if size > limit:
        raise PayloadTooLarge(size, limit)


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
    ephemeral_storage_mb: int = DEFAULT_TMP_MB


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
            ephemeral_storage_mb=int(
                (props.get("EphemeralStorage") or {}).get("Size", DEFAULT_TMP_MB)
            ),
        )
    return specs


Handler = Callable[[dict[str, Any], Any], Any]
Environment = Callable[[FunctionSpec], dict[str, str]]


@dataclass
class _AsyncEvent:
    spec: FunctionSpec
    event: dict[str, Any]
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    attempt: int = 0


class LambdaService:
    """Runs the template's functions, each in its own warm pool of worker processes
    (`local.workers`); counts invocations so tests can see what ran."""

    def __init__(
        self,
        specs: dict[str, FunctionSpec],
        *,
        send_to_queue: Callable[[str, str], None],
        retry_delays: tuple[float, ...] = (1.0, 2.0),
        environment: Environment | None = None,
        handlers: dict[str, Handler] | None = None,
        concurrency_cap: int | None = None,
    ) -> None:
        """``environment`` gives each function's worker environment; ``handlers`` maps handler
        strings to callables run in this process instead (tests that replace a function's code).
        """
        self.specs = specs
        self._by_name = {spec.name: spec for spec in specs.values()}
        self._by_arn = {spec.arn: spec for spec in specs.values()}
        self._send_to_queue = send_to_queue
        self._retry_delays = retry_delays
        self._handlers: dict[str, Handler] = dict(handlers or {})
        self._lock = threading.Lock()
        # An in-process replacement shares this process's modules: its invocations take turns,
        # as they would never overlap in one container.
        self._in_process_lock = threading.Lock()
        cap = concurrency_cap or local_concurrency_cap()
        self.pools: dict[str, WorkerPool] = {}
        for spec in specs.values():
            if spec.handler in self._handlers:
                continue
            if environment is None:
                raise ValueError(f"{spec.name}: no environment for its workers")
            self.pools[spec.logical_id] = WorkerPool(
                name=spec.name,
                handler=spec.handler,
                environment=environment(spec),
                size=min(spec.reserved_concurrency or cap, cap),
                timeout_seconds=spec.timeout_seconds,
                memory_mb=spec.memory_mb,
                tmp_mb=spec.ephemeral_storage_mb,
            )
        self.invocations: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self._queue: queue.Queue[_AsyncEvent | None] = queue.Queue()
        self._pending = 0
        self._idle = threading.Condition(self._lock)
        # Enough threads to keep every worker of every pool busy with queued events.
        threads = max(4, sum(pool.size for pool in self.pools.values()))
        self._workers = [
            threading.Thread(target=self._work, name=f"lambda-async-{i}", daemon=True)
            for i in range(threads)
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
        for pool in self.pools.values():
            pool.stop()
        for worker in self._workers:
            worker.join(timeout=5)

    def update_specs(self, specs: dict[str, FunctionSpec]) -> None:
        """The same functions with what provisioning reported (the failure queues' URLs)."""
        if set(specs) != set(self.specs):
            raise ValueError("update_specs() cannot add or remove functions")
        self.specs = specs
        self._by_name = {spec.name: spec for spec in specs.values()}
        self._by_arn = {spec.arn: spec for spec in specs.values()}

    def worker_pids(self) -> list[int]:
        return [pid for pool in self.pools.values() for pid in pool.pids()]

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

    def prestart(self) -> None:
        """One worker per function starts its cold start now (``preload()`` waits for them)."""
        for pool in self.pools.values():
            pool.prestart()

    def preload(self) -> list[str]:
        """Every function's first worker warm, as after a cold start; returns the handlers that
        failed to import (their invocations fail, as a deployed function with broken code does).
        """
        self.prestart()
        broken = []
        for logical_id, pool in self.pools.items():
            error = pool.wait_warm()
            if error is not None:
                log.error(
                    "%s: cannot import %s: %s", self.specs[logical_id].name, pool.handler, error
                )
                broken.append(pool.handler)
        return broken

    def invoke_sync(self, spec: FunctionSpec, event: dict[str, Any]) -> Any:
        """Synchronous invocation (RequestResponse): the handler's result or its error.
        `PayloadTooLarge` for an event over Lambda's synchronous limit (the function is not
        invoked); a result over it is the function's error ``Function.ResponseSizeTooLarge``,
        as Lambda answers it."""
        check_request(event, SYNC_PAYLOAD_LIMIT)
        result = self.invoke(spec, event)
        size = payload_size(result)
        if size > SYNC_PAYLOAD_LIMIT:
            with self._lock:
                self.failures[spec.logical_id] += 1
            raise FunctionError(
                "Function.ResponseSizeTooLarge",
                f"Response payload size ({size} bytes) exceeded maximum allowed payload size "
                f"({SYNC_PAYLOAD_LIMIT} bytes).",
            )
        return result

    def invoke(self, spec: FunctionSpec, event: dict[str, Any]) -> Any:
        """Run the handler once: its result, or its error (`FunctionError` from a worker)."""
        context = LambdaContext(
            function_name=spec.name,
            invoked_function_arn=spec.arn,
            memory_limit_in_mb=spec.memory_mb,
            timeout_seconds=spec.timeout_seconds,
        )
        with self._lock:
            self.invocations[spec.logical_id] += 1
        try:
            if spec.handler in self._handlers:
                with self._in_process_lock:
                    return self._handlers[spec.handler](event, context)
            return self.pools[spec.logical_id].invoke(event, _context_fields(context))
        except Exception:
            with self._lock:
                self.failures[spec.logical_id] += 1
            raise

    def invoke_async(self, spec: FunctionSpec, event: dict[str, Any]) -> str:
        """Asynchronous invocation (Event): queued, retried, then sent to the on-failure queue.
        `PayloadTooLarge` for an event over Lambda's asynchronous limit (nothing is queued)."""
        check_request(event, ASYNC_PAYLOAD_LIMIT)
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
            if not self._stopped:
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
        if isinstance(exc, FunctionError):
            error_type, stack = exc.error_type, exc.stack
        else:
            error_type, stack = type(exc).__name__, traceback.format_exception(exc)[-3:]
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
                "errorType": error_type,
                "stackTrace": stack,
            },
        }
        self._send_to_queue(item.spec.on_failure_queue_url, json.dumps(record))


def _context_fields(context: LambdaContext) -> dict[str, Any]:
    """What a worker needs to build the same context (its deadline counts from its receipt)."""
    return {
        "function_name": context.function_name,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "timeout_seconds": context.timeout_seconds,
        "aws_request_id": context.aws_request_id,
        "region": context.region,
        "account_id": context.account_id,
    }
