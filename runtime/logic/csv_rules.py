"""The trades dataset: the SPEC's market data (symbol, price, volume, timestamp), described by
the Table Schema `runtime/schemas/trades.json` and compiled like any dataset's schema
(`runtime.logic.schema`); its reject reasons are the schema's ``x-reasons``.

`MARKET_DATA` is the compiled schema as the streaming parser (`runtime.logic.csv_parser`) takes
it; the other names read one cell by one field's check (the results query's symbol and time
range). No AWS here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Final

from runtime.dal.results_writer import ItemShape
from runtime.logic.csv_parser import CsvParser, Header, RecordReason
from runtime.logic.schema import CompiledSchema, compile_schema, parse_iso_datetime

if TYPE_CHECKING:
    from runtime.dal.results_writer import Row
    from runtime.logic.csv_parser import FieldRules

TRADES_SCHEMA: Final = Path(__file__).resolve().parents[1] / "schemas" / "trades.json"


class Reason(RecordReason):
    """Reason codes of rejected rows (the report names one per row): the parser's own (the
    record's width, a conflicting duplicate) and the trades schema's fields'."""

    INVALID_SYMBOL = "INVALID_SYMBOL"
    SYMBOL_TOO_LONG = "SYMBOL_TOO_LONG"
    INVALID_PRICE = "INVALID_PRICE"
    PRICE_NOT_POSITIVE = "PRICE_NOT_POSITIVE"
    PRICE_TOO_PRECISE = "PRICE_TOO_PRECISE"
    PRICE_OUT_OF_RANGE = "PRICE_OUT_OF_RANGE"
    INVALID_VOLUME = "INVALID_VOLUME"
    VOLUME_OUT_OF_RANGE = "VOLUME_OUT_OF_RANGE"
    INVALID_TIMESTAMP = "INVALID_TIMESTAMP"
    TIMESTAMP_TOO_PRECISE = "TIMESTAMP_TOO_PRECISE"


TRADES: Final[CompiledSchema] = compile_schema(json.loads(TRADES_SCHEMA.read_text()))
MARKET_DATA: Final[CompiledSchema] = TRADES
"""The rules a trades file is read by."""

_CHECK = TRADES.field_check
_ITEM_TYPES: Final = {"number": "N", "integer": "N", "boolean": "BOOL"}


def item_shape(schema: CompiledSchema) -> ItemShape:
    """How a dataset's rows are stored: each field under its own name, numbers and integers as
    DynamoDB numbers, booleans as booleans, every other type as its canonical text."""
    return ItemShape(
        names=schema.row_fields,
        types=tuple(_ITEM_TYPES.get(kind, "S") for kind in schema.row_types),
        key_width=len(schema.key_fields),
    )


def header_of(cells: list[str]) -> Header:
    """The trades header: every field once (case and surrounding spaces ignored), other
    columns allowed; `HeaderError` (line 1) otherwise."""
    header: Header = TRADES.header(cells)
    return header


def normalize_symbol(raw: str) -> str | None:
    """The stored form of a symbol, or None when the trades schema rejects it."""
    ok, value = _CHECK["symbol"](raw)
    return value if ok else None


def parse_price(raw: str) -> tuple[bool, str]:
    """(True, DynamoDB number text) or (False, reason). Never goes through a float."""
    return _answer(_CHECK["price"](raw))


def parse_volume(raw: str) -> tuple[bool, str]:
    """(True, canonical integer text) or (False, reason)."""
    return _answer(_CHECK["volume"](raw))


def parse_timestamp(raw: str) -> tuple[bool, str]:
    """(True, canonical ``YYYY-MM-DDTHH:MM:SS.ffffffZ``) or (False, reason): ISO 8601, a value
    without a zone is UTC, and fractions beyond the microsecond must be zeros."""
    return _answer(_CHECK["timestamp"](raw))


_TIMESTAMP_REASONS: Final = {
    "type": Reason.INVALID_TIMESTAMP,
    "precision": Reason.TIMESTAMP_TOO_PRECISE,
}


def parse_timestamp_full(raw: str) -> tuple[bool, str]:
    """`parse_timestamp` by the full ISO grammar alone, without the fast path of the common
    machine-written forms (the reference the fast path must agree with)."""
    ok, value = parse_iso_datetime(raw.strip(), zoneless_utc=True)
    return (True, value) if ok else (False, _TIMESTAMP_REASONS[value])


def _answer(checked: tuple[bool, str | None]) -> tuple[bool, str]:
    ok, value = checked
    # Every trades field is required: a passing check always stores a value.
    assert value is not None
    return ok, value


def parse_bytes(
    data: bytes, rules: FieldRules | None = None
) -> tuple[CsvParser, list[Row], list[tuple[int, str, list[str]]]]:
    """Parse a whole in-memory file by `rules` (the trades schema's unless given; tests and
    tools); the processor streams instead."""
    rejections: list[tuple[int, str, list[str]]] = []
    parser = CsvParser(
        [data],
        MARKET_DATA if rules is None else rules,
        on_reject=lambda line, reason, cells: rejections.append((line, reason, cells)),
    )
    rows = list(parser)
    return parser, rows, rejections
