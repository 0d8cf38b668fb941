"""Runtime tests run the real handlers against moto in server mode (a real HTTP endpoint)."""

from __future__ import annotations

import pytest
from runtime_support import moto_endpoint, pipeline, symbol

__all__ = ["moto_endpoint", "pipeline", "symbol"]


def pytest_configure(config: pytest.Config) -> None:
    # A processor event that finishes no job (test event, repeat) records no metric; expected here.
    config.addinivalue_line("filterwarnings", "ignore:No application metrics to publish")
