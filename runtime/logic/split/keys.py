"""Rows per symbol (the results table's partition key) of one part, for the write budget (R23).

DynamoDB writes one partition key at most 1,000 times a second, whatever the parallelism, so the
rows of the file's hottest symbol bound how long its writes take. A part counts its routed rows
per symbol and reports its most frequent symbols in its summary (`symbolRows`); the `CheckKeys`
step sums them over the parts before anything is written (`runtime.logic.split.finish`).

The counts are lower bounds, never more than the truth: memory is bounded by `max_keys`
counters, and when a part holds more distinct symbols the least frequent are dropped (one seen
again restarts at zero). The counters kept are the largest, so a symbol with a large share of the
part keeps nearly all its rows; and a sum of lower bounds refuses a file only if it truly is
too hot.
"""

from __future__ import annotations

import heapq
from typing import Final

MAX_COUNTED_KEYS: Final = 50_000
"""Counters a part holds (~5 MB); past it the smallest are dropped down to `KEPT_KEYS`."""
KEPT_KEYS: Final = 5_000
TOP_KEYS: Final = 100
"""Symbols a part reports: any symbol left out has fewer than 1/100 of the part's rows."""


class KeyCounts:
    """Rows per symbol within a bounded number of counters (lower bounds)."""

    __slots__ = ("_counts", "_max")

    def __init__(self, max_keys: int = MAX_COUNTED_KEYS) -> None:
        self._counts: dict[str, int] = {}
        self._max = max_keys

    def add(self, symbol: str) -> None:
        counts = self._counts
        counts[symbol] = counts.get(symbol, 0) + 1
        if len(counts) > self._max:
            self._prune()

    def _prune(self) -> None:
        kept = heapq.nlargest(min(KEPT_KEYS, self._max), self._counts.items(), key=_count)
        self._counts = dict(kept)

    def top(self, count: int = TOP_KEYS) -> dict[str, int]:
        """The `count` most frequent symbols and their rows, most frequent first."""
        return dict(heapq.nlargest(count, self._counts.items(), key=_count))


def _count(item: tuple[str, int]) -> int:
    return item[1]
