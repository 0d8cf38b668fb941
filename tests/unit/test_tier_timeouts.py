"""Each test tier has its own time limit (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import TIER_TIMEOUTS, tier_of

TESTS = Path(__file__).resolve().parents[1]


def test_every_tier_directory_has_a_limit() -> None:
    tiers = {p.name for p in TESTS.iterdir() if p.is_dir() and not p.name.startswith("_")}
    assert tiers == set(TIER_TIMEOUTS)


def test_a_test_gets_its_tiers_limit(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("timeout")
    assert marker is not None and marker.args == (TIER_TIMEOUTS["unit"],)


@pytest.mark.timeout(5)
def test_a_tests_own_limit_wins(request: pytest.FixtureRequest) -> None:
    markers = list(request.node.iter_markers("timeout"))
    assert [m.args for m in markers] == [(5,)]


def test_the_tier_is_read_from_the_path() -> None:
    assert tier_of(TESTS / "infra" / "test_app.py") == "infra"
    assert tier_of(TESTS / "conftest.py") is None
    assert tier_of(Path("/elsewhere/test_x.py")) is None
