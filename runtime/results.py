"""`GET /results/{symbol}`: stored rows of one symbol, time-ordered, paginated.

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
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response

from runtime import clients
from runtime.csv_rules import normalize_symbol, parse_timestamp
from runtime.errors import BadRequestError
from runtime.http import json_response, make_app, resolve
from runtime.observability import expect_no_metrics, logger, metrics, tracer
from runtime.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
EARLIEST = "0001-01-01T00:00:00.000000Z"
LATEST = "9999-12-31T23:59:59.999999Z"
_KNOWN_PARAMETERS = frozenset({"startTime", "endTime", "limit", "order", "nextToken"})
app = make_app()
expect_no_metrics()  # no application metric is recorded here


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
    dumps = json.dumps
    return (
        f'{{"symbol":{dumps(item["symbol"]["S"])},"timestamp":{dumps(item["timestamp"]["S"])},'
        f'"price":{_number(item["price"]["N"])},"volume":{_number(item["volume"]["N"])},'
        f'"jobId":{dumps(item.get("jobId", {}).get("S", ""))}}}'
    )


@app.get("/results/<symbol>")
def get_results(symbol: str) -> Response[str]:
    raw_symbol = (app.current_event.path_parameters or {}).get("symbol", symbol)
    normalized = normalize_symbol(raw_symbol)
    if normalized is None:
        raise _bad("INVALID_SYMBOL", "symbol does not follow the symbol rule")
    params = app.current_event.query_string_parameters or {}
    multi = app.current_event.multi_value_query_string_parameters or {}
    for name, values in multi.items():
        if name in _KNOWN_PARAMETERS and len(values) > 1:
            raise _bad("INVALID_PARAMETER", f"{name} is given more than once")
    start = parse_time(params.get("startTime"), "startTime", EARLIEST)
    end = parse_time(params.get("endTime"), "endTime", LATEST)
    if start > end:
        raise _bad("INVALID_TIME_RANGE", "startTime is after endTime")
    limit = parse_limit(params.get("limit"))
    order = params.get("order", "asc")
    if order not in ("asc", "desc"):
        raise _bad("INVALID_ORDER", 'order must be "asc" or "desc"')
    query: dict[str, Any] = {
        "TableName": get_settings().results_table,
        "KeyConditionExpression": "#symbol = :symbol AND #ts BETWEEN :start AND :end",
        "ExpressionAttributeNames": {"#symbol": "symbol", "#ts": "timestamp"},
        "ExpressionAttributeValues": {
            ":symbol": {"S": normalized},
            ":start": {"S": start},
            ":end": {"S": end},
        },
        "ScanIndexForward": order == "asc",
        # One extra row tells whether another page exists, so no page is ever empty.
        "Limit": limit + 1,
    }
    token = params.get("nextToken")
    if token is not None:
        last = decode_token(token, normalized, order, start, end)
        query["ExclusiveStartKey"] = {"symbol": {"S": normalized}, "timestamp": {"S": last}}
    response = clients.dynamodb().query(**query)
    items = response.get("Items", [])
    next_last: str | None = None
    if len(items) > limit:
        items = items[:limit]
        next_last = items[-1]["timestamp"]["S"]
    elif "LastEvaluatedKey" in response:
        next_last = response["LastEvaluatedKey"]["timestamp"]["S"]
    parts = [
        f'{{"symbol":{json.dumps(normalized)},"count":{len(items)},"items":[',
        ",".join(item_json(item) for item in items),
        "]",
    ]
    if next_last is not None:
        parts.append(
            f',"nextToken":{json.dumps(encode_token(normalized, order, start, end, next_last))}'
        )
    parts.append("}")
    return json_response(200, "".join(parts))


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
