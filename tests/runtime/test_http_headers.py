"""Correlation-id format (the OpenAPI document's), CORS response headers, and the empty-metrics
warning of handlers that record no metric."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from runtime_support import NAMES, api_event, body_of, context

from runtime.handlers import status
from runtime.http import correlation_id_from
from runtime.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = "https://app.example.com"


def _bad_status(headers: dict[str, str]) -> dict:
    # A malformed job id: a 400 answered without any AWS call.
    event = api_event(
        "GET", "/status/x", "/status/{jobId}", path_parameters={"jobId": "x"}, headers=headers
    )
    return dict(status.handler(event, context()))


@pytest.fixture(autouse=True)
def function_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The functions' environment; these requests are answered without any AWS call."""
    for name, value in NAMES.test_env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def cors(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", f" {ALLOWED} , https://other.example.org")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.mark.parametrize(
    "value",
    ["client-abc-123", "a/b+c=d!~{}[]", "x" * 128, "!", "~"],
)
def test_r5_correlation_id_in_the_openapi_format_is_honoured(value):
    # Given a client id that matches ^[!-~]+$ with at most 128 characters
    event = api_event("GET", "/status/x", "/status/{jobId}", headers={"X-Correlation-Id": value})
    # Then it is the request's correlation id
    assert correlation_id_from(event) == value


@pytest.mark.parametrize(
    "value",
    ["", "x" * 129, "has space", "tab\there", "line\nbreak", "caf\u00e9", "del\x7f"],
)
def test_fails_r5_correlation_id_outside_the_openapi_format_is_replaced(value):
    # Given a client id the OpenAPI document rejects (and that could be unsafe in a header)
    event = api_event("GET", "/status/x", "/status/{jobId}", headers={"X-Correlation-Id": value})
    # Then the API Gateway request id is used instead
    assert correlation_id_from(event) == event["requestContext"]["requestId"]


def test_r5_cors_headers_for_an_allowed_origin(cors):
    # Given a function configured with allowed origins and a request from one of them
    response = _bad_status({"Origin": ALLOWED, "X-Correlation-Id": "cid-1"})
    # Then the answer (an error here) lets that origin read it and its correlation id
    headers = response["multiValueHeaders"]
    assert headers["Access-Control-Allow-Origin"] == [ALLOWED]
    assert headers["Vary"] == ["Origin"]
    assert headers["Access-Control-Expose-Headers"] == ["X-Correlation-Id"]
    assert headers["X-Correlation-Id"] == ["cid-1"]
    assert body_of(response)["correlationId"] == "cid-1"


def test_fails_r5_no_cors_headers_for_another_origin(cors):
    # Given a request from an origin outside the list, and one without an Origin
    foreign = _bad_status({"Origin": "https://evil.example.net"})
    absent = _bad_status({})
    # Then neither answer carries CORS headers
    for response in (foreign, absent):
        assert not any(name.startswith("Access-Control-") for name in response["multiValueHeaders"])
        assert "Vary" not in response["multiValueHeaders"]


def test_fails_r5_no_cors_headers_when_no_origin_is_configured(monkeypatch):
    # Given a function whose CORS_ALLOW_ORIGINS is empty (the construct's value for no origin)
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", "")
    get_settings.cache_clear()
    try:
        response = _bad_status({"Origin": ALLOWED})
    finally:
        get_settings.cache_clear()
    # Then no CORS header is added
    assert "Access-Control-Allow-Origin" not in response["multiValueHeaders"]


CHILD = r"""
import os, sys, warnings
sys.path.insert(0, sys.argv[1])
from runtime_support import NAMES, api_event, context
os.environ.update(NAMES.test_env)
from runtime.handlers import status
event = api_event("GET", "/status/x", "/status/{jobId}", path_parameters={"jobId": "x"})
print(status.handler(event, context())["statusCode"])
warnings.warn("another warning")
"""


def test_handler_without_metrics_does_not_warn_but_other_warnings_show():
    # Given a fresh interpreter that shows every warning once
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "default"}
    # When the status handler answers (recording no metric) and something else warns
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(Path(__file__).resolve().parent)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    # Then Powertools' empty-metrics warning is not printed, and the other warning is
    assert child.stdout.splitlines()[-1] == "400"
    assert "No application metrics to publish" not in child.stderr
    assert "another warning" in child.stderr
