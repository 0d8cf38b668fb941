"""The latency sink answers like DynamoDB, stores nothing, and forwards the jobs table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from bench.backends import free_port
from bench.sink import DynamoFront, serve_in_thread


def _client(url: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"mode": "standard", "max_attempts": 1}),
    )


@pytest.fixture
def sink() -> Iterator[DynamoFront]:
    front = DynamoFront(("127.0.0.1", 0), delay=0.001)
    serve_in_thread(front)
    yield front
    front.shutdown()
    front.server_close()


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _put(symbol: str, stamp: str) -> dict[str, Any]:
    return {
        "PutRequest": {
            "Item": {"symbol": {"S": symbol}, "timestamp": {"S": stamp}, "price": {"N": "1.5"}}
        }
    }


def test_batch_write_is_answered_with_no_unprocessed_items(sink: DynamoFront) -> None:
    # Given a batch of 25 puts
    batch = [_put("ABC", f"2024-01-01T00:00:{i:02d}.000000Z") for i in range(25)]

    # When it is sent to the sink
    answer = _client(sink.url).batch_write_item(RequestItems={"Results": batch})

    # Then DynamoDB's success answer comes back and the items were counted, not stored
    assert answer["UnprocessedItems"] == {}
    assert sink.sunk_items == 25


def test_item_calls_get_minimal_valid_answers(sink: DynamoFront) -> None:
    # Given a client pointed at the sink
    client = _client(sink.url)

    # When the single-item and table calls are made
    client.put_item(TableName="Results", Item={"symbol": {"S": "A"}, "timestamp": {"S": "t"}})
    updated = client.update_item(
        TableName="Results",
        Key={"symbol": {"S": "A"}, "timestamp": {"S": "t"}},
        UpdateExpression="SET price = :p",
        ExpressionAttributeValues={":p": {"N": "1"}},
        ReturnValues="ALL_NEW",
    )
    found = client.get_item(
        TableName="Results", Key={"symbol": {"S": "A"}, "timestamp": {"S": "t"}}
    )
    table = client.describe_table(TableName="Results")["Table"]

    # Then each answer parses, nothing is found (nothing is stored), and the table is ACTIVE
    assert "Attributes" in updated
    assert "Item" not in found
    assert table["TableName"] == "Results"
    assert table["TableStatus"] == "ACTIVE"


def test_fails_an_unknown_operation_with_a_dynamodb_error(sink: DynamoFront) -> None:
    # Given the sink, which does not implement transactions
    client = _client(sink.url)

    # When a transaction is attempted
    with pytest.raises(client.exceptions.ClientError) as caught:
        client.transact_write_items(
            TransactItems=[{"Put": {"TableName": "T", "Item": {"k": {"S": "v"}}}}]
        )

    # Then the error is a DynamoDB-shaped one
    assert caught.value.response["Error"]["Code"] == "UnknownOperationException"


def test_results_writes_are_sunk_and_jobs_calls_reach_moto(moto_url: str) -> None:
    # Given moto with both tables, behind a front that sinks only the results table
    direct = _client(moto_url)
    for name, key in (("Jobs", "jobId"), ("Results", "symbol")):
        direct.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        )
    front = DynamoFront(("127.0.0.1", 0), upstream=moto_url, sink_tables=["Results"])
    serve_in_thread(front)
    try:
        client = _client(front.url)

        # When a job is written and read through the front, and results are written
        client.put_item(
            TableName="Jobs",
            Item={"jobId": {"S": "j1"}, "status": {"S": "PENDING_UPLOAD"}},
            ConditionExpression="attribute_not_exists(jobId)",
        )
        with pytest.raises(client.exceptions.ConditionalCheckFailedException):
            client.put_item(
                TableName="Jobs",
                Item={"jobId": {"S": "j1"}, "status": {"S": "PENDING_UPLOAD"}},
                ConditionExpression="attribute_not_exists(jobId)",
            )
        job = client.get_item(TableName="Jobs", Key={"jobId": {"S": "j1"}})
        client.batch_write_item(
            RequestItems={"Results": [{"PutRequest": {"Item": {"symbol": {"S": "X"}}}}]}
        )

        # Then the job has moto's semantics and the result row was never stored
        assert job["Item"]["status"]["S"] == "PENDING_UPLOAD"
        assert direct.scan(TableName="Results")["Count"] == 0
        assert front.sunk_items == 1
    finally:
        front.shutdown()
        front.server_close()


def test_ceiling_bodies_are_stored_as_written(
    moto_url: str, tmp_path: Any, monkeypatch: Any
) -> None:
    # Given a small file turned into pre-encoded BatchWriteItem bodies
    from bench import ceiling, generate

    path = tmp_path / "f.csv"
    generate.generate(path, rows=120, symbols=3, seed=9)
    batches = ceiling.load(path, "CeilingResults")
    bodies = [("CeilingResults", ceiling.encode(batch)) for batch in batches]
    direct = _client(moto_url)
    direct.create_table(
        TableName="CeilingResults",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[
            {"AttributeName": "symbol", "KeyType": "HASH"},
            {"AttributeName": "timestamp", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "symbol", "AttributeType": "S"},
            {"AttributeName": "timestamp", "AttributeType": "S"},
        ],
    )
    for name, value in (
        ("AWS_ENDPOINT_URL_DYNAMODB", moto_url),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(name, value)

    # When the ceiling sends them through a real boto3 client
    ceiling.send(ceiling.client(4), bodies, 4)

    # Then moto holds every row with its exact price text
    items = direct.scan(TableName="CeilingResults")["Items"]
    assert len(items) == 120
    first = batches[0]["CeilingResults"][0]["PutRequest"]["Item"]
    stored = direct.get_item(
        TableName="CeilingResults",
        Key={"symbol": first["symbol"], "timestamp": first["timestamp"]},
    )["Item"]
    assert stored["price"] == first["price"]
