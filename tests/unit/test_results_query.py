"""`GET /results/{symbol}` parameters and tokens on their own (no AWS)."""

from __future__ import annotations

import json

import pytest

from runtime.errors import BadRequestError
from runtime.logic.results import (
    EARLIEST,
    LATEST,
    ResultsQuery,
    decode_token,
    encode_token,
    parse_query,
    results_body,
)


def test_r3_defaults_and_normalized_symbol():
    query = parse_query(" aapl ", {}, {})
    assert query == ResultsQuery("AAPL", EARLIEST, LATEST, 100, "asc", None)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"limit": "0"}, "INVALID_LIMIT"),
        ({"limit": "1e3"}, "INVALID_LIMIT"),
        ({"order": "up"}, "INVALID_ORDER"),
        ({"startTime": "yesterday"}, "INVALID_TIME"),
        ({"startTime": "2024-01-02", "endTime": "2024-01-01"}, "INVALID_TIME_RANGE"),
    ],
)
def test_fails_r3_bad_parameter(params, code):
    with pytest.raises(BadRequestError) as raised:
        parse_query("AAPL", params, {})
    assert raised.value.code == code


def test_fails_r3_repeated_parameter():
    with pytest.raises(BadRequestError, match="more than once"):
        parse_query("AAPL", {"limit": "2"}, {"limit": ["1", "2"]})


def test_fails_r3_token_is_bound_to_its_query():
    # Given a token made for one symbol's query
    token = encode_token("AAPL", "asc", EARLIEST, LATEST, "2024-01-01T00:00:00.000000Z")
    assert decode_token(token, "AAPL", "asc", EARLIEST, LATEST) == "2024-01-01T00:00:00.000000Z"
    # Then it reads nothing of another symbol, order or range
    for other in (("MSFT", "asc"), ("AAPL", "desc")):
        with pytest.raises(BadRequestError):
            decode_token(token, *other, EARLIEST, LATEST)


def test_r3_one_extra_row_decides_whether_a_next_page_exists():
    # Given a page reader holding three rows and a limit of two
    def item(second: int) -> dict:
        return {
            "symbol": {"S": "AAPL"},
            "timestamp": {"S": f"2024-01-01T00:00:0{second}.000000Z"},
            "price": {"N": "1.50"},
            "volume": {"N": "3"},
        }

    def read_page(*, symbol, start, end, ascending, limit, after):
        return [item(i) for i in range(3)][:limit], None

    # When the body is built
    body = results_body(parse_query("AAPL", {"limit": "2"}, {}), read_page)
    # Then two items, prices exact, and a token to the next page
    assert body.startswith('{"symbol":"AAPL","count":2,"items":[')
    assert '"price":1.50' in body
    assert '"nextToken":' in body


def test_fails_r25_a_results_row_never_carries_the_job_that_stored_it():
    # Given a stored item with the id of the job that wrote it
    item = {
        "symbol": {"S": "AAPL"},
        "timestamp": {"S": "2024-01-01T00:00:00.000000Z"},
        "price": {"N": "1.50"},
        "volume": {"N": "3"},
        "jobId": {"S": "0f8fad5b-d9cb-469f-a165-70867728950e"},
    }

    def read_page(*, symbol, start, end, ascending, limit, after):
        return [item], None

    # When the body is built, Then the row is the market data alone
    body = json.loads(results_body(parse_query("AAPL", {}, {}), read_page))
    assert body["items"] == [
        {"symbol": "AAPL", "timestamp": "2024-01-01T00:00:00.000000Z", "price": 1.5, "volume": 3}
    ]
