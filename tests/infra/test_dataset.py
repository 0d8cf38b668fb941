"""Datasets at synth: a schema the pipeline cannot take is refused by name, before any deploy,
by the compiler the functions run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from financial_pipeline.dataset import TRADES, Dataset

QUOTES: dict[str, Any] = {
    "fields": [
        {"name": "symbol", "type": "string", "constraints": {"required": True}},
        {"name": "bid", "type": "number", "decimalChar": ",", "constraints": {"minimum": 0}},
        {"name": "venue", "type": "string", "constraints": {"enum": ["XLON", "XPAR"]}},
        {"name": "timestamp", "type": "datetime", "constraints": {"required": True}},
    ],
    "primaryKey": ["symbol", "timestamp"],
}


def test_the_trades_dataset_is_the_shipped_schema() -> None:
    assert TRADES.name == "trades"
    assert TRADES.key_fields == ("symbol", "timestamp")
    assert TRADES.field_names == ("symbol", "price", "volume", "timestamp")


def test_a_dataset_takes_a_schema_file_or_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "quotes.json"
    path.write_text(json.dumps(QUOTES))
    from_file = Dataset("quotes", schema=path, delimiter=";")
    from_mapping = Dataset("quotes", schema=QUOTES, delimiter=";")
    assert from_file.table_schema == from_mapping.table_schema == QUOTES
    assert from_file.key_fields == ("symbol", "timestamp")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.update(foreignKeys=[]), r"dataset 'quotes': unsupported schema properties"),
        (lambda s: s["fields"][2].update(type="geojson"), r"field 'venue': unsupported type"),
        (lambda s: s.update(primaryKey=["venue"]), r"field 'venue': a key field must be required"),
        (
            lambda s: (
                s["fields"][1]["constraints"].update(required=True) or s.update(primaryKey=["bid"])
            ),
            r"field 'bid': a key field must be of type",
        ),
        (
            lambda s: s["fields"][1]["constraints"].update(minimum="zero"),
            r"field 'bid': minimum 'zero' is not a number",
        ),
    ],
)
def test_refuses_a_schema_it_cannot_take_naming_the_dataset_and_field(
    change: Any, message: str
) -> None:
    schema = json.loads(json.dumps(QUOTES))
    change(schema)
    with pytest.raises(ValueError, match=message):
        Dataset("quotes", schema=schema)


@pytest.mark.parametrize(
    ("name", "delimiter", "message"),
    [
        ("Quotes", ",", "a dataset name is 1-32 lowercase"),
        ("quotes", ".", "delimiter must be one of"),
    ],
)
def test_refuses_a_bad_name_or_delimiter(name: str, delimiter: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Dataset(name, schema=QUOTES, delimiter=delimiter)


def test_an_unreadable_or_non_json_schema_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"cannot read its schema .*missing.json"):
        Dataset("quotes", schema=tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match=r"its schema .*bad.json is not JSON"):
        Dataset("quotes", schema=bad)
