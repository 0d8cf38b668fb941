"""Typed per-environment settings, parsed from the context of `cdk.json`.

The parser is strict: every value must have its key's JSON type (a boolean is not a number, a
string is not a list) and its key's form; anything else is refused with an error that names the
environment and the key. Nothing is converted on the way (no ``str()`` of a number, no
``int()`` of a string).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NoReturn, TypeVar

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb

from financial_pipeline import AuthorizationMode, Profile

__all__ = [
    "API_GATEWAY_CLOUD_WATCH_ROLE",
    "EnvironmentConfig",
    "parse_api_gateway_cloud_watch_role",
    "parse_environments",
]

API_GATEWAY_CLOUD_WATCH_ROLE: Final = "apiGatewayCloudWatchRole"
"""The app-level context key naming the environments whose stack sets API Gateway's
account-level CloudWatch role (at most one per account and region)."""

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
    "terminationProtection",
}
# The construct's own rules, repeated here so that a bad value is refused with the environment
# and the cdk.json key in the message: the environment name becomes the functions' ENVIRONMENT.
_ENVIRONMENT_NAME: Final = re.compile(r"^[a-z][a-z0-9-]{0,15}$")
_LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_MAX_UPLOAD_BYTES: Final = 5 * 1024**3  # S3's limit for one POST
_ACCOUNT: Final = re.compile(r"^[0-9]{12}$")
_REGION: Final = re.compile(r"^[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}$")
# AWS tag values: letters, digits, spaces and _ . : / = + - @, up to 256 characters.
_TAG_VALUE: Final = re.compile(r"^[\w .:/=+\-@]{1,256}$")
_EMAIL: Final = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")
_EVENT_BUS: Final = re.compile(
    r"^(arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/)?[A-Za-z0-9._/-]{1,256}$"
)

_E = TypeVar("_E", AuthorizationMode, Profile)


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
    """``hardened`` turns on the construct's whole hardened profile."""
    split_threshold_bytes: int | None = None
    """files above this are split; None: the construct's default."""
    part_bytes: int | None = None
    """target part size of a split file; None: the construct's default."""
    event_bus: str | None = None
    """the name or ARN of an existing EventBridge bus for the job events; None: the
    account's default bus."""
    termination_protection: bool = False
    """Whether CloudFormation refuses to delete this environment's stack until the protection
    is turned off (``terminationProtection``)."""
    api_cloud_watch_role: bool = False
    """Whether this environment's stack sets API Gateway's account-level CloudWatch role (the
    app-level ``apiGatewayCloudWatchRole`` key names it)."""

    @property
    def hardened(self) -> bool:
        """Whether the NIST 800-53 R5 and PCI DSS 3.2.1 packs gate this stack."""
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
        """the tags every taggable resource carries."""
        return {"Environment": self.name, "Team": self.team, "CostCenter": self.cost_center}

    def stack_name(self, region: str) -> str:
        """``FinancialPipeline-<environment>-<region>``."""
        return f"FinancialPipeline-{self.name}-{region}"

    @classmethod
    def from_context(cls, name: str, raw: Mapping[str, Any]) -> EnvironmentConfig:
        """Parse one entry of the ``environments`` context; unknown keys are mistakes."""
        if not isinstance(raw, Mapping):
            raise ValueError(
                f"environment {name!r} must be an object of settings (got {_kind(raw)})"
            )
        if not _ENVIRONMENT_NAME.match(name):
            raise ValueError(
                f"environment {name!r}: the name must be 1-16 lowercase letters, digits or "
                "'-', starting with a letter"
            )
        unknown = sorted(set(raw) - _KEYS)
        if unknown:
            raise ValueError(f"environment {name!r} has unknown settings {unknown}")
        for required in ("team", "costCenter"):
            if not raw.get(required):
                raise ValueError(f"environment {name!r} needs {required!r}")
        reader = _Reader(name, raw)
        removal = reader.text("removalPolicy", "retain").lower()
        if removal not in _REMOVAL_POLICIES:
            reader.fail("removalPolicy", "must be retain or destroy")
        log_level = reader.text("logLevel", "INFO")
        if log_level not in _LOG_LEVELS:
            reader.fail("logLevel", f"must be one of {', '.join(_LOG_LEVELS)}")
        return cls(
            name=name,
            team=reader.tag_value("team"),
            cost_center=reader.tag_value("costCenter"),
            region=reader.matching("region", _REGION, "must be an AWS region such as eu-west-1"),
            account=reader.matching(
                "account", _ACCOUNT, "must be a 12-digit AWS account id, as a string"
            ),
            alarm_email=reader.matching("alarmEmail", _EMAIL, "must be one email address"),
            auth_mode=reader.choice("authMode", AuthorizationMode, AuthorizationMode.IAM),
            removal_policy=_REMOVAL_POLICIES[removal],
            max_upload_bytes=reader.integer("maxUploadBytes", maximum=_MAX_UPLOAD_BYTES),
            log_level=log_level,
            cors_allow_origins=reader.origins("corsAllowOrigins"),
            results_warm_read_units_per_second=reader.integer("resultsWarmReadUnitsPerSecond"),
            results_warm_write_units_per_second=reader.integer("resultsWarmWriteUnitsPerSecond"),
            profile=reader.choice("profile", Profile, Profile.DEFAULT),
            split_threshold_bytes=reader.integer("splitThresholdBytes"),
            part_bytes=reader.integer("partBytes"),
            event_bus=reader.matching("eventBus", _EVENT_BUS, "must be an event bus name or ARN"),
            termination_protection=reader.flag("terminationProtection"),
        )


