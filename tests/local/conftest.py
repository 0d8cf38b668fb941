"""Fixtures of the local-pipeline tests: one synth and one local AWS endpoint (dynalite and a moto
server, as `make run` starts them) per session, one running pipeline per module on it.

The pipeline is module-scoped because its workers and event sources are; the endpoint is shared
(its tables, buckets and queues outlive a module's pipeline), so tests use unique symbols.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from local_api import Api

from local.endpoint import LocalAws
from local.pipeline import LocalPipeline
from local.synth import SynthesizedStack, synthesize_cached


@pytest.fixture(scope="session")
def synthesized() -> SynthesizedStack:
    return synthesize_cached("dev")


@pytest.fixture(scope="session")
def dev_template(synthesized: SynthesizedStack) -> dict[str, Any]:
    return synthesized.template


@pytest.fixture(scope="session")
def local_aws() -> Iterator[LocalAws]:
    with LocalAws(table_ms=0) as aws:
        yield aws


@pytest.fixture(scope="module")
def pipeline(synthesized: SynthesizedStack, local_aws: LocalAws) -> Iterator[LocalPipeline]:
    # Retries and schedules at test speed; the policy (how many, where to) is the template's.
    with LocalPipeline(
        synthesized.template,
        stack_name=synthesized.stack_name,
        region=synthesized.region,
        port=0,
        retry_delays=(0.1, 0.2),
        schedule_period_seconds=3600,
        aws=local_aws,
    ) as local:
        yield local


@pytest.fixture(scope="module")
def api(pipeline: LocalPipeline) -> Iterator[Api]:
    client = Api(pipeline.url)
    yield client
    client.session.close()
