"""The hand-written market data rules of release 0.1.0, frozen as they were (only their reason
codes are the trades schema's, which are the same names), kept as the oracle the compiled trades
schema (runtime/schemas/trades.json) must answer exactly as: the header's columns and each
record's cells (symbol, price, volume, timestamp), validated and normalized, with the reason a
row is rejected.

`MARKET_DATA` is these rules as the streaming parser (`runtime.logic.csv_parser`) takes them.
No AWS here. The checks are on the per-row hot path: one precompiled regex per numeric or time
cell, a fast path for the common timestamp forms, and symbol validation cached per file, because
a file repeats few symbols many times.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Context, Decimal, InvalidOperation
from typing import TYPE_CHECKING

from runtime.logic.csv_parser import (
    FileReason,
    Header,
    HeaderError,
    RowCheck,
)
from runtime.logic.csv_rules import Reason

if TYPE_CHECKING:
    from runtime.dal.results_writer import Row

REQUIRED_COLUMNS = ("symbol", "price", "volume", "timestamp")
MAX_SYMBOL_LENGTH = 32
MAX_DIGITS = 38
# DynamoDB numbers: positive magnitudes from 1E-130 to 9.99...E+125.
MIN_ADJUSTED_EXPONENT = -130
MAX_ADJUSTED_EXPONENT = 125
_MAX_NUMBER_TEXT = 200
_SYMBOL_CACHE_SIZE = 65536


def header_of(cells: list[str]) -> Header:
    """The header rule of the SPEC; `HeaderError` (line 1, as the single pass says) otherwise,
    naming the extra columns before a repeated one."""
    names = [cell.strip().lower() for cell in cells]
    positions: dict[str, int] = {}
    extra: list[str] = []
    for index, name in enumerate(names):
        if name in REQUIRED_COLUMNS:
            if name in positions:
                raise HeaderError(
                    FileReason.DUPLICATE_COLUMN,
                    f"column {name!r} appears twice",
                    names=names,
                    extra_columns=extra,
                )
            positions[name] = index
        else:
            extra.append(name)
    missing = [name for name in REQUIRED_COLUMNS if name not in positions]
    if missing:
        raise HeaderError(
            FileReason.MISSING_COLUMN,
            "missing column(s): " + ", ".join(missing),
            names=names,
            extra_columns=extra,
        )
    return Header(
        tuple(names),
        (positions["symbol"], positions["price"], positions["volume"], positions["timestamp"]),
        tuple(extra),
    )


_SYMBOL = re.compile(r"[A-Z0-9^][A-Z0-9.\-_:=^]*", re.ASCII).fullmatch
_NUMBER = re.compile(
    r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII
).fullmatch
_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]+))?)?"
    r"(?:([Zz])|([+-])([0-9]{2})(?::?([0-9]{2}))?)?)?",
    re.ASCII,
).fullmatch
# Exact for every value that passes the 38-digit check; the wide exponent range never rounds.
_EXACT = Context(prec=MAX_DIGITS + 2, Emax=999_999, Emin=-999_999)


def normalize_symbol(raw: str) -> str | None:
    """The stored form of a symbol, or None when the SPEC rule rejects it."""
    value = raw.strip()
    if not value.isascii():
        return None
    value = value.upper()
    if len(value) > MAX_SYMBOL_LENGTH or _SYMBOL(value) is None:
        return None
    return value


def _symbol_or_reason(raw: str) -> tuple[bool, str]:
    value = raw.strip()
    if not value.isascii():
        return False, Reason.INVALID_SYMBOL
    value = value.upper()
    if len(value) > MAX_SYMBOL_LENGTH:
        return False, Reason.SYMBOL_TOO_LONG
    if _SYMBOL(value) is None:
        return False, Reason.INVALID_SYMBOL
    return True, value


def parse_price(raw: str) -> tuple[bool, str]:
    """(True, DynamoDB number text) or (False, reason). Never goes through a float."""
    text = raw.strip()
    if len(text) > _MAX_NUMBER_TEXT or _NUMBER(text) is None:
        return False, Reason.INVALID_PRICE
    try:
        value = Decimal(text)
    except InvalidOperation:
        return False, Reason.PRICE_OUT_OF_RANGE
    if text[0] == "-" or value.is_zero():
        return False, Reason.PRICE_NOT_POSITIVE
    if len(text) <= MAX_DIGITS and "e" not in text and "E" not in text:
        # Plain notation this short has at most 38 digits and an exponent within range.
        return True, str(_EXACT.normalize(value))
    digits = value.as_tuple().digits
    significant = len(digits)
    while significant and digits[significant - 1] == 0:
        significant -= 1
    if significant > MAX_DIGITS:
        return False, Reason.PRICE_TOO_PRECISE
    if not MIN_ADJUSTED_EXPONENT <= value.adjusted() <= MAX_ADJUSTED_EXPONENT:
        return False, Reason.PRICE_OUT_OF_RANGE
    return True, str(_EXACT.normalize(value))


def parse_volume(raw: str) -> tuple[bool, str]:
    """(True, canonical integer text) or (False, reason)."""
    text = raw.strip()
    if not (text.isascii() and text.isdigit()):
        return False, Reason.INVALID_VOLUME
    text = text.lstrip("0") or "0"
    if len(text) > MAX_DIGITS:
        return False, Reason.VOLUME_OUT_OF_RANGE
    return True, text


_valid_dates: dict[str, bool] = {}


def _date_ok(date: str) -> bool:
    known = _valid_dates.get(date)
    if known is None:
        try:
            datetime(int(date[0:4]), int(date[5:7]), int(date[8:10]))
            known = True
        except ValueError:
            known = False
        if len(_valid_dates) < 100_000:
            _valid_dates[date] = known
    return known


def _canonical_fast(raw: str) -> str | None:
    """The common machine-written forms `...THH:MM:SS.ffffffZ` / `...THH:MM:SSZ`, without regex.

    Returns None when the value is not in one of those exact shapes (the full grammar decides).
    """
    size = len(raw)
    if size == 27:
        if raw[19] != "." or not raw[20:26].isdigit():
            return None
    elif size != 20:
        return None
    if (
        raw[-1] != "Z"
        or raw[10] != "T"
        or raw[4] != "-"
        or raw[7] != "-"
        or raw[13] != ":"
        or raw[16] != ":"
        or not raw.isascii()
    ):
        return None
    digits = raw[0:4] + raw[5:7] + raw[8:10] + raw[11:13] + raw[14:16] + raw[17:19]
    if not digits.isdigit() or raw[11:13] > "23" or raw[14:16] > "59" or raw[17:19] > "59":
        return None
    if not _date_ok(raw[0:10]):
        return None
    return raw if size == 27 else raw[:19] + ".000000Z"


def parse_timestamp(raw: str) -> tuple[bool, str]:
    """(True, canonical `YYYY-MM-DDTHH:MM:SS.ffffffZ`) or (False, reason).

    ISO 8601 extended format: a date, optionally a time (minutes or seconds, fraction after `.`
    or `,`) and a zone (`Z`, `+HH`, `+HHMM`, `+HH:MM`). No zone means UTC. Fractions beyond the
    microsecond must be zeros: they are not silently cut, since cutting could merge two instants.
    """
    fast = _canonical_fast(raw)
    if fast is not None:
        return True, fast
    return parse_timestamp_full(raw)


def parse_timestamp_full(raw: str) -> tuple[bool, str]:
    """`parse_timestamp` without the fast path (the reference the fast path must agree with)."""
    match = _TIMESTAMP(raw.strip())
    if match is None:
        return False, Reason.INVALID_TIMESTAMP
    year, month, day, hour, minute, second, fraction, _zone, sign, off_h, off_m = match.groups()
    micros = 0
    if fraction is not None:
        if len(fraction) > 6:
            if fraction[6:].strip("0"):
                return False, Reason.TIMESTAMP_TOO_PRECISE
            fraction = fraction[:6]
        micros = int(fraction.ljust(6, "0"))
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            micros,
        )
        if sign is not None:
            offset_hours, offset_minutes = int(off_h), int(off_m or 0)
            if offset_hours > 23 or offset_minutes > 59:
                return False, Reason.INVALID_TIMESTAMP
            offset = timedelta(hours=offset_hours, minutes=offset_minutes)
            moment = moment - offset if sign == "+" else moment + offset
    except (ValueError, OverflowError):
        return False, Reason.INVALID_TIMESTAMP
    return True, (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}Z"
    )


class MarketDataRules:
    """The SPEC's market data rules as the parser takes them (`csv_parser.FieldRules`)."""

    def header(self, cells: list[str]) -> Header:
        return header_of(cells)

    def row_check(self, header: Header) -> RowCheck:
        i_symbol, i_price, i_volume, i_time = header.positions
        symbols: dict[str, tuple[bool, str]] = {}

        # The per-row names are the function's own locals (defaults), not closure cells.
        def check(
            cells: list[str],
            *,
            cached: Callable[[str], tuple[bool, str] | None] = symbols.get,
            symbol_at: int = i_symbol,
            price_at: int = i_price,
            volume_at: int = i_volume,
            time_at: int = i_time,
        ) -> Row | str:
            raw_symbol = cells[symbol_at]
            checked = cached(raw_symbol)
            if checked is None:
                checked = _symbol_or_reason(raw_symbol)
                if len(symbols) < _SYMBOL_CACHE_SIZE:
                    symbols[raw_symbol] = checked
            ok, symbol = checked
            if not ok:
                return symbol
            ok, price = parse_price(cells[price_at])
            if not ok:
                return price
            ok, volume = parse_volume(cells[volume_at])
            if not ok:
                return volume
            ok, timestamp = parse_timestamp(cells[time_at])
            if not ok:
                return timestamp
            return (symbol, timestamp, price, volume)

        return check


MARKET_DATA = MarketDataRules()
"""The rules every job's file is read by."""
