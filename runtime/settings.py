"""Typed settings, parsed from the environment once per container (see docs/ARCHITECTURE.md).

Every variable the construct sets (`runtime.contract.Env`) is required: a function deployed
without one fails with a `ConfigurationError` that names it, instead of running on a default
that may disagree with the construct's. Each field is parsed on first use, so a function only
needs the variables it reads. The tuning knobs the construct does not set
(`DEDUP_INDEX_MAX_KEYS`, `SPILL_DIR`, `EVENT_PUBLISH_GRACE_SECONDS`) are the only ones with
defaults.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Mapping

from runtime.contract import Env
from runtime.errors import ConfigurationError

DEFAULT_DEDUP_INDEX_MAX_KEYS = 500_000
# Longer than one publish with boto3's retries (5 attempts, 30 s read timeout each would be the
# worst case, a few seconds in practice), so the sweeper rarely publishes an event that the
# function which finished the job is still sending; a duplicate is harmless anyway (eventId).
DEFAULT_EVENT_PUBLISH_GRACE_SECONDS = 120


class Settings:
    """The function's configuration; `environ` defaults to the process environment."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def _text(self, name: str) -> str:
        raw = self._environ.get(name)
        if raw is None:
            raise ConfigurationError(f"{name} is not set")
        return raw.strip()

    def _name(self, name: str) -> str:
        value = self._text(name)
        if not value:
            raise ConfigurationError(f"{name} is empty")
        return value

    def _int(self, name: str, minimum: int, raw: str | None = None) -> int:
        text = self._text(name) if raw is None else raw
        try:
            value = int(text)
        except ValueError as exc:
            raise ConfigurationError(f"{name} must be an integer, got {text!r}") from exc
        if value < minimum:
            raise ConfigurationError(f"{name} must be >= {minimum}, got {value}")
        return value

    @functools.cached_property
    def bucket(self) -> str:
        return self._name(Env.BUCKET_NAME)

    @functools.cached_property
    def jobs_table(self) -> str:
        return self._name(Env.JOBS_TABLE_NAME)

    @functools.cached_property
    def results_table(self) -> str:
        return self._name(Env.RESULTS_TABLE_NAME)

    @functools.cached_property
    def processor_function_name(self) -> str:
        return self._name(Env.PROCESSOR_FUNCTION_NAME)

    @functools.cached_property
    def environment(self) -> str:
        return self._name(Env.ENVIRONMENT)

    @functools.cached_property
    def max_upload_bytes(self) -> int:
        return self._int(Env.MAX_UPLOAD_BYTES, minimum=1)

    @functools.cached_property
    def upload_url_ttl_seconds(self) -> int:
        return self._int(Env.UPLOAD_URL_TTL_SECONDS, minimum=1)

    @functools.cached_property
    def report_url_ttl_seconds(self) -> int:
        return self._int(Env.REPORT_URL_TTL_SECONDS, minimum=1)

    @functools.cached_property
    def job_ttl_days(self) -> int:
        return self._int(Env.JOB_TTL_DAYS, minimum=1)

    @functools.cached_property
    def processor_timeout_seconds(self) -> int:
        return self._int(Env.PROCESSOR_TIMEOUT_SECONDS, minimum=1)

    @functools.cached_property
    def processor_max_retries(self) -> int:
        return self._int(Env.PROCESSOR_MAX_RETRIES, minimum=0)

    @functools.cached_property
    def split_timeout_seconds(self) -> int:
        return self._int(Env.SPLIT_TIMEOUT_SECONDS, minimum=1)

    @functools.cached_property
    def write_concurrency(self) -> int:
        return self._int(Env.WRITE_CONCURRENCY, minimum=1)

    @functools.cached_property
    def cors_allow_origins(self) -> tuple[str, ...]:
        """Set on the API functions; empty (no origin allowed) is a valid value."""
        return tuple(
            origin.strip()
            for origin in self._text(Env.CORS_ALLOW_ORIGINS).split(",")
            if origin.strip()
        )

    @functools.cached_property
    def split_threshold_bytes(self) -> int:
        """Files above this size are split into parts on the state machine (R23)."""
        return self._int(Env.SPLIT_THRESHOLD_BYTES, minimum=1)

    @functools.cached_property
    def part_bytes(self) -> int:
        return self._int(Env.PART_BYTES, minimum=1)

    @functools.cached_property
    def state_machine_arn(self) -> str:
        return self._name(Env.STATE_MACHINE_ARN)

    @functools.cached_property
    def event_bus_arn(self) -> str:
        """The ARN of the EventBridge bus that job events go to (R27); PutEvents takes a bus
        name too, which the benchmark runner passes."""
        return self._name(Env.EVENT_BUS_ARN)

    @functools.cached_property
    def event_publish_grace_seconds(self) -> int:
        """How long the sweeper leaves a final job's unpublished event to the function that
        finished the job before it publishes the event itself."""
        raw = self._environ.get("EVENT_PUBLISH_GRACE_SECONDS", "").strip()
        if not raw:
            return DEFAULT_EVENT_PUBLISH_GRACE_SECONDS
        return self._int("EVENT_PUBLISH_GRACE_SECONDS", minimum=0, raw=raw)

    @functools.cached_property
    def dedup_index_max_keys(self) -> int:
        raw = self._environ.get("DEDUP_INDEX_MAX_KEYS", "").strip()
        if not raw:
            return DEFAULT_DEDUP_INDEX_MAX_KEYS
        return self._int("DEDUP_INDEX_MAX_KEYS", minimum=1, raw=raw)

    @functools.cached_property
    def spill_dir(self) -> str:
        return self._environ.get("SPILL_DIR", "").strip() or tempfile.gettempdir()


@functools.cache
def get_settings() -> Settings:
    return Settings()
