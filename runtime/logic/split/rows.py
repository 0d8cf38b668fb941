"""The intermediate formats under `split/{jobId}/` (no AWS here).

- routed rows, one object per (partition, part): CSV lines `line, symbol, timestamp, price,
  volume, cells...`, every field quoted (`row_writer`, `read_rows`: the C csv module writes and
  reads them), so every cell survives as it was read, quotes, CR, LF and NUL included, whatever
  the Python version;
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
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from _csv import Writer


def partition_of(symbol: str, timestamp: str, partitions: int) -> int:
    if partitions == 1:
        return 0
    return zlib.crc32(f"{symbol}|{timestamp}".encode()) % partitions


def row_writer(out: TextIO) -> Writer:
    """The writer of routed rows into `out`.

    Every field is quoted. With minimal quoting, which characters make the C writer quote a
    field depends on the version: 3.11 and 3.12 leave a bare CR unquoted (3.13+ quote it), and
    `read_rows` then splits the row there, so a cell read from a quoted field of the file could
    not come back. A quoted field holds any text (`"` doubled) on every version.
    """
    return csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)


def read_rows(data: bytes) -> Iterator[list[str]]:
    """The routed rows of one object, as `row_writer` wrote them."""
    return csv.reader(io.StringIO(data.decode("utf-8"), newline=""), strict=True)


def fragment_line(line: int, reason: str, cells: list[str]) -> str:
    return json.dumps([line, reason, cells], ensure_ascii=False, separators=(",", ":")) + "\n"


def read_fragment(lines: Iterable[bytes | str]) -> Iterator[tuple[int, str, list[str]]]:
    """The entries of a fragment given as its lines (bytes or text, with or without newline)."""
    for raw in lines:
        if raw.strip():
            line, reason, cells = json.loads(raw)
            yield int(line), str(reason), [str(cell) for cell in cells]
