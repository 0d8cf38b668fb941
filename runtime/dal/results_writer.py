"""Results-table writer: BatchWriteItem batches of at most 25 distinct keys, several in flight.

botocore's retry mode already retries throttled or failed calls; what it does not retry are
`UnprocessedItems` inside a successful answer. Those are resent here with exponential backoff
and full jitter, a bounded number of times, then `WriteError` is raised so the invocation fails
and Lambda retries the event (every put is idempotent: same key, same item).

The request body is encoded here with one `json.dumps` call, byte for byte what botocore's JSON
serializer would produce, because botocore's per-attribute walk over every item of every batch is
the largest client-side CPU cost of the processor. botocore is called with a one-item stand-in
for `RequestItems`; a `before-call` handler registered first swaps the real body into the request
before any other handler sees it. The body travels in a thread-local, set right before the call
and consumed by the handler in the same thread, so calls made by other code on a shared client
are left alone. `before-call` runs once per API call and botocore's own retries re-send the same
request dict, so a retried attempt carries the real body too.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runtime.errors import WriteError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# One row of a dataset as the parser accepts it: the key's values first, then the other
# fields', each the stored text (None for a missing optional value). A trades row is (symbol,
# canonical timestamp, price as DynamoDB number text, volume text).
Row = tuple[str | None, ...]


@dataclass(frozen=True)
class ItemShape:
    """How a row becomes a results item: each position's attribute name and DynamoDB type
    (``S``, ``N`` or ``BOOL``), and how many leading positions are the key."""

    names: tuple[str, ...]
    types: tuple[str, ...]
    key_width: int

    def item_function(self, job_id: str) -> Callable[[Row], dict[str, Any]]:
        """The row-to-item function of this shape, generated once: a key value is always
        there; a missing optional value is left out of the item."""
        namespace: dict[str, Any] = {"JOB": {"S": job_id}}
        lines = ["def item(row):", "    made = {"]
        optional = []
        for index, (name, kind) in enumerate(zip(self.names, self.types, strict=True)):
            if index < self.key_width:
                lines.append(f"        {name!r}: {_attribute(kind, f'row[{index}]')},")
            else:
                optional.append((index, name, kind))
        lines += ["        'jobId': JOB,", "    }"]
        for index, name, kind in optional:
            lines += [
                f"    if row[{index}] is not None:",
                f"        made[{name!r}] = {_attribute(kind, f'row[{index}]')}",
            ]
        lines.append("    return made")
        exec("\n".join(lines), namespace)  # noqa: S102 - source built here from the shape
        made: Callable[[Row], dict[str, Any]] = namespace["item"]
        return made


def _attribute(kind: str, value: str) -> str:
    if kind == "BOOL":
        return f"{{'BOOL': {value} == 'true'}}"
    return f"{{{kind!r}: {value}}}"


TRADES_SHAPE = ItemShape(
    names=("symbol", "timestamp", "price", "volume"), types=("S", "S", "N", "N"), key_width=2
)
"""The trades results table's items (the default)."""

BATCH_SIZE = 25
MAX_ATTEMPTS = 8
BASE_DELAY_SECONDS = 0.05
MAX_DELAY_SECONDS = 5.0


BATCH_WRITE_EVENT = "before-call.dynamodb.BatchWriteItem"
_HANDLER_ID = "runtime.dal.results_writer.encoded-body"
# Stand-in for RequestItems: what botocore serializes is discarded by `_use_encoded_body`.
_STAND_IN: Any = [{"PutRequest": {"Item": {}}}]
_encoded = threading.local()


def encode_request(request_items: dict[str, Any]) -> bytes:
    """The BatchWriteItem body exactly as botocore's JSON serializer writes it."""
    return json.dumps({"RequestItems": request_items}).encode("utf-8")


def _use_encoded_body(params: dict[str, Any], **_: Any) -> None:
    """Put the body encoded by this thread's writer call into the request, once."""
    body = getattr(_encoded, "body", None)
    if body is not None:
        _encoded.body = None
        params["body"] = body


def backoff_delay(
    attempt: int, base: float = BASE_DELAY_SECONDS, cap: float = MAX_DELAY_SECONDS
) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return random.uniform(0, min(cap, base * (2**attempt)))  # noqa: S311 - jitter, not crypto


class BatchWriter:
    """Buffer rows into batches and keep up to `concurrency` BatchWriteItem calls in flight."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        job_id: str,
        concurrency: int,
        *,
        sleep: Callable[[float], None] = time.sleep,
        shape: ItemShape = TRADES_SHAPE,
    ) -> None:
        self._client = client
        client.meta.events.register_first(
            BATCH_WRITE_EVENT, _use_encoded_body, unique_id=_HANDLER_ID
        )
        self._table = table_name
        self._job_id = job_id
        self._concurrency = max(1, concurrency)
        self._sleep = sleep
        self._pool = ThreadPoolExecutor(
            max_workers=self._concurrency, thread_name_prefix="batch-writer"
        )
        self._in_flight: set[Future[int]] = set()
        self._batch: list[dict[str, Any]] = []
        self._keys: set[tuple[str | None, ...]] = set()
        self._item = shape.item_function(job_id)
        self._key_width = shape.key_width
        self.written = 0
        self.calls = 0

    def add(self, row: Row) -> None:
        key = row[: self._key_width]
        if key in self._keys:
            # DynamoDB rejects a batch that names one key twice; the parser already drops
            # repeats, this only guards against a fingerprint collision.
            self._submit()
        self._keys.add(key)
        self._batch.append({"PutRequest": {"Item": self._item(row)}})
        if len(self._batch) >= BATCH_SIZE:
            self._submit()

    def _submit(self) -> None:
        if not self._batch:
            return
        batch, self._batch, self._keys = self._batch, [], set()
        while len(self._in_flight) >= self._concurrency * 2:
            self._collect(wait(self._in_flight, return_when=FIRST_COMPLETED).done)
        self._in_flight.add(self._pool.submit(self._write, batch))

    def _collect(self, done: set[Future[int]]) -> None:
        for future in done:
            self._in_flight.discard(future)
            self.written += future.result()

    def _write(self, requests: list[dict[str, Any]]) -> int:
        count = len(requests)
        pending: Any = {self._table: requests}
        for attempt in range(MAX_ATTEMPTS):
            self.calls += 1
            response = self._send(pending)
            pending = response.get("UnprocessedItems") or {}
            if not pending.get(self._table):
                return count
            self._sleep(backoff_delay(attempt))
        left = len(pending.get(self._table, []))
        raise WriteError(f"{left} of {count} items still unprocessed after {MAX_ATTEMPTS} attempts")

    def _send(self, request_items: dict[str, Any]) -> Any:
        _encoded.body = encode_request(request_items)
        try:
            return self._client.batch_write_item(RequestItems={self._table: _STAND_IN})
        finally:
            # Cleared even when a handler answered the call before ours ran.
            _encoded.body = None

    def flush(self) -> int:
        """Send what is buffered and wait for every call; raises the first failure."""
        self._submit()
        while self._in_flight:
            self._collect(wait(self._in_flight, return_when=FIRST_COMPLETED).done)
        return self.written

    def close(self) -> None:
        """Stop without sending the buffer (after a failure); waits for calls in flight."""
        self._batch, self._keys = [], set()
        for future in self._in_flight:
            future.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._in_flight.clear()
