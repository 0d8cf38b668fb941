"""`GET /results/{symbol}` (R3): one page of a symbol's stored rows (`runtime.logic.results`)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response

from runtime import clients
from runtime.dal.results_table import query_page
from runtime.http import json_response, make_app, resolve
from runtime.logic.results import parse_query, results_body
from runtime.observability import logger, tracer
from runtime.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

app = make_app()


@app.get("/results/<symbol>")
def get_results(symbol: str) -> Response[str]:
    event = app.current_event
    query = parse_query(
        (event.path_parameters or {}).get("symbol", symbol),
        event.query_string_parameters or {},
        event.multi_value_query_string_parameters or {},
    )
    read_page = functools.partial(query_page, clients.dynamodb(), get_settings().results_table)
    return json_response(200, results_body(query, read_page))


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
