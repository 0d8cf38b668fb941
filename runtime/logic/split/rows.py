"""The intermediate formats under `split/{jobId}/` (no AWS here).

- routed rows, one object per (partition, part): CSV lines `line, symbol, timestamp, price,
  volume, cells...` (the C csv module writes and reads them; cells with quotes or newlines
  survive as they are);
- report fragments (a part's rejected rows, a partition's conflicting repeats): JSON lines
  `[line, reason, cells]`, in line order, so the finalizer can merge them by line.

The partition of a key is `crc32(symbol|timestamp) % partitions`: it must agree across
processes, which Python's per-process `hash` does not.
"""

from __future__ import annotations

import csv
import io
import json
import zlib
from collections.abc import Iterator


def partition_of(symbol: str, timestamp: str, partitions: int) -> int:
    if partitions == 1:
        return 0
    return zlib.crc32(f"{symbol}|{timestamp}".encode()) % partitions


def read_rows(data: bytes) -> Iterator[list[str]]:
    """The routed rows of one object."""
    return csv.reader(io.StringIO(data.decode("utf-8"), newline=""), strict=True)


def fragment_line(line: int, reason: str, cells: list[str]) -> str:
    return json.dumps([line, reason, cells], ensure_ascii=False, separators=(",", ":")) + "\n"


def read_fragment(lines: Iterator[bytes]) -> Iterator[tuple[int, str, list[str]]]:
    for raw in lines:
        if raw.strip():
            line, reason, cells = json.loads(raw)
            yield int(line), str(reason), [str(cell) for cell in cells]
