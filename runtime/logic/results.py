"""`GET /results/{symbol}`: parameter rules, the pagination token, and the exact JSON body.

`nextToken` is opaque to clients: URL-safe base64 of a JSON object holding the symbol, the
order, the time range and the last key. A token is only accepted for the very query that
produced it (same symbol, order and range), so it can never read another symbol's rows.
Prices and volumes are written into the JSON as numbers with the exact digits stored in
DynamoDB: the body is assembled from the stored number text, never through a float.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from runtime.contract import RESULTS_QUERY_PARAMETERS
from runtime.errors import BadRequestError
from runtime.logic.csv_rules import normalize_symbol, parse_timestamp

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
EARLIEST = "0001-01-01T00:00:00.000000Z"
LATEST = "9999-12-31T23:59:59.999999Z"


class PageReader(Protocol):
    """Reads one page of the results table (`runtime.dal.results_table.query_page`)."""

    def __call__(
        self, *, symbol: str, start: str, end: str, ascending: bool, limit: int, after: str | None
    ) -> tuple[list[dict[str, Any]], str | None]: ...


def _bad(code: str, message: str) -> BadRequestError:
    return BadRequestError(message, code=code)


def parse_limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 4:
        raise _bad("INVALID_LIMIT", f"limit must be an integer from 1 to {MAX_LIMIT}")
    value = int(raw)
    if not 1 <= value <= MAX_LIMIT:
        raise _bad("INVALID_LIMIT", f"limit must be an integer from 1 to {MAX_LIMIT}")
    return value


def parse_time(raw: str | None, name: str, default: str) -> str:
    if raw is None:
        return default
    ok, value = parse_timestamp(raw)
    if not ok:
        raise _bad("INVALID_TIME", f"{name} must be an ISO 8601 timestamp")
    return value


def encode_token(symbol: str, order: str, start: str, end: str, last: str) -> str:
    payload = {"v": 1, "s": symbol, "o": order, "a": start, "b": end, "t": last}
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, symbol: str, order: str, start: str, end: str) -> str:
    """The last timestamp of the previous page; 400 for any token not made for this query."""
    invalid = _bad("INVALID_NEXT_TOKEN", "nextToken is not valid for this query")
    if len(token) > 1024:
        raise invalid
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise invalid from exc
    if not isinstance(data, dict) or data.get("v") != 1:
        raise invalid
    if (data.get("s"), data.get("o"), data.get("a"), data.get("b")) != (symbol, order, start, end):
        raise invalid
    last = data.get("t")
    if not isinstance(last, str) or parse_timestamp(last) != (True, last):
        raise invalid
    if not start <= last <= end:
        raise invalid
    return last


def _number(text: str) -> str:
    """Stored number text, re-checked so the body is always valid JSON."""
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {text!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not a finite number: {text!r}")
    return str(value)


def item_json(item: dict[str, Any]) -> str:
    """One row of the answer: the market data only. The item also holds the id of the job that
    stored it, which is never answered: rows are shared by every caller, and a job id would
    show that another owner's job exists, which its status 404 hides (R25)."""
    dumps = json.dumps
    return (
        f'{{"symbol":{dumps(item["symbol"]["S"])},"timestamp":{dumps(item["timestamp"]["S"])},'
        f'"price":{_number(item["price"]["N"])},"volume":{_number(item["volume"]["N"])}}}'
    )


@dataclass(frozen=True, slots=True)
class ResultsQuery:
    symbol: str
    start: str
    end: str
    limit: int
    order: str
    token: str | None


def parse_query(
    raw_symbol: str,
    params: Mapping[str, str],
    multi: Mapping[str, Sequence[str]],
) -> ResultsQuery:
    """The validated query; a `BadRequestError` (400) for any bad parameter, never a 500."""
    symbol = normalize_symbol(raw_symbol)
    if symbol is None:
        raise _bad("INVALID_SYMBOL", "symbol does not follow the symbol rule")
    for name, values in multi.items():
        if name in RESULTS_QUERY_PARAMETERS and len(values) > 1:
            raise _bad("INVALID_PARAMETER", f"{name} is given more than once")
    start = parse_time(params.get("startTime"), "startTime", EARLIEST)
    end = parse_time(params.get("endTime"), "endTime", LATEST)
    if start > end:
        raise _bad("INVALID_TIME_RANGE", "startTime is after endTime")
    limit = parse_limit(params.get("limit"))
    order = params.get("order", "asc")
    if order not in ("asc", "desc"):
        raise _bad("INVALID_ORDER", 'order must be "asc" or "desc"')
    return ResultsQuery(symbol, start, end, limit, order, params.get("nextToken"))


def results_body(query: ResultsQuery, read_page: PageReader) -> str:
    """The 200 body: one page, and a token when another page exists."""
    after = None
    if query.token is not None:
        after = decode_token(query.token, query.symbol, query.order, query.start, query.end)
    # One extra row tells whether another page exists, so no page is ever empty.
    items, last_read = read_page(
        symbol=query.symbol,
        start=query.start,
        end=query.end,
        ascending=query.order == "asc",
        limit=query.limit + 1,
        after=after,
    )
    next_last: str | None = None
    if len(items) > query.limit:
        items = items[: query.limit]
        next_last = items[-1]["timestamp"]["S"]
    elif last_read is not None:
        next_last = last_read
    parts = [
        f'{{"symbol":{json.dumps(query.symbol)},"count":{len(items)},"items":[',
        ",".join(item_json(item) for item in items),
        "]",
    ]
    if next_last is not None:
        token = encode_token(query.symbol, query.order, query.start, query.end, next_last)
        parts.append(f',"nextToken":{json.dumps(token)}')
    parts.append("}")
    return "".join(parts)
