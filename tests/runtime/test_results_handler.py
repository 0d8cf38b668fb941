"""GET /results/{symbol}: ranges, order, pagination, exact numbers and every bad parameter."""

from __future__ import annotations

import base64
import json
from decimal import Decimal

import pytest
from runtime_support import NAMES, api_event, body_of, context

from runtime.handlers import results


def _get(symbol, **query):
    event = api_event(
        "GET",
        f"/results/{symbol}",
        "/results/{symbol}",
        path_parameters={"symbol": symbol},
        query={key: str(value) for key, value in query.items()} or None,
    )
    return results.handler(event, context())


@pytest.fixture
def stored(pipeline, symbol):
    """25 rows one second apart, with an exact 38-digit price on the first."""
    lines = ["symbol,price,volume,timestamp"]
    lines.append(f"{symbol},1234567890123456789.0123456789012345678,5,2024-01-01T00:00:00Z")
    lines += [f"{symbol},{i}.25,{i},2024-01-01T00:00:{i:02d}Z" for i in range(1, 25)]
    _, status = pipeline.run(("\n".join(lines) + "\n").encode())
    assert status["rows"]["accepted"] == 25
    return symbol


def _pages(symbol, **query):
    items, token, pages = [], None, 0
    while True:
        params = dict(query)
        if token:
            params["nextToken"] = token
        response = _get(symbol, **params)
        assert response["statusCode"] == 200, response
        body = body_of(response)
        assert body["count"] == len(body["items"]) > 0
        items += body["items"]
        pages += 1
        token = body.get("nextToken")
        if not token:
            return items, pages


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_r3_union_of_pages_equals_one_query_in_order(stored, order):
    # Given 25 stored rows
    # When read 7 at a time and all at once
    paged, pages = _pages(stored, limit=7, order=order)
    whole = body_of(_get(stored, limit=1000, order=order))
    # Then the pages add up to the single query, in time order, with no empty last page
    assert pages == 4
    assert paged == whole["items"]
    assert "nextToken" not in whole
    stamps = [item["timestamp"] for item in paged]
    assert stamps == sorted(stamps, reverse=order == "desc")
    assert len(set(stamps)) == 25


def test_r3_time_range_accepts_any_timestamp_form(stored):
    # Given a range written with an offset and a naive end
    response = _get(stored, startTime="2024-01-01T01:00:05+01:00", endTime="2024-01-01 00:00:09")
    # Then it is normalized like stored keys and both ends are inclusive
    stamps = [item["timestamp"] for item in body_of(response)["items"]]
    assert stamps[0] == "2024-01-01T00:00:05.000000Z"
    assert stamps[-1] == "2024-01-01T00:00:09.000000Z"
    assert len(stamps) == 5


def test_r3_prices_are_serialized_exactly(stored):
    # When the first row is read
    response = _get(stored, limit=1)
    # Then the JSON carries all 38 digits as a number, never rounded through a float
    assert '"price":1234567890123456789.0123456789012345678' in response["body"]
    item = json.loads(response["body"], parse_float=Decimal)["items"][0]
    assert item["price"] == Decimal("1234567890123456789.0123456789012345678")
    assert item["volume"] == 5
    assert item["symbol"] == stored


def test_r3_default_limit_is_100(pipeline, symbol):
    # Given 130 rows
    rows = "".join(f"{symbol},1,1,2024-01-01T00:{i // 60:02d}:{i % 60:02d}Z\n" for i in range(130))
    pipeline.run(("symbol,price,volume,timestamp\n" + rows).encode())
    # When read without a limit
    body = body_of(_get(symbol))
    # Then 100 come back with a token
    assert body["count"] == 100
    assert body["nextToken"]


def test_r3_lowercase_symbol_reads_the_stored_symbol(stored):
    assert body_of(_get(stored.lower(), limit=1))["symbol"] == stored


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"limit": "abc"}, "INVALID_LIMIT"),
        ({"limit": "0"}, "INVALID_LIMIT"),
        ({"limit": "1001"}, "INVALID_LIMIT"),
        ({"limit": "-1"}, "INVALID_LIMIT"),
        ({"limit": "1e2"}, "INVALID_LIMIT"),
        ({"limit": "10.0"}, "INVALID_LIMIT"),
        ({"limit": "\u0661\u0660"}, "INVALID_LIMIT"),
        ({"limit": "99999999999999999999999"}, "INVALID_LIMIT"),
        ({"order": "sideways"}, "INVALID_ORDER"),
        ({"startTime": "yesterday"}, "INVALID_TIME"),
        ({"endTime": "2024-02-30"}, "INVALID_TIME"),
        ({"startTime": "2024-01-02", "endTime": "2024-01-01"}, "INVALID_TIME_RANGE"),
        ({"nextToken": "!!!"}, "INVALID_NEXT_TOKEN"),
        ({"nextToken": base64.urlsafe_b64encode(b"[1,2]").decode()}, "INVALID_NEXT_TOKEN"),
    ],
)
def test_fails_r3_bad_parameter_is_a_400(stored, query, code):
    # Given / When a bad query parameter
    response = _get(stored, **query)
    # Then 400 with the SPEC error shape, never a 500
    assert response["statusCode"] == 400
    body = body_of(response)
    assert body["error"]["code"] == code
    assert body["correlationId"]


def test_fails_r3_bad_symbol(pipeline):
    response = _get("=cmd")
    assert response["statusCode"] == 400
    assert body_of(response)["error"]["code"] == "INVALID_SYMBOL"


def test_fails_r3_next_token_cannot_read_another_symbol(stored, pipeline):
    # Given a token issued for one symbol
    token = body_of(_get(stored, limit=2))["nextToken"]
    # When it is used for another symbol, or with another order
    other = _get("OTHER", nextToken=token, limit=2)
    flipped = _get(stored, nextToken=token, limit=2, order="desc")
    # Then both are refused
    assert other["statusCode"] == 400
    assert flipped["statusCode"] == 400
    assert body_of(other)["error"]["code"] == "INVALID_NEXT_TOKEN"


def test_fails_r3_forged_token_for_another_symbol(stored):
    # Given a token edited to name another symbol
    token = body_of(_get(stored, limit=2))["nextToken"]
    data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    data["s"] = "OTHER"
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).decode()
    # When used on that symbol's path... it still does not match the query that made it
    response = _get(stored, nextToken=forged)
    # Then 400
    assert response["statusCode"] == 400


def test_r3_unknown_symbol_is_an_empty_page(pipeline):
    body = body_of(_get("NOSUCHSYMBOL"))
    assert body == {"symbol": "NOSUCHSYMBOL", "count": 0, "items": []}


def test_fails_r25_results_rows_never_name_the_job_that_stored_them(stored, pipeline):
    # Given rows stored by a job (the item keeps the job's id, for lineage)
    table = pipeline.dynamodb.query(
        TableName=NAMES.results_table,
        KeyConditionExpression="symbol = :s",
        ExpressionAttributeValues={":s": {"S": stored}},
        Limit=1,
    )
    assert "jobId" in table["Items"][0]

    # When anyone reads them
    response = _get(stored, limit=5)

    # Then the rows hold the market data only: the job id would show that another owner's job
    # exists, which its 404 hides (R25)
    items = body_of(response)["items"]
    assert items
    assert all(set(item) == {"symbol", "timestamp", "price", "volume"} for item in items)
    assert "jobId" not in response["body"]
