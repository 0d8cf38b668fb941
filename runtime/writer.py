"""Results-table writer: BatchWriteItem batches of at most 25 distinct keys, several in flight.

botocore's retry mode already retries throttled or failed calls; what it does not retry are
`UnprocessedItems` inside a successful answer. Those are resent here with exponential backoff
and full jitter, a bounded number of times, then `WriteError` is raised so the invocation fails
and Lambda retries the event (every put is idempotent: same key, same item).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from runtime.csv_rules import Row
from runtime.errors import WriteError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

BATCH_SIZE = 25
MAX_ATTEMPTS = 8
BASE_DELAY_SECONDS = 0.05
MAX_DELAY_SECONDS = 5.0


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
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._table = table_name
        self._job_id = job_id
        self._concurrency = max(1, concurrency)
        self._sleep = sleep
        self._pool = ThreadPoolExecutor(
            max_workers=self._concurrency, thread_name_prefix="batch-writer"
        )
        self._in_flight: set[Future[int]] = set()
        self._batch: list[dict[str, Any]] = []
        self._keys: set[tuple[str, str]] = set()
        self.written = 0
        self.calls = 0

    def add(self, row: Row) -> None:
        symbol, timestamp, price, volume = row
        key = (symbol, timestamp)
        if key in self._keys:
            # DynamoDB rejects a batch that names one key twice; the parser already drops
            # repeats, this only guards against a fingerprint collision.
            self._submit()
        self._keys.add(key)
        self._batch.append(
            {
                "PutRequest": {
                    "Item": {
                        "symbol": {"S": symbol},
                        "timestamp": {"S": timestamp},
                        "price": {"N": price},
                        "volume": {"N": volume},
                        "jobId": {"S": self._job_id},
                    }
                }
            }
        )
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
            response = self._client.batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if not pending.get(self._table):
                return count
            self._sleep(backoff_delay(attempt))
        left = len(pending.get(self._table, []))
        raise WriteError(f"{left} of {count} items still unprocessed after {MAX_ATTEMPTS} attempts")

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
