"""The raw ceiling: the same rows, serialized before the clock starts, written as fast as the
backend takes them with BatchWriteItem at the processor's concurrency.

Each request body is JSON-encoded before the clock starts; botocore only signs and sends it
(its serializer sees a one-item stub, and a ``before-call`` hook swaps the real body in).
Nothing is parsed, validated or encoded in the timed part: what is left is the per-call cost
of a boto3 client (signing, HTTP) and the backend. No client of the same backend can do much
better with boto3, so processor / ceiling says how much of that capacity the processor uses.
"""

from __future__ import annotations

import csv
import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

__all__ = ["client", "encode", "load", "send"]

Batch = dict[str, list[dict[str, Any]]]
_STUB: Any = {"PutRequest": {"Item": {}}}
_body = threading.local()


def encode(batch: Batch) -> bytes:
    """The BatchWriteItem request body, as botocore's serializer would write it."""
    return json.dumps({"RequestItems": batch}, separators=(",", ":")).encode()


def _swap_body(params: dict[str, Any], **_: Any) -> None:
    body = getattr(_body, "value", None)
    if body is not None:
        params["body"] = body
        _body.value = None


def load(path: Path, results_table: str) -> list[Batch]:
    """Batches of at most 25 distinct keys, in DynamoDB's wire format (bad rows dropped)."""
    batches: list[Batch] = []
    current: list[dict[str, Any]] = []
    keys: set[tuple[str, str]] = set()
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            symbol, stamp, price, volume = (
                row.get("symbol"),
                row.get("timestamp"),
                row.get("price"),
                row.get("volume"),
            )
            if not (symbol and stamp and price and volume) or not volume.isdigit():
                continue
            if not symbol[0].isalnum() or not _positive_number(price):
                continue
            key = (symbol, stamp)
            if key in keys:
                batches.append({results_table: current})
                current, keys = [], set()
            keys.add(key)
            current.append(
                {
                    "PutRequest": {
                        "Item": {
                            "symbol": {"S": symbol},
                            "timestamp": {"S": stamp},
                            "price": {"N": price},
                            "volume": {"N": volume},
                            "jobId": {"S": "ceiling"},
                        }
                    }
                }
            )
            if len(current) == 25:
                batches.append({results_table: current})
                current, keys = [], set()
    if current:
        batches.append({results_table: current})
    return batches


def _positive_number(text: str) -> bool:
    try:
        return Decimal(text) > 0
    except ArithmeticError:
        return False


def client(concurrency: int) -> Any:
    """A DynamoDB client that sends the body handed to it through ``send``."""
    dynamodb = boto3.client(
        "dynamodb",
        config=Config(max_pool_connections=concurrency, retries={"mode": "standard"}),
    )
    dynamodb.meta.events.register_first("before-call.dynamodb.BatchWriteItem", _swap_body)
    return dynamodb


def send(dynamodb: Any, bodies: list[tuple[str, bytes]], concurrency: int) -> None:
    """Write every encoded batch, ``concurrency`` calls in flight (the timed part)."""

    def write(entry: tuple[str, bytes]) -> None:
        table, body = entry
        for attempt in range(10):
            _body.value = body
            answer = dynamodb.batch_write_item(RequestItems={table: [_STUB]})
            pending = answer.get("UnprocessedItems") or {}
            if not pending:
                return
            body = encode(pending)
            time.sleep(random.uniform(0, 0.05 * 2**attempt))
        raise RuntimeError("unprocessed items left after 10 tries")

    with ThreadPoolExecutor(concurrency) as pool:
        for _ in pool.map(write, bodies):
            pass
