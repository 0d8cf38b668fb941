"""Settings: what the construct always sets is required, and no runtime default can disagree
with the construct's (there is none)."""

from __future__ import annotations

import pytest

from runtime.contract import Env
from runtime.errors import ConfigurationError
from runtime.settings import (
    DEFAULT_DEDUP_INDEX_MAX_KEYS,
    DEFAULT_EVENT_PUBLISH_GRACE_SECONDS,
    Settings,
)

REQUIRED = {
    "bucket": Env.BUCKET_NAME,
    "jobs_table": Env.JOBS_TABLE_NAME,
    "results_table": Env.RESULTS_TABLE_NAME,
    "processor_function_name": Env.PROCESSOR_FUNCTION_NAME,
    "environment": Env.ENVIRONMENT,
    "max_upload_bytes": Env.MAX_UPLOAD_BYTES,
    "upload_url_ttl_seconds": Env.UPLOAD_URL_TTL_SECONDS,
    "report_url_ttl_seconds": Env.REPORT_URL_TTL_SECONDS,
    "job_ttl_days": Env.JOB_TTL_DAYS,
    "processor_timeout_seconds": Env.PROCESSOR_TIMEOUT_SECONDS,
    "processor_max_retries": Env.PROCESSOR_MAX_RETRIES,
    "write_concurrency": Env.WRITE_CONCURRENCY,
    "cors_allow_origins": Env.CORS_ALLOW_ORIGINS,
    "split_threshold_bytes": Env.SPLIT_THRESHOLD_BYTES,
    "part_bytes": Env.PART_BYTES,
    "state_machine_arn": Env.STATE_MACHINE_ARN,
    "split_timeout_seconds": Env.SPLIT_TIMEOUT_SECONDS,
    "event_bus_arn": Env.EVENT_BUS_ARN,
}


def test_every_variable_of_the_contract_is_read_by_a_setting():
    # Given / Then no variable the construct sets is left without its setting
    assert set(REQUIRED.values()) == set(Env)


@pytest.mark.parametrize(("field", "variable"), REQUIRED.items())
def test_fails_missing_variable_names_it(field, variable):
    # Given a function deployed without the variable
    settings = Settings({})
    # When the setting is read / Then the error names the variable
    with pytest.raises(ConfigurationError, match=f"^{variable} is not set$"):
        getattr(settings, field)


@pytest.mark.parametrize("raw", ["", "abc", "0", "-5"])
def test_fails_malformed_size_cap(raw):
    # Given a cap that is empty, not a number or not positive
    settings = Settings({"MAX_UPLOAD_BYTES": raw})
    # Then reading it fails with the variable's name
    with pytest.raises(ConfigurationError, match="MAX_UPLOAD_BYTES"):
        _ = settings.max_upload_bytes


def test_each_field_is_parsed_on_first_use_only():
    # Given only what the upload function reads
    settings = Settings({"MAX_UPLOAD_BYTES": "104857600", "BUCKET_NAME": "b"})
    # Then those settings work although the rest of the contract is absent
    assert (settings.max_upload_bytes, settings.bucket) == (104857600, "b")


def test_empty_cors_origins_allow_none_and_tuning_knobs_have_defaults(tmp_path):
    # Given the API functions' empty origin list and no tuning variables
    settings = Settings({"CORS_ALLOW_ORIGINS": " a , ,b "})
    assert settings.cors_allow_origins == ("a", "b")
    assert Settings({"CORS_ALLOW_ORIGINS": ""}).cors_allow_origins == ()
    # Then the knobs the construct does not set keep their documented defaults
    assert settings.dedup_index_max_keys == DEFAULT_DEDUP_INDEX_MAX_KEYS
    assert Settings({"SPILL_DIR": str(tmp_path)}).spill_dir == str(tmp_path)
    assert settings.event_publish_grace_seconds == DEFAULT_EVENT_PUBLISH_GRACE_SECONDS
    assert Settings({"EVENT_PUBLISH_GRACE_SECONDS": "0"}).event_publish_grace_seconds == 0


@pytest.mark.parametrize("raw", ["-1", "soon"])
def test_fails_malformed_event_grace_names_it(raw):
    # Given a grace period that is negative or not a number
    settings = Settings({"EVENT_PUBLISH_GRACE_SECONDS": raw})
    # Then reading it fails with the variable's name
    with pytest.raises(ConfigurationError, match="EVENT_PUBLISH_GRACE_SECONDS"):
        _ = settings.event_publish_grace_seconds
