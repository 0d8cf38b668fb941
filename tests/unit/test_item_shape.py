"""A dataset's rows become results items by its shape: every field under its own name, typed
for DynamoDB, optional values left out (no AWS)."""

from __future__ import annotations

from typing import Any

from runtime.dal.results_writer import TRADES_SHAPE, ItemShape
from runtime.logic.csv_rules import TRADES, item_shape
from runtime.logic.schema import compile_schema


def test_the_trades_schemas_shape_is_the_writers_default() -> None:
    assert item_shape(TRADES) == TRADES_SHAPE


def test_a_trades_item_is_the_one_0_1_0_wrote() -> None:
    item = TRADES_SHAPE.item_function("job-1")(("AAPL", "2024-01-02T10:00:00.000000Z", "1.5", "10"))
    assert item == {
        "symbol": {"S": "AAPL"},
        "timestamp": {"S": "2024-01-02T10:00:00.000000Z"},
        "price": {"N": "1.5"},
        "volume": {"N": "10"},
        "jobId": {"S": "job-1"},
    }


def test_an_optional_missing_value_is_left_out_and_a_boolean_is_one() -> None:
    schema: dict[str, Any] = {
        "fields": [
            {"name": "isin", "type": "string", "constraints": {"required": True}},
            {"name": "name", "type": "string"},
            {"name": "listed", "type": "boolean"},
            {"name": "lot", "type": "integer"},
        ],
        "primaryKey": "isin",
    }
    shape = item_shape(compile_schema(schema))
    assert shape == ItemShape(
        names=("isin", "name", "listed", "lot"), types=("S", "S", "BOOL", "N"), key_width=1
    )
    make = shape.item_function("j")
    assert make(("US0378331005", None, "false", "100")) == {
        "isin": {"S": "US0378331005"},
        "listed": {"BOOL": False},
        "lot": {"N": "100"},
        "jobId": {"S": "j"},
    }
