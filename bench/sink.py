"""A DynamoDB front with injected latency: a latency sink, a delaying proxy, or both.

Every request waits ``delay`` seconds, then:

* writes to a *sink table* (``BatchWriteItem`` whose tables are all sink tables, ``PutItem``,
  ``UpdateItem``, ``DeleteItem`` on one) are answered as DynamoDB answers a successful write
  (``{"UnprocessedItems": {}}`` ...) and stored nowhere: the backend costs nothing but the delay,
  the way a well-scaled table would, and what is left is the client's own cost;
* anything else goes to the upstream endpoint (moto in server mode) when there is one, so that
  the jobs table keeps real conditional-write semantics;
* with no upstream, reads and table calls get minimal well-formed answers (``GetItem`` finds
  nothing, ``DescribeTable`` says ``ACTIVE``).

With no sink table it is a plain delaying reverse proxy: the latency injection in front of moto.

Run ``python -m bench.sink --delay-ms 10 --upstream http://127.0.0.1:5000 --sink-table Results``;
it prints ``listening http://127.0.0.1:PORT`` once ready.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

__all__ = ["DynamoFront", "serve_in_thread"]

_TARGET_PREFIX = "DynamoDB_20120810."
_JSON = "application/x-amz-json-1.0"
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


class DynamoFront(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(
        self,
        address: tuple[str, int],
        *,
        delay: float = 0.0,
        upstream: str | None = None,
        sink_tables: Iterable[str] | None = None,
    ) -> None:
        """``sink_tables=None`` sinks writes to every table; ``()`` sinks none (pure proxy)."""
        super().__init__(address, _Handler)
        self.delay = delay
        self.upstream = urlsplit(upstream) if upstream else None
        self.sink_all = sink_tables is None
        self.sink_tables = frozenset(sink_tables or ())
        self.requests = 0
        self.sunk_items = 0
        self._lock = threading.Lock()
        self._local = threading.local()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def count(self, items: int) -> None:
        with self._lock:
            self.requests += 1
            self.sunk_items += items

    def upstream_connection(self) -> http.client.HTTPConnection:
        # One keep-alive connection per handler thread (a client connection has its own thread).
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            assert self.upstream is not None
            conn = http.client.HTTPConnection(
                self.upstream.hostname or "127.0.0.1", self.upstream.port, timeout=60
            )
            self._local.conn = conn
        return conn

    def drop_upstream_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def sinks(self, table: str) -> bool:
        return self.sink_all or table in self.sink_tables


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without it, headers and body leave as two segments and Nagle's algorithm meets the
    # client's delayed ACK: about 40 ms added to every answer.
    disable_nagle_algorithm = True
    server: DynamoFront

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._handle(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._handle(self.rfile.read(length) if length else b"")

    def _handle(self, body: bytes) -> None:
        front = self.server
        if front.delay:
            time.sleep(front.delay)
        target = self.headers.get("X-Amz-Target", "")
        operation = target.removeprefix(_TARGET_PREFIX) if target.startswith(_TARGET_PREFIX) else ""
        payload: dict[str, Any] = {}
        if operation and body:
            try:
                payload = json.loads(body)
            except ValueError:
                self._answer(400, _error("SerializationException", "body is not JSON"))
                return
        sunk = _sunk_items(front, operation, payload)
        if sunk is not None:
            front.count(sunk)
            self._answer(200, _write_answer(operation, payload))
            return
        front.count(0)
        if front.upstream is not None:
            self._forward(body)
            return
        self._answer(*_minimal_answer(operation, payload))

    def _answer(self, status: int, document: dict[str, Any]) -> None:
        data = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", _JSON)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", "bench")
        self._finish(data)

    def _finish(self, data: bytes) -> None:
        # Headers and body in one write: one segment per answer.
        self._headers_buffer.append(b"\r\n")  # type: ignore[attr-defined]
        self._headers_buffer.append(data)  # type: ignore[attr-defined]
        self.flush_headers()

    def _forward(self, body: bytes) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        for attempt in range(2):
            conn = self.server.upstream_connection()
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                break
            except (http.client.HTTPException, OSError):
                # A keep-alive connection the upstream closed: reconnect once.
                self.server.drop_upstream_connection()
                if attempt:
                    self._answer(502, _error("BadGateway", "upstream unreachable"))
                    return
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self._finish(data)


def _sunk_items(front: DynamoFront, operation: str, payload: dict[str, Any]) -> int | None:
    """How many items a write to sink tables carries, or None if it is not one."""
    if operation == "BatchWriteItem":
        request_items: dict[str, list[Any]] = payload.get("RequestItems") or {}
        if request_items and all(front.sinks(table) for table in request_items):
            return sum(len(requests) for requests in request_items.values())
        return None
    if operation in {"PutItem", "UpdateItem", "DeleteItem"} and front.sinks(
        str(payload.get("TableName", ""))
    ):
        return 1
    return None


def _write_answer(operation: str, payload: dict[str, Any]) -> dict[str, Any]:
    if operation == "BatchWriteItem":
        return {"UnprocessedItems": {}}
    if payload.get("ReturnValues", "NONE") != "NONE":
        return {"Attributes": payload.get("Item") or payload.get("Key") or {}}
    return {}


def _minimal_answer(operation: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    table = str(payload.get("TableName", "table"))
    match operation:
        case "GetItem":
            return 200, {}
        case "BatchGetItem":
            return 200, {"Responses": {}, "UnprocessedKeys": {}}
        case "Query" | "Scan":
            return 200, {"Items": [], "Count": 0, "ScannedCount": 0}
        case "DescribeTable":
            return 200, {"Table": _table_description(table, payload)}
        case "CreateTable":
            return 200, {"TableDescription": _table_description(table, payload)}
        case "ListTables":
            return 200, {"TableNames": []}
        case _:
            return 400, _error("UnknownOperationException", f"unsupported: {operation!r}")


def _table_description(table: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "TableName": table,
        "TableStatus": "ACTIVE",
        "TableArn": f"arn:aws:dynamodb:us-east-1:000000000000:table/{table}",
        "KeySchema": payload.get("KeySchema", []),
        "AttributeDefinitions": payload.get("AttributeDefinitions", []),
        "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
        "ItemCount": 0,
        "TableSizeBytes": 0,
    }


def _error(code: str, message: str) -> dict[str, Any]:
    return {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}


def serve_in_thread(front: DynamoFront) -> threading.Thread:
    thread = threading.Thread(target=front.serve_forever, name="dynamo-front", daemon=True)
    thread.start()
    return thread


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sink", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--upstream", help="forward what is not sunk to this endpoint")
    parser.add_argument(
        "--sink-table",
        action="append",
        help="table whose writes are sunk (repeatable); default: every table unless --proxy",
    )
    parser.add_argument("--proxy", action="store_true", help="sink nothing: a delaying proxy")
    args = parser.parse_args(argv)
    sink_tables: list[str] | None = [] if args.proxy else args.sink_table
    front = DynamoFront(
        (args.host, args.port),
        delay=args.delay_ms / 1000,
        upstream=args.upstream,
        sink_tables=sink_tables,
    )
    print(f"listening {front.url}", flush=True)
    try:
        front.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        front.server_close()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
