"""The results writer's pre-encoded BatchWriteItem body, against moto in server mode."""

from __future__ import annotations

import json
import threading
from typing import Any

from botocore.exceptions import ConnectionClosedError
from runtime_support import NAMES, dynamodb_number

from runtime.dal.results_writer import BatchWriter

JOB = "job-writer-test"
# 38 significant digits: the most DynamoDB accepts; any float on the way would lose some.
BIG_PRICE = "12345678901234567890.123456789012345678"
BIG_VOLUME = "99999999999999999999999999999999999999"
TINY_PRICE = "0.00000000000000000000000000000000000001"


def rows_for(symbol: str, count: int) -> list[tuple[str, str, str, str]]:
    prices = [BIG_PRICE, TINY_PRICE, "1E+3", "-0.5", "42"]
    return [
        (
            symbol,
            f"2024-01-01T00:00:{i % 60:02d}.{i:06d}Z",
            prices[i % len(prices)],
            BIG_VOLUME if i % 3 == 0 else str(i),
        )
        for i in range(count)
    ]


def stored(dynamodb: Any, symbol: str) -> dict[str, dict[str, Any]]:
    pages = dynamodb.get_paginator("query").paginate(
        TableName=NAMES.results_table,
        KeyConditionExpression="#s = :s",
        ExpressionAttributeNames={"#s": "symbol"},
        ExpressionAttributeValues={":s": {"S": symbol}},
    )
    return {item["timestamp"]["S"]: item for page in pages for item in page["Items"]}


def expected_items(rows: list[tuple[str, str, str, str]]) -> dict[str, dict[str, Any]]:
    return {
        ts: {
            "symbol": {"S": sym},
            "timestamp": {"S": ts},
            "price": {"N": dynamodb_number(price)},
            "volume": {"N": volume},
            "jobId": {"S": JOB},
        }
        for sym, ts, price, volume in rows
    }


class Wire:
    """Records every BatchWriteItem body that reaches the HTTP layer (each attempt)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.handlers: list[tuple[str, Any]] = []

    def on(self, event: str, handler: Any) -> None:
        self.client.meta.events.register(event, handler)
        self.handlers.append((event, handler))

    def record(self, request: Any, **_: Any) -> None:
        with self.lock:
            self.bodies.append(json.loads(request.body))

    def close(self) -> None:
        for event, handler in self.handlers:
            self.client.meta.events.unregister(event, handler)


def write(client: Any, rows: list[tuple[str, str, str, str]], concurrency: int = 4) -> BatchWriter:
    writer = BatchWriter(client, NAMES.results_table, JOB, concurrency, sleep=lambda _: None)
    try:
        for row in rows:
            writer.add(row)
        writer.flush()
    finally:
        writer.close()
    return writer


def test_pre_encoded_batches_store_exactly_the_items_from_several_threads(pipeline, symbol):
    # Given 230 rows (10 batches, 4 in flight) and a before-call hook like the fault tests use
    client = pipeline.dynamodb
    wire = Wire(client)
    seen: list[dict[str, Any]] = []

    def look(params: dict[str, Any], **_: Any) -> None:
        with wire.lock:
            seen.append(json.loads(params["body"]))

    wire.on("before-call.dynamodb.BatchWriteItem", look)
    wire.on("before-send.dynamodb.BatchWriteItem", wire.record)
    rows = rows_for(symbol, 230)
    # When written
    try:
        writer = write(client, rows)
    finally:
        wire.close()
    # Then exactly those items are stored, numbers to the last digit
    assert writer.written == 230
    assert stored(client, symbol) == expected_items(rows)
    # And hooks and the wire saw the real items, never the stand-in
    sent = [r for body in wire.bodies for r in body["RequestItems"][NAMES.results_table]]
    assert sorted(r["PutRequest"]["Item"]["timestamp"]["S"] for r in sent) == sorted(
        row[1] for row in rows
    )
    assert sorted(map(json.dumps, seen)) == sorted(map(json.dumps, wire.bodies))


def test_unprocessed_items_are_resent_exactly(pipeline, symbol):
    # Given DynamoDB answers the first call with two of its items unprocessed
    client = pipeline.dynamodb
    wire = Wire(client)
    rows = rows_for(symbol, 10)
    left_over = [{"PutRequest": {"Item": expected_items(rows)[rows[i][1]]}} for i in (2, 7)]

    def unprocess_two(parsed: dict[str, Any], **_: Any) -> None:
        if len(wire.bodies) == 1:
            parsed["UnprocessedItems"] = {NAMES.results_table: left_over}

    wire.on("before-send.dynamodb.BatchWriteItem", wire.record)
    wire.on("after-call.dynamodb.BatchWriteItem", unprocess_two)
    # When written
    try:
        writer = write(client, rows, concurrency=1)
    finally:
        wire.close()
    # Then the second call carried exactly the two unprocessed items, and every row is stored
    assert writer.calls == 2
    assert len(wire.bodies) == 2
    assert len(wire.bodies[0]["RequestItems"][NAMES.results_table]) == 10
    assert wire.bodies[1] == {"RequestItems": {NAMES.results_table: left_over}}
    assert stored(client, symbol) == expected_items(rows)


def test_botocore_retry_resends_the_real_body(pipeline, symbol):
    # Given the first HTTP attempt of each call dies on the connection (botocore retries it)
    client = pipeline.dynamodb
    wire = Wire(client)
    failed: set[str] = set()

    def drop_first(request: Any, **_: Any) -> None:
        wire.record(request)
        key = request.body
        with wire.lock:
            if key not in failed:
                failed.add(key)
                raise ConnectionClosedError(endpoint_url=request.url)

    wire.on("before-send.dynamodb.BatchWriteItem", drop_first)
    rows = rows_for(symbol, 30)
    # When written
    try:
        writer = write(client, rows, concurrency=2)
    finally:
        wire.close()
    # Then each retried attempt sent the same real body, and every row is stored
    assert writer.calls == 2
    assert len(wire.bodies) == 4
    attempts = sorted(json.dumps(body, sort_keys=True) for body in wire.bodies)
    assert attempts[0] == attempts[1] != attempts[2] == attempts[3]
    sizes = sorted(len(body["RequestItems"][NAMES.results_table]) for body in wire.bodies)
    assert sizes == [5, 5, 25, 25]
    assert stored(client, symbol) == expected_items(rows)


def test_other_calls_on_the_shared_client_are_left_alone(pipeline, symbol):
    # Given the client a writer has used (its handler is registered)
    client = pipeline.dynamodb
    write(client, rows_for(symbol, 3))
    item = {
        "symbol": {"S": symbol},
        "timestamp": {"S": "2030-01-01T00:00:00Z"},
        "price": {"N": "7"},
        "volume": {"N": "8"},
        "jobId": {"S": "elsewhere"},
    }
    # When other code calls BatchWriteItem on it directly
    answer = client.batch_write_item(
        RequestItems={NAMES.results_table: [{"PutRequest": {"Item": item}}]}
    )
    # Then its own item is written, not a writer's body
    assert answer.get("UnprocessedItems") == {}
    assert stored(client, symbol)["2030-01-01T00:00:00Z"] == item
    assert len(stored(client, symbol)) == 4
