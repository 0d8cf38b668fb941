"""Table Schema datasets: the shipped trades schema compiles to exactly the market data rules,
and what the compiler supports, refuses and reports (no AWS)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import reference_rules as csv_rules
from runtime.logic.csv_parser import CsvParser, HeaderError
from runtime.logic.schema import SchemaError, check_schema, compile_schema

REPO = Path(__file__).resolve().parents[2]
TRADES = json.loads((REPO / "runtime" / "schemas" / "trades.json").read_text())
HEADER = ["symbol", "price", "volume", "timestamp"]

# Cells around every rule's edge, from which rows are drawn.
_SYMBOLS = ["AAPL", " aapl ", "brk.b", "^GSPC", "", "  ", "A" * 32, "A" * 33, "ÄPFEL", "a b", "-X"]
_PRICES = [
    "1", "1.50", " 2.5 ", "0", "-0", "-1", "+3", ".5", "5.", "1e3", "1E-131", "1e126", "9" * 38,
    "9" * 39, "1" + "0" * 40, "0." + "0" * 40 + "1", "1,5", "abc", "", "1e999999999999", "-1e200",
    "0.000", "1.000000000000000000000000000000000000001",
]  # fmt: skip
_VOLUMES = ["0", "100", " 7 ", "007", "+5", "-5", "5.0", "", "1" * 38, "1" * 39, "0" * 50 + "1"]
_TIMES = [
    "2024-01-02T14:30:00Z", "2024-01-02T14:30:00.123456Z", "2024-01-02", "2024-01-02 14:30",
    "2024-01-02T14:30:00+01:00", "2024-01-02T14:30:00-0530", "2024-01-02T14:30:00,5Z",
    "2024-01-02T14:30:00.1234567Z", "2024-01-02T14:30:00.1234560Z", "2024-02-30T00:00:00Z",
    "2024-01-02T24:00:00Z", "2024-01-02T14:30:00+24:00", " 2024-01-02T14:30:00Z ", "", "nope",
    "0001-01-01T00:30:00+01:00",
]  # fmt: skip


def _checks(header: list[str]) -> tuple[Any, Any]:
    compiled = compile_schema(TRADES)
    return (
        compiled.row_check(compiled.header(header)),
        csv_rules.MARKET_DATA.row_check(csv_rules.MARKET_DATA.header(header)),
    )


@given(
    st.sampled_from(_SYMBOLS),
    st.sampled_from(_PRICES),
    st.sampled_from(_VOLUMES),
    st.sampled_from(_TIMES),
)
@settings(max_examples=3000, suppress_health_check=[HealthCheck.too_slow])
def test_the_trades_schema_answers_as_the_market_data_rules(
    symbol: str, price: str, volume: str, timestamp: str
) -> None:
    ours, theirs = _checks(HEADER)
    cells = [symbol, price, volume, timestamp]
    assert ours(cells) == theirs(cells)


@given(st.lists(st.text(max_size=12), min_size=4, max_size=4))
@settings(max_examples=2000)
def test_any_cells_get_the_same_answer(cells: list[str]) -> None:
    ours, theirs = _checks(HEADER)
    assert ours(cells) == theirs(cells)


@pytest.mark.parametrize(
    "header",
    [
        ["Symbol", " PRICE ", "volume", "timestamp", "venue"],
        ["timestamp", "volume", "price", "symbol"],
        ["symbol", "price", "volume"],
        ["symbol", "price", "price", "volume", "timestamp"],
    ],
)
def test_the_header_is_read_as_the_market_data_rules_read_it(header: list[str]) -> None:
    compiled = compile_schema(TRADES)

    def outcome(rules: Any) -> Any:
        try:
            return rules.header(header)
        except HeaderError as error:
            return (error.code, str(error), error.names, error.extra_columns)

    assert outcome(compiled) == outcome(csv_rules.MARKET_DATA)


def test_a_whole_file_parses_the_same_by_either_rules() -> None:
    data = (
        b"symbol,price,volume,timestamp\n"
        b"aapl,1.5,10,2024-01-02T10:00:00Z\n"
        b"aapl,1.5,10,2024-01-02T10:00:00Z\n"
        b"aapl,1.6,10,2024-01-02T10:00:00Z\n"
        b"msft,-1,10,2024-01-02\n"
        b"msft,2,x,2024-01-02\n"
    )
    results = []
    for rules in (compile_schema(TRADES), csv_rules.MARKET_DATA):
        rejected: list[tuple[int, str, list[str]]] = []
        parser = CsvParser([data], rules, on_reject=lambda *r, into=rejected: into.append(r))
        results.append((list(parser), rejected, parser.duplicates))
    assert results[0] == results[1]
    assert results[0][2] == 1 and len(results[0][1]) == 3


# A dataset of its own: quotes with a European dialect of numbers.

QUOTES: dict[str, Any] = {
    "fields": [
        {"name": "symbol", "type": "string", "constraints": {"required": True}},
        {
            "name": "bid",
            "type": "number",
            "decimalChar": ",",
            "groupChar": ".",
            "constraints": {"required": True, "minimum": 0},
        },
        {"name": "bidSize", "type": "integer", "constraints": {"minimum": 1}},
        {"name": "venue", "type": "string", "constraints": {"enum": ["XLON", "XPAR"]}},
        {"name": "day", "type": "date", "format": "%d/%m/%Y"},
        {"name": "at", "type": "datetime", "constraints": {"required": True}},
        {"name": "open", "type": "boolean"},
        {"name": "code", "type": "string", "constraints": {"minLength": 2, "maxLength": 4}},
    ],
    "primaryKey": ["symbol", "at"],
    "missingValues": ["", "NA"],
}
_QUOTE_HEADER = ["symbol", "bid", "bidSize", "venue", "day", "at", "open", "code"]


def _quote(**cells: str) -> Any:
    row = {
        "symbol": "VOD",
        "bid": "1.234,5",
        "bidSize": "10",
        "venue": "XLON",
        "day": "02/01/2024",
        "at": "2024-01-02T08:00:00+01:00",
        "open": "true",
        "code": "AB",
    } | cells
    compiled = compile_schema(QUOTES)
    check = compiled.row_check(compiled.header(_QUOTE_HEADER))
    return check([row[name] for name in _QUOTE_HEADER])


def test_a_good_quote_is_stored_in_canonical_forms_key_first() -> None:
    assert _quote() == (
        "VOD",
        "2024-01-02T07:00:00.000000Z",
        "1234.5",
        "10",
        "XLON",
        "2024-01-02",
        "true",
        "AB",
    )


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        ({"bid": "-1"}, "bid:minimum"),
        ({"bid": "1,2,3"}, "bid:type"),  # one decimal comma at most
        ({"venue": "XNYS"}, "venue:enum"),
        ({"bidSize": "0"}, "bidSize:minimum"),
        ({"bidSize": "1,5"}, "bidSize:type"),
        ({"day": "2024-01-02"}, "day:type"),
        ({"at": "2024-01-02T08:00:00"}, "at:type"),  # no zone, and no x-zoneless
        ({"at": "NA"}, "at:required"),
        ({"open": "yes"}, "open:type"),
        ({"code": "A"}, "code:minLength"),
        ({"code": "ABCDE"}, "code:maxLength"),
        ({"symbol": ""}, "symbol:required"),
    ],
)
def test_a_bad_quote_names_its_field_and_rule(cells: dict[str, str], reason: str) -> None:
    assert _quote(**cells) == reason


def test_a_missing_optional_value_is_none() -> None:
    row = _quote(bidSize="NA", venue="", code="")
    assert row[3] is None and row[4] is None and row[7] is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.update(foreignKeys=[]), "unsupported schema properties: foreignKeys"),
        (lambda s: s["fields"][0].update(type="geopoint"), "unsupported type 'geopoint'"),
        (
            lambda s: s["fields"][0]["constraints"].update(unique=True),
            "unsupported constraints: unique",
        ),
        (lambda s: s["fields"][0].update(rdfType="x"), "unsupported properties: rdfType"),
        (lambda s: s.update(primaryKey=["bid"]), "a key field must be of type"),
        (lambda s: s.update(primaryKey=["venue"]), "field 'venue': a key field must be required"),
        (lambda s: s.update(primaryKey=["symbol", "at", "day"]), "one or two fields"),
        (lambda s: s.update(primaryKey=["nope"]), "names 'nope', which is not a field"),
        (
            lambda s: s["fields"][1]["constraints"].update(maximum="lots"),
            "maximum 'lots' is not a number",
        ),
        (lambda s: s["fields"][3]["constraints"].update(minimum="A"), "minimum needs an ordered"),
        (lambda s: s["fields"].append({"name": "Symbol"}), "'Symbol' appears twice"),
        (lambda s: s["fields"][0]["constraints"].update(pattern="("), "pattern does not compile"),
        (lambda s: s["fields"][4].update(format="dd/mm"), "format is 'default', 'any' or"),
    ],
)
def test_refuses_what_it_does_not_support_naming_it(change: Any, message: str) -> None:
    schema = copy.deepcopy(QUOTES)
    change(schema)
    with pytest.raises(SchemaError, match=message):
        check_schema(schema)


def test_the_shipped_trades_schema_is_checked_and_keyed_symbol_then_timestamp() -> None:
    check_schema(TRADES)
    compiled = compile_schema(TRADES)
    assert compiled.key_fields == ("symbol", "timestamp")
    assert compiled.row_fields == ("symbol", "timestamp", "price", "volume")
