"""Per-tier time limits (pytest-timeout): a test that hangs fails in its tier's bound, not after
the run-wide one. A test's own ``@pytest.mark.timeout`` wins."""

from __future__ import annotations

from pathlib import Path

import pytest

# Seconds per test, setup and teardown included (a session fixture's first user pays for it).
TIER_TIMEOUTS = {
    "unit": 60,  # no server, no synth
    "infra": 600,  # the session's synthesis of four stacks and every cdk-nag pack
    "runtime": 300,  # handlers against the local endpoint; its servers start once per session
    "local": 900,  # the local pipeline end to end, up to a million rows
    "bench": 900,  # the benchmark harness
}

_TESTS = Path(__file__).resolve().parent


def tier_of(path: Path) -> str | None:
    """The tier directory a test file sits in, or None outside tests/<tier>/."""
    try:
        relative = path.resolve().relative_to(_TESTS)
    except ValueError:
        return None
    return relative.parts[0] if len(relative.parts) > 1 else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = tier_of(Path(item.path))
        if tier in TIER_TIMEOUTS and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TIER_TIMEOUTS[tier]))
