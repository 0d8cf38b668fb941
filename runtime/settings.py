"""Typed settings, parsed once per container from the environment (see docs/ARCHITECTURE.md)."""

from __future__ import annotations

import functools
import os
import tempfile
from dataclasses import dataclass

from runtime.errors import ConfigurationError


def _int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ConfigurationError(f"{name} must be >= {minimum}, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    """Every variable of the contract; a function only reads the ones it uses."""

    bucket_name: str
    jobs_table_name: str
    results_table_name: str
    max_upload_bytes: int
    upload_url_ttl_seconds: int
    report_url_ttl_seconds: int
    job_ttl_days: int
    processor_function_name: str
    processor_timeout_seconds: int
    processor_max_retries: int
    write_concurrency: int
    environment: str
    dedup_index_max_keys: int = 500_000
    spill_dir: str = tempfile.gettempdir()
    cors_allow_origins: tuple[str, ...] = ()

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            bucket_name=os.environ.get("BUCKET_NAME", ""),
            jobs_table_name=os.environ.get("JOBS_TABLE_NAME", ""),
            results_table_name=os.environ.get("RESULTS_TABLE_NAME", ""),
            max_upload_bytes=_int("MAX_UPLOAD_BYTES", 512 * 1024 * 1024, minimum=1),
            upload_url_ttl_seconds=_int("UPLOAD_URL_TTL_SECONDS", 900, minimum=1),
            report_url_ttl_seconds=_int("REPORT_URL_TTL_SECONDS", 300, minimum=1),
            job_ttl_days=_int("JOB_TTL_DAYS", 30, minimum=1),
            processor_function_name=os.environ.get("PROCESSOR_FUNCTION_NAME", ""),
            processor_timeout_seconds=_int("PROCESSOR_TIMEOUT_SECONDS", 300, minimum=1),
            processor_max_retries=_int("PROCESSOR_MAX_RETRIES", 2),
            write_concurrency=_int("WRITE_CONCURRENCY", 8, minimum=1),
            environment=os.environ.get("ENVIRONMENT", "dev"),
            dedup_index_max_keys=_int("DEDUP_INDEX_MAX_KEYS", 500_000, minimum=1),
            spill_dir=os.environ.get("SPILL_DIR", "").strip() or tempfile.gettempdir(),
            cors_allow_origins=tuple(
                origin.strip()
                for origin in os.environ.get("CORS_ALLOW_ORIGINS", "").split(",")
                if origin.strip()
            ),
        )

    def require(self, value: str, name: str) -> str:
        """Return a name setting or fail loudly when the function was deployed without it."""
        if not value:
            raise ConfigurationError(f"{name} is not set")
        return value

    @property
    def bucket(self) -> str:
        return self.require(self.bucket_name, "BUCKET_NAME")

    @property
    def jobs_table(self) -> str:
        return self.require(self.jobs_table_name, "JOBS_TABLE_NAME")

    @property
    def results_table(self) -> str:
        return self.require(self.results_table_name, "RESULTS_TABLE_NAME")


@functools.cache
def get_settings() -> Settings:
    return Settings.from_env()