class _Reader:
    """Reads the keys of one environment, each by its type; every refusal names both."""

    def __init__(self, name: str, raw: Mapping[str, Any]) -> None:
        self._name = name
        self._raw = raw

    def fail(self, key: str, rule: str) -> NoReturn:
        raise ValueError(f"environment {self._name!r}: {key} {rule} (got {_shown(self._raw[key])})")

    def text(self, key: str, default: str) -> str:
        value = self._raw.get(key, default)
        if not isinstance(value, str):
            self.fail(key, "must be a string")
        return str(value)

    def matching(self, key: str, pattern: re.Pattern[str], rule: str) -> str | None:
        value = self._raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not pattern.match(value):
            self.fail(key, rule)
        return str(value)

    def tag_value(self, key: str) -> str:
        value = self.matching(
            key,
            _TAG_VALUE,
            "must be a string of 1-256 letters, digits, spaces or _ . : / = + - @ (a tag value)",
        )
        return str(value)

    def choice(self, key: str, kind: type[_E], default: _E) -> _E:
        value = self._raw.get(key, default.value)
        values = [member.value for member in kind]
        allowed = f"{', '.join(values[:-1])} or {values[-1]}"
        if not isinstance(value, str) or value not in {member.value for member in kind}:
            self.fail(key, f"must be {allowed}")
        return kind(value)

    def flag(self, key: str) -> bool:
        """A JSON boolean, default false (null too, as for every key); ``"true"`` or 1 is
        refused."""
        value = self._raw.get(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            self.fail(key, "must be true or false")
        return bool(value)

    def integer(self, key: str, *, maximum: int | None = None) -> int | None:
        """A positive whole number of JSON type number, never a boolean or a string."""
        value = self._raw.get(key)
        if value is None:
            return None
        limit = f" of at most {maximum}" if maximum is not None else ""
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value < 1
            or (maximum is not None and value > maximum)
        ):
            self.fail(key, f"must be a positive integer{limit}")
        return int(value)

    def origins(self, key: str) -> tuple[str, ...]:
        """A list of browser origins; a string is refused, not read as its characters."""
        value = self._raw.get(key, [])
        if isinstance(value, str) or not isinstance(value, Sequence):
            self.fail(key, 'must be a list of origins, e.g. ["https://app.example.com"]')
        for origin in value:
            if (
                not isinstance(origin, str)
                or not origin
                or "," in origin
                or origin != origin.strip()
                or " " in origin
            ):
                self.fail(key, "must list non-empty origins without commas or spaces")
        return tuple(value)


def _shown(value: object) -> str:
    """A value as cdk.json spells it, with its JSON type when that is not plain."""
    if isinstance(value, str):
        return repr(value)
    try:
        spelled = json.dumps(value)
    except TypeError:
        spelled = repr(value)
    return f"{_kind(value)} {spelled}"


def _kind(value: object) -> str:
    """The JSON type of a parsed value, as a user of cdk.json names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, Sequence):
        return "list"
    return type(value).__name__


def parse_environments(
    raw: Mapping[str, Mapping[str, Any]], *, api_gateway_cloud_watch_role: object = None
) -> dict[str, EnvironmentConfig]:
    """Parse the whole ``environments`` context, and the app-level
    ``apiGatewayCloudWatchRole`` (`parse_api_gateway_cloud_watch_role`) against it."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"the 'environments' context must be an object (got {_kind(raw)})")
    if not raw:
        raise ValueError("the 'environments' context is empty")
    configs = {name: EnvironmentConfig.from_context(name, value) for name, value in raw.items()}
    owners = parse_api_gateway_cloud_watch_role(api_gateway_cloud_watch_role, configs)
    return {
        name: (dataclasses.replace(config, api_cloud_watch_role=True) if name in owners else config)
        for name, config in configs.items()
    }


def parse_api_gateway_cloud_watch_role(
    value: object, environments: Mapping[str, EnvironmentConfig]
) -> frozenset[str]:
    """The environments named by ``apiGatewayCloudWatchRole``: a list of distinct environment
    names, default none. Whether two of them share an account and region is the app's check
    (`app.build_app`), once regions and accounts are resolved."""
    if value is None:
        return frozenset()
    known = ", ".join(environments)
    if (
        isinstance(value, str)
        or not isinstance(value, Sequence)
        or not all(isinstance(name, str) and name in environments for name in value)
        or len(set(value)) != len(value)
    ):
        raise ValueError(
            f"{API_GATEWAY_CLOUD_WATCH_ROLE} must be a list of distinct environment names "
            f'(known: {known}), e.g. ["dev"] (got {_kind(value)} {value!r})'
        )
    return frozenset(value)
