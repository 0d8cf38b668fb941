"""R34, issue 17 item 5: Lambda's limits of a container and of an invocation hold for the local
functions: ``/tmp`` capped at the function's ephemeral storage, memory at its ``MemorySize``,
and the payload sizes, with the errors Lambda reports."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest
from test_workers import _spec

from local.invoke_api import STATE_LIMIT, LambdaInvokeApi
from local.lambdas import (
    ASYNC_PAYLOAD_LIMIT,
    SYNC_PAYLOAD_LIMIT,
    FunctionSpec,
    LambdaService,
    PayloadTooLarge,
)
from local.workers import FunctionError, tmp_capped

WORKLOAD = Path(__file__).resolve().parent / "workload"


@pytest.fixture
def service() -> Any:
    made: list[LambdaService] = []

    def make(*specs: FunctionSpec) -> LambdaService:
        lambdas = LambdaService(
            {spec.logical_id: spec for spec in specs},
            send_to_queue=lambda _url, _body: None,
            retry_delays=(0.05,),
            environment=lambda spec: {
                **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
                **spec.environment,
                "PYTHONPATH": str(WORKLOAD),
            },
        )
        lambdas.start()
        made.append(lambdas)
        return lambdas

    yield make
    for lambdas in made:
        lambdas.stop()


def test_a_workers_tmp_holds_its_ephemeral_storage_and_a_write_past_it_is_enospc(
    service: Any,
) -> None:
    # Given a function with 512 MB of ephemeral storage (Lambda's default, and the least)
    spec = dataclasses.replace(_spec("tmp"), ephemeral_storage_mb=512)
    lambdas = service(spec)
    # When it writes 100 MB to /tmp, it may
    wrote = lambdas.invoke(spec, {"action": "write_tmp", "mb": 100})
    assert wrote["wrote_mb"] == 100
    assert wrote["dir"] != "/tmp"  # its own directory
    if not tmp_capped():
        pytest.skip("this machine cannot mount a tmpfs (the README names the gap)")
    # And when it writes 600 MB, the write fails with ENOSPC, as on Lambda
    with pytest.raises(FunctionError) as failed:
        lambdas.invoke(spec, {"action": "write_tmp", "mb": 600})
    assert failed.value.error_type == "OSError"
    assert f"[Errno {errno.ENOSPC}]" in str(failed.value)
    # And the space is the worker's again for the next invocation
    assert lambdas.invoke(spec, {"action": "write_tmp", "mb": 400})["wrote_mb"] == 400


def test_a_worker_above_its_memory_size_is_killed_with_runtime_out_of_memory(
    service: Any,
) -> None:
    # Given a function of 256 MB
    spec = dataclasses.replace(_spec("memory"), memory_mb=256)
    lambdas = service(spec)
    # When it holds 50 MB, it runs
    assert lambdas.invoke(spec, {"action": "allocate", "mb": 50})["held_mb"] == 50
    # And when it holds 400 MB, it is killed: Runtime.OutOfMemory, as Lambda reports it
    with pytest.raises(FunctionError) as failed:
        lambdas.invoke(spec, {"action": "allocate", "mb": 400})
    assert failed.value.error_type == "Runtime.OutOfMemory"
    assert "signal: killed" in str(failed.value)
    # And a new worker serves the next invocation
    assert lambdas.invoke(spec, {})["calls"] == 1


def test_an_async_event_of_a_worker_out_of_memory_follows_the_retry_policy(
    service: Any,
) -> None:
    spec = dataclasses.replace(_spec("memory-async", retries=1), memory_mb=256)
    lambdas = service(spec)
    # When an event makes the function run out of memory every time
    lambdas.invoke_async(spec, {"action": "allocate", "mb": 400})
    assert lambdas.wait_idle(60)
    # Then Lambda's policy ran it once and retried it once, then gave up
    assert lambdas.invocations[spec.logical_id] == 2
    assert lambdas.failures[spec.logical_id] == 2


def test_payloads_over_lambdas_limits_are_refused_or_fail_as_on_lambda(service: Any) -> None:
    spec = _spec("payload")
    lambdas = service(spec)
    # A synchronous request over 6 MB is refused before the function runs
    with pytest.raises(PayloadTooLarge):
        lambdas.invoke_sync(spec, {"data": "x" * SYNC_PAYLOAD_LIMIT})
    # An asynchronous one over 1 MB too, while one under it is queued
    with pytest.raises(PayloadTooLarge):
        lambdas.invoke_async(spec, {"data": "x" * ASYNC_PAYLOAD_LIMIT})
    lambdas.invoke_async(spec, {"data": "x" * (ASYNC_PAYLOAD_LIMIT - 100)})
    assert lambdas.wait_idle(30)
    assert lambdas.invocations[spec.logical_id] == 1
    # A result over 6 MB is the function's error Function.ResponseSizeTooLarge
    with pytest.raises(FunctionError) as failed:
        lambdas.invoke_sync(spec, {"action": "reply", "bytes": SYNC_PAYLOAD_LIMIT})
    assert failed.value.error_type == "Function.ResponseSizeTooLarge"
    assert len(lambdas.invoke_sync(spec, {"action": "reply", "bytes": 1000})["data"]) == 1000


def _invoke_api(lambdas: LambdaService, spec: FunctionSpec) -> Any:
    from werkzeug.test import Client

    client = Client(LambdaInvokeApi(lambdas))

    def call(body: bytes, *, kind: str = "RequestResponse", engine: bool = False) -> Any:
        headers = {"X-Amz-Invocation-Type": kind}
        if engine:
            headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=ak/20261204/us-east-1/lambda"
        return client.post(
            f"/2015-03-31/functions/{spec.name}/invocations", data=body, headers=headers
        )

    return call


def test_the_invoke_api_answers_413_and_the_state_limit_to_the_engine(service: Any) -> None:
    spec = _spec("api")
    lambdas = service(spec)
    call = _invoke_api(lambdas, spec)
    # A request over the limit is a 413 RequestEntityTooLargeException
    big = json.dumps({"data": "x" * ASYNC_PAYLOAD_LIMIT}).encode()
    refused = call(big, kind="Event")
    assert refused.status_code == 413
    assert refused.headers["x-amzn-ErrorType"] == "RequestEntityTooLargeException"
    assert call(b"{}", kind="Event").status_code == 202
    # A result over 256 KiB to the Step Functions engine is States.DataLimitExceeded
    over = json.dumps({"action": "reply", "bytes": STATE_LIMIT}).encode()
    answer = call(over, engine=True)
    assert answer.headers.get("X-Amz-Function-Error") == "Unhandled"
    assert json.loads(answer.get_data())["errorType"] == "States.DataLimitExceeded"
    # while another caller gets it whole, as Lambda's own limit is 6 MB
    plain = call(over)
    assert "X-Amz-Function-Error" not in plain.headers
    assert len(json.loads(plain.get_data())["data"]) == STATE_LIMIT
