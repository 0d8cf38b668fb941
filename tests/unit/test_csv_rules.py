"""The CSV parser on its own: unit cases and hypothesis properties (no AWS)."""

from __future__ import annotations

import contextlib
import csv
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.logic.csv_parser import CsvFileError, CsvParser
from runtime.logic.csv_rules import (
    MARKET_DATA,
    Reason,
    parse_bytes,
    parse_price,
    parse_timestamp,
    parse_timestamp_full,
    parse_volume,
)

HEADER = ["symbol", "price", "volume", "timestamp"]
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1.50", (True, "1.5")),
        ("0001.000", (True, "1")),
        ("1e2", (True, "1E+2")),
        (".5", (True, "0.5")),
        ("+3", (True, "3")),
        ("9" * 38, (True, "9" * 38)),
        ("1" + "0" * 40, (True, "1E+40")),
        ("NaN", (False, Reason.INVALID_PRICE)),
        ("-Infinity", (False, Reason.INVALID_PRICE)),
        ("1,5", (False, Reason.INVALID_PRICE)),
        ("1 000", (False, Reason.INVALID_PRICE)),
        ("-0", (False, Reason.PRICE_NOT_POSITIVE)),
        ("1" * 39, (False, Reason.PRICE_TOO_PRECISE)),
        ("1e126", (False, Reason.PRICE_OUT_OF_RANGE)),
        ("1e-130", (True, "1E-130")),
    ],
)
def test_price_rule(raw, expected):
    # Given / When / Then: the strict grammar and DynamoDB's limits
    assert parse_price(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0", (True, "0")),
        ("007", (True, "7")),
        ("1.0", (False, Reason.INVALID_VOLUME)),
        ("\u0663", (False, Reason.INVALID_VOLUME)),
        ("9" * 39, (False, Reason.VOLUME_OUT_OF_RANGE)),
    ],
)
def test_volume_rule(raw, expected):
    assert parse_volume(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-01-02T03:04:05Z", "2024-01-02T03:04:05.000000Z"),
        ("2024-01-02t03:04:05.1z", "2024-01-02T03:04:05.100000Z"),
        ("2024-01-02 03:04", "2024-01-02T03:04:00.000000Z"),
        ("2024-01-02", "2024-01-02T00:00:00.000000Z"),
        ("2024-01-02T00:30:00+01:00", "2024-01-01T23:30:00.000000Z"),
        ("2024-01-02T00:30:00-0130", "2024-01-02T02:00:00.000000Z"),
        ("2024-01-02T00:30:00.123456000+00", "2024-01-02T00:30:00.123456Z"),
    ],
)
def test_timestamp_rule_canonical_form(raw, expected):
    assert parse_timestamp(raw) == (True, expected)


@pytest.mark.parametrize(
    "raw",
    [
        "2024-02-30",
        "2024-01-02T24:00:00",
        "0001-01-01T00:00:00+01:00",
        "2024-1-2",
        "1704164645",
        "",
    ],
)
def test_fails_timestamp_rule(raw):
    assert parse_timestamp(raw) == (False, Reason.INVALID_TIMESTAMP)


def test_fails_encoding_error_split_across_chunks_names_its_line():
    # Given a valid multi-byte character split over two chunks, then an invalid byte on line 3
    chunks = [b"symbol,price,volume,timestamp\nA\xc3", b"\xa9,1,1,2024-01-01\nB,1,1,\xff\n"]
    parser = CsvParser(chunks, MARKET_DATA)
    # When parsed / Then the rows before are read and the error names line 3
    with pytest.raises(CsvFileError) as caught:
        list(parser)
    assert (caught.value.code, caught.value.line) == ("INVALID_ENCODING", 3)
    assert parser.rejected == 1  # "AÉ" breaks the symbol rule; it was read before the failure


# -- properties ------------------------------------------------------------------------------

_symbols = st.sampled_from(["AAPL", "msft", " BRK.B ", "^GSPC", "=BAD", "", "X" * 33])
_prices = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, places=4).map(str),
    st.sampled_from(["NaN", "1e5", "-1", "0", "1_0", "abc"]),
)
_volumes = st.one_of(st.integers(min_value=-5, max_value=10**6).map(str), st.just("1.5"))
_times = st.one_of(
    st.datetimes().map(lambda moment: moment.isoformat()),
    st.sampled_from(["2024-01-01", "2024-01-01T00:00:00Z", "bad"]),
)
_rows = st.lists(st.tuples(_symbols, _prices, _volumes, _times), max_size=30)


def _render(rows: list[tuple[str, ...]], *, crlf: bool, quote_all: bool, bom: bool) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(
        buffer,
        lineterminator="\r\n" if crlf else "\n",
        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
    )
    writer.writerow(HEADER)
    writer.writerows(rows)
    return (b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode()


@PROPERTY
@given(st.binary(max_size=2000), st.integers(min_value=1, max_value=64))
def test_arbitrary_bytes_never_crash_the_parser(data, chunk_size):
    # Given any bytes, cut into arbitrary chunks
    chunks = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]
    parser = CsvParser(chunks, MARKET_DATA)
    # When parsed / Then it either finishes or raises the file-level error, nothing else
    with contextlib.suppress(CsvFileError):
        list(parser)
    assert parser.total == parser.accepted + parser.rejected + parser.duplicates


@PROPERTY
@given(_rows)
def test_counts_always_add_up_to_the_data_rows(rows):
    # Given a well-formed file of arbitrary (often invalid) rows
    parser, accepted, rejections = parse_bytes(
        _render(rows, crlf=False, quote_all=False, bom=False)
    )
    # Then every data row is accepted, rejected or a duplicate, exactly once
    assert parser.accepted + parser.rejected + parser.duplicates == len(rows)
    assert len(accepted) == parser.accepted
    assert len(rejections) == parser.rejected


@PROPERTY
@given(_rows, st.booleans(), st.booleans(), st.booleans(), st.integers(min_value=1, max_value=50))
def test_crlf_quoting_bom_and_chunking_do_not_change_the_rows(rows, crlf, quote_all, bom, chunk):
    # Given the same rows rendered plainly and with CRLF / full quoting / a BOM, in small chunks
    plain = parse_bytes(_render(rows, crlf=False, quote_all=False, bom=False))
    data = _render(rows, crlf=crlf, quote_all=quote_all, bom=bom)
    rejections: list[tuple[int, str, list[str]]] = []
    parser = CsvParser(
        [data[i : i + chunk] for i in range(0, len(data), chunk)],
        MARKET_DATA,
        on_reject=lambda line, reason, cells: rejections.append((line, reason, cells)),
    )
    # When parsed
    accepted = list(parser)
    # Then the accepted rows and the rejections are the same
    assert accepted == plain[1]
    assert [(reason, cells) for _, reason, cells in rejections] == [
        (reason, cells) for _, reason, cells in plain[2]
    ]


@PROPERTY
@given(st.datetimes(), st.booleans(), st.integers(min_value=0, max_value=4))
def test_timestamp_fast_path_agrees_with_the_full_grammar(moment, with_fraction, damage):
    # Given a canonical-looking timestamp, sometimes damaged at one position
    text = (
        moment.strftime("%Y-%m-%dT%H:%M:%S")
        + (f".{moment.microsecond:06d}" if with_fraction else "")
        + "Z"
    )
    if damage:
        position = [5, 8, 11, 14][damage - 1]
        text = text[:position] + "9" + text[position + 1 :]
    # When parsed with and without the fast path / Then both agree
    assert parse_timestamp(text) == parse_timestamp_full(text)
