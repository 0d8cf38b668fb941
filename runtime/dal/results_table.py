"""Reads of the results table: one page of one symbol's rows in a time range."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def query_page(
    client: DynamoDBClient,
    table: str,
    *,
    symbol: str,
    start: str,
    end: str,
    ascending: bool,
    limit: int,
    after: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Up to `limit` items with `start <= timestamp <= end` after the timestamp `after`, and the
    last timestamp read when DynamoDB stopped early (another page may follow it).

    Only the attributes a results row answers are read: the item's ``jobId`` (which job stored
    the row) stays in the table."""
    query: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "#symbol = :symbol AND #ts BETWEEN :start AND :end",
        "ProjectionExpression": "#symbol, #ts, #price, #volume",
        "ExpressionAttributeNames": {
            "#symbol": "symbol",
            "#ts": "timestamp",
            "#price": "price",
            "#volume": "volume",
        },
        "ExpressionAttributeValues": {
            ":symbol": {"S": symbol},
            ":start": {"S": start},
            ":end": {"S": end},
        },
        "ScanIndexForward": ascending,
        "Limit": limit,
    }
    if after is not None:
        query["ExclusiveStartKey"] = {"symbol": {"S": symbol}, "timestamp": {"S": after}}
    response = client.query(**query)
    last = response.get("LastEvaluatedKey")
    items: list[dict[str, Any]] = list(response.get("Items", []))
    return items, (str(last["timestamp"]["S"]) if last else None)
