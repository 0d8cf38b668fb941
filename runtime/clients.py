"""boto3 clients, created once per container.

Endpoints come from the standard `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` variables,
which is how the tests and the local stack point the code at moto.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from runtime.settings import get_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient


def _config(pool: int = 10) -> Config:
    return Config(
        retries={"mode": "standard", "max_attempts": 5},
        max_pool_connections=pool,
        connect_timeout=5,
        read_timeout=30,
    )


@functools.cache
def s3() -> S3Client:
    return boto3.client(
        "s3",
        config=_config().merge(Config(signature_version="s3v4")),
    )


@functools.cache
def dynamodb() -> DynamoDBClient:
    # One connection per batch in flight, plus the jobs-table calls made meanwhile.
    pool = get_settings().write_concurrency + 4
    # Client-side validation walks every attribute of every 25-item batch and more than doubles
    # the CPU per BatchWriteItem; the requests are built by our own code and the service still
    # validates them.
    config = _config(pool).merge(Config(parameter_validation=False))
    return boto3.client("dynamodb", config=config)


@functools.cache
def lambda_() -> LambdaClient:
    return boto3.client("lambda", config=_config())


@functools.cache
def stepfunctions() -> SFNClient:
    return boto3.client("stepfunctions", config=_config())


@functools.cache
def events() -> EventBridgeClient:
    return boto3.client("events", config=_config())


def reset() -> None:
    """Forget the cached clients (tests point them at a new endpoint)."""
    s3.cache_clear()
    events.cache_clear()
    dynamodb.cache_clear()
    lambda_.cache_clear()
    stepfunctions.cache_clear()
