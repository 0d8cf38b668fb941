"""Fixtures of the local-stack tests: one synth per session, one running stack per module.

The stack is module-scoped because it points the process environment and the `runtime`
modules at its own endpoints; they are restored when it stops, before other suites run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from local_api import Api

from local.stack import LocalStack
from local.synth import SynthesizedStack, synthesize_cached


@pytest.fixture(scope="session")
def synthesized() -> SynthesizedStack:
    return synthesize_cached("dev")


@pytest.fixture(scope="session")
def dev_template(synthesized: SynthesizedStack) -> dict[str, Any]:
    return synthesized.template


@pytest.fixture(scope="module")
def stack(synthesized: SynthesizedStack) -> Iterator[LocalStack]:
    local = LocalStack(
        synthesized.template,
        stack_name=synthesized.stack_name,
        region=synthesized.region,
        port=0,
        # Retries and schedules at test speed; the policy (how many, where to) is the template's.
        retry_delays=(0.1, 0.2),
        schedule_period_seconds=3600,
    )
    local.start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="module")
def api(stack: LocalStack) -> Iterator[Api]:
    client = Api(stack.url)
    yield client
    client.session.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Handlers that publish no metric make Powertools warn once per call: noise here.
    for item in items:
        if "tests/local/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.filterwarnings("ignore:No application metrics"))
