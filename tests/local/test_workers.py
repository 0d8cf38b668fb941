"""Functions in their own worker processes: warm reuse, a function's own environment, crashes and
Lambda's hard timeout, with a test-only handler (`workload/workload.py`) and short timeouts."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from local.lambdas import FunctionSpec, LambdaService
from local.workers import FunctionError

WORKLOAD = Path(__file__).resolve().parent / "workload"


def _spec(
    name: str, *, timeout: int = 10, reserved: int | None = None, retries: int = 2
) -> FunctionSpec:
    return FunctionSpec(
        logical_id=name,
        name=name,
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        handler="workload.handler",
        environment={"WORKLOAD_MARKER": name},
        timeout_seconds=timeout,
        memory_mb=128,
        reserved_concurrency=reserved,
        max_retries=retries,
        on_failure_queue_url=f"http://queue/{name}-failures",
    )


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


class Service:
    """A `LambdaService` over test specs; records what reached the failure destination."""

    def __init__(self, *specs: FunctionSpec, retry_delays: tuple[float, ...] = (0.05,)) -> None:
        self.sent: list[dict[str, Any]] = []
        self.lambdas = LambdaService(
            {spec.logical_id: spec for spec in specs},
            send_to_queue=lambda _url, body: self.sent.append(json.loads(body)),
            retry_delays=retry_delays,
            environment=lambda spec: {
                **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
                **spec.environment,
                "PYTHONPATH": str(WORKLOAD),
            },
        )
        self.lambdas.start()

    def invoke(self, spec: FunctionSpec, event: dict[str, Any]) -> Any:
        return self.lambdas.invoke(spec, event)


@pytest.fixture
def service_of() -> Any:
    made: list[Service] = []

    def make(*specs: FunctionSpec, **kwargs: Any) -> Service:
        made.append(Service(*specs, **kwargs))
        return made[-1]

    yield make
    for service in made:
        service.lambdas.stop()


def test_a_warm_worker_keeps_its_module_state_and_each_function_has_its_own_environment(
    service_of: Any,
) -> None:
    # Given two functions with different environments
    first, second = _spec("first"), _spec("second")
    service = service_of(first, second)

    # When the first is invoked twice and the second once
    one = service.invoke(first, {})
    two = service.invoke(first, {"action": "print"})
    other = service.invoke(second, {})

    # Then the first ran twice in one warm process, and each saw its own variables
    assert one["calls"] == 1
    assert two["pid"] == one["pid"] and two["calls"] == 2
    assert (one["marker"], other["marker"]) == ("first", "second")
    assert other["pid"] not in (one["pid"], os.getpid())
    # And the context counts down from the function's timeout
    assert 0 < one["remainingMs"] <= 10_000


@pytest.mark.parametrize("action", ["exit", "abort"])
def test_fails_invocation_when_the_handler_ends_its_process_and_a_new_worker_replaces_it(
    service_of: Any, action: str
) -> None:
    # Given a warm worker
    spec = _spec("crashy")
    service = service_of(spec)
    before = service.invoke(spec, {})

    # When the handler calls sys.exit (or ends the interpreter)
    with pytest.raises(FunctionError) as failed:
        service.invoke(spec, {"action": action})

    # Then that invocation fails as Lambda reports it, and the next one runs on a new worker
    assert failed.value.error_type == "Runtime.ExitError"
    assert "exit status" in str(failed.value)
    after = service.invoke(spec, {})
    assert after["pid"] != before["pid"] and after["calls"] == 1
    assert not _alive(before["pid"])
    assert service.lambdas.failures[spec.logical_id] == 1


def test_fails_invocation_that_raises_but_keeps_the_warm_worker(service_of: Any) -> None:
    # Given a warm worker
    spec = _spec("raising")
    service = service_of(spec)
    before = service.invoke(spec, {})

    # When the handler raises
    with pytest.raises(FunctionError) as failed:
        service.invoke(spec, {"action": "raise"})

    # Then the error is the handler's, and the same process serves the next invocation
    assert (failed.value.error_type, str(failed.value)) == ("ValueError", "boom")
    assert service.invoke(spec, {})["pid"] == before["pid"]


def test_fails_invocation_at_the_function_timeout_and_kills_the_worker(service_of: Any) -> None:
    # Given a function with a one-second timeout, warm
    spec = _spec("slow", timeout=1)
    service = service_of(spec)
    before = service.invoke(spec, {})

    # When its handler runs for longer
    started = time.monotonic()
    with pytest.raises(FunctionError) as failed:
        service.invoke(spec, {"action": "sleep", "seconds": 30})
    elapsed = time.monotonic() - started

    # Then the invocation fails at the timeout, the worker is killed and a new one serves next
    assert failed.value.error_type == "Sandbox.Timedout"
    assert "timed out after 1.00 seconds" in str(failed.value)
    assert 0.9 < elapsed < 5
    assert not _alive(before["pid"])
    assert service.invoke(spec, {})["pid"] != before["pid"]


def test_fails_r14_timed_out_async_invocation_is_retried_then_sent_to_the_failure_destination(
    service_of: Any,
) -> None:
    # Given a function with a one-second timeout and one retry
    spec = _spec("stuck", timeout=1, retries=1)
    service = service_of(spec)

    # When an asynchronous invocation runs past the timeout every time
    service.lambdas.invoke_async(spec, {"action": "sleep", "seconds": 30})
    assert service.lambdas.wait_idle(30)

    # Then it ran twice and its record went to the on-failure destination, as a timeout
    assert service.lambdas.invocations[spec.logical_id] == 2
    (record,) = service.sent
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["responsePayload"]["errorType"] == "Sandbox.Timedout"
    assert record["requestPayload"] == {"action": "sleep", "seconds": 30}


def test_reserved_concurrency_caps_the_workers_of_a_function(service_of: Any) -> None:
    # Given a function with a reserved concurrency of 2
    spec = _spec("capped", reserved=2)
    service = service_of(spec)
    service.invoke(spec, {})
    results: list[dict[str, Any]] = []

    # When four invocations of 0.5 s arrive at once
    def call() -> None:
        results.append(service.invoke(spec, {"action": "sleep", "seconds": 0.5}))

    threads = [threading.Thread(target=call) for _ in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    # Then two processes served them, two at a time
    assert len(results) == 4
    assert len({r["pid"] for r in results}) == 2
    assert time.monotonic() - started >= 1.0


def test_fails_every_invocation_of_a_handler_that_cannot_be_imported(service_of: Any) -> None:
    # Given a function whose handler module does not exist
    spec = FunctionSpec(**{**_spec("broken").__dict__, "handler": "no_such_module.handler"})
    service = service_of(spec)

    # When the functions are preloaded and the broken one is invoked
    broken = service.lambdas.preload()

    # Then preload names it, and its invocation fails with Lambda's import error
    assert broken == ["no_such_module.handler"]
    with pytest.raises(FunctionError) as failed:
        service.invoke(spec, {})
    assert failed.value.error_type == "Runtime.ImportModuleError"
