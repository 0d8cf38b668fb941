"""Fixtures of the local-pipeline tests: one synth per session, one running pipeline per module.

The pipeline is module-scoped because it points the process environment and the `runtime`
modules at its own endpoints; they are restored when it stops, before other suites run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from local_api import Api

from local.pipeline import LocalPipeline
from local.synth import SynthesizedStack, synthesize_cached


@pytest.fixture(scope="session")
def synthesized() -> SynthesizedStack:
    return synthesize_cached("dev")


@pytest.fixture(scope="session")
def dev_template(synthesized: SynthesizedStack) -> dict[str, Any]:
    return synthesized.template


@pytest.fixture(scope="module")
def pipeline() -> Iterator[LocalPipeline]:
    # Retries and schedules at test speed; the policy (how many, where to) is the template's.
    with LocalPipeline.from_synthesized(
        "dev", port=0, retry_delays=(0.1, 0.2), schedule_period_seconds=3600
    ) as local:
        yield local


@pytest.fixture(scope="module")
def api(pipeline: LocalPipeline) -> Iterator[Api]:
    client = Api(pipeline.url)
    yield client
    client.session.close()
