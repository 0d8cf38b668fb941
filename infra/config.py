"""Typed per-environment settings, parsed from the `environments` context of `cdk.json`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb

from financial_pipeline import AuthorizationMode, Profile

__all__ = ["EnvironmentConfig", "parse_environments"]

_REMOVAL_POLICIES: Final = {
    "retain": RemovalPolicy.RETAIN,
    "destroy": RemovalPolicy.DESTROY,
}
_KEYS: Final = {
    "account",
    "region",
    "team",
    "costCenter",
    "alarmEmail",
    "authMode",
    "removalPolicy",
    "maxUploadBytes",
    "logLevel",
    "corsAllowOrigins",
    "resultsWarmReadUnitsPerSecond",
    "resultsWarmWriteUnitsPerSecond",
    "profile",
    "splitThresholdBytes",
    "partBytes",
    "eventBus",
}
_EVENT_BUS: Final = re.compile(
    r"^(arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/)?[A-Za-z0-9._/-]{1,256}$"
)


@dataclass(frozen=True)
class EnvironmentConfig:
    """One environment (dev, staging, prod) as the app deploys it."""

    name: str
    team: str
    cost_center: str
    region: str | None = None
    account: str | None = None
    alarm_email: str | None = None
    auth_mode: AuthorizationMode = AuthorizationMode.IAM
    removal_policy: RemovalPolicy = RemovalPolicy.RETAIN
    max_upload_bytes: int | None = None
    """None: the construct's default."""
    log_level: str = "INFO"
    cors_allow_origins: tuple[str, ...] = field(default_factory=tuple)
    results_warm_read_units_per_second: int | None = None
    results_warm_write_units_per_second: int | None = None
    profile: Profile = Profile.DEFAULT
    """R26: ``hardened`` turns on the construct's whole hardened profile."""
    split_threshold_bytes: int | None = None
    """R23: files above this are split; None: the construct's default."""
    part_bytes: int | None = None
    """R23: target part size of a split file; None: the construct's default."""
    event_bus: str | None = None
    """R27: the name or ARN of an existing EventBridge bus for the job events; None: the
    account's default bus."""

    @property
    def hardened(self) -> bool:
        """Whether the NIST 800-53 R5 and PCI DSS 3.2.1 packs gate this stack (R26)."""
        return self.profile == Profile.HARDENED

    @property
    def results_warm_throughput(self) -> dynamodb.WarmThroughput | None:
        """The results table's warm throughput, or None when neither value is set."""
        read = self.results_warm_read_units_per_second
        write = self.results_warm_write_units_per_second
        if read is None and write is None:
            return None
        return dynamodb.WarmThroughput(read_units_per_second=read, write_units_per_second=write)

    @property
    def tags(self) -> dict[str, str]:
        """R20: the tags every taggable resource carries."""
        return {"Environment": self.name, "Team": self.team, "CostCenter": self.cost_center}

    def stack_name(self, region: str) -> str:
        """R20: ``FinancialPipeline-<environment>-<region>``."""
        return f"FinancialPipeline-{self.name}-{region}"

    @classmethod
    def from_context(cls, name: str, raw: Mapping[str, Any]) -> EnvironmentConfig:
        """Parse one entry of the ``environments`` context; unknown keys are mistakes."""
        unknown = sorted(set(raw) - _KEYS)
        if unknown:
            raise ValueError(f"environment {name!r} has unknown settings {unknown}")
        for required in ("team", "costCenter"):
            if not raw.get(required):
                raise ValueError(f"environment {name!r} needs {required!r}")
        removal = str(raw.get("removalPolicy", "retain")).lower()
        if removal not in _REMOVAL_POLICIES:
            raise ValueError(
                f"environment {name!r}: removalPolicy must be retain or destroy (got {removal!r})"
            )
        auth = str(raw.get("authMode", "iam"))
        try:
            auth_mode = AuthorizationMode(auth)
        except ValueError:
            raise ValueError(
                f"environment {name!r}: authMode must be iam, cognito or none (got {auth!r})"
            ) from None
        profile = str(raw.get("profile", Profile.DEFAULT.value))
        try:
            parsed_profile = Profile(profile)
        except ValueError:
            raise ValueError(
                f"environment {name!r}: profile must be default or hardened (got {profile!r})"
            ) from None
        return cls(
            name=name,
            team=str(raw["team"]),
            cost_center=str(raw["costCenter"]),
            region=raw.get("region"),
            account=raw.get("account"),
            alarm_email=raw.get("alarmEmail"),
            auth_mode=auth_mode,
            removal_policy=_REMOVAL_POLICIES[removal],
            max_upload_bytes=_optional_int(raw.get("maxUploadBytes")),
            log_level=str(raw.get("logLevel", "INFO")),
            cors_allow_origins=tuple(raw.get("corsAllowOrigins", ())),
            results_warm_read_units_per_second=_units(name, raw, "resultsWarmReadUnitsPerSecond"),
            results_warm_write_units_per_second=_units(name, raw, "resultsWarmWriteUnitsPerSecond"),
            profile=parsed_profile,
            split_threshold_bytes=_units(name, raw, "splitThresholdBytes"),
            part_bytes=_units(name, raw, "partBytes"),
            event_bus=_event_bus(name, raw.get("eventBus")),
        )


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _event_bus(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _EVENT_BUS.match(value):
        raise ValueError(
            f"environment {name!r}: eventBus must be an event bus name or ARN (got {value!r})"
        )
    return value


def _units(name: str, raw: Mapping[str, Any], key: str) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"environment {name!r}: {key} must be a positive integer (got {value!r})")
    return value


def parse_environments(raw: Mapping[str, Mapping[str, Any]]) -> dict[str, EnvironmentConfig]:
    """Parse the whole ``environments`` context."""
    if not raw:
        raise ValueError("the 'environments' context is empty")
    return {name: EnvironmentConfig.from_context(name, value) for name, value in raw.items()}
