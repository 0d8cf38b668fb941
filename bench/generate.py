"""Deterministic market-file generator.

Rows are trade-like: a per-symbol random walk of prices written as exact decimal text, integer
volumes and ISO 8601 timestamps in the mixed forms the CSV rules accept (``Z``, offsets, naive,
with and without fractions). Every row is its own instant (one second apart plus a few
milliseconds), so no two good rows share a (symbol, timestamp) key. A given share of rows is
replaced by a bad row whose reason is known. The file is written in chunks: memory does not
grow with the row count.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

__all__ = ["BAD_KINDS", "HEADER", "FileStats", "generate", "lines", "make_rows", "render_csv"]

HEADER = "symbol,price,volume,timestamp\n"
_EPOCH = datetime(2024, 1, 2, 9, 30, tzinfo=UTC)
_PLUS_TWO = timezone(timedelta(hours=2))
_MINUS_FIVE = timezone(timedelta(hours=-5))
_CHUNK_ROWS = 5_000

# Each bad row breaks exactly one CSV rule.
BAD_KINDS = (
    "negative_price",
    "price_not_a_number",
    "bad_timestamp",
    "formula_symbol",
    "short_row",
    "fractional_volume",
)


@dataclass
class FileStats:
    rows: int = 0
    good: int = 0
    bad: int = 0
    bytes: int = 0
    bad_kinds: dict[str, int] = field(default_factory=dict)


def _symbols(count: int, rnd: random.Random) -> list[str]:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    names: set[str] = set()
    while len(names) < count:
        names.add("".join(rnd.choice(letters) for _ in range(rnd.randint(2, 5))))
    return sorted(names)


def _timestamp(index: int, form: int) -> str:
    instant = _EPOCH + timedelta(seconds=index, milliseconds=(index * 7919) % 1000)
    match form:
        case 0:
            return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"
        case 1:
            return instant.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        case 2:
            return instant.astimezone(_PLUS_TWO).isoformat(timespec="milliseconds")
        case 3:
            return instant.astimezone(_MINUS_FIVE).isoformat(timespec="microseconds")
        case _:
            return instant.replace(tzinfo=None).isoformat(timespec="milliseconds")


def lines(
    count: int, symbols: int = 50, bad_share: float = 0.0, seed: int = 42
) -> tuple[FileStats, list[str]]:
    """The lines of a small file, header first (for tests; big files go through generate)."""
    stats = FileStats()
    out = [HEADER]
    for chunk in _iter_chunks(count, None, symbols, bad_share, seed, stats):
        out.extend(chunk.splitlines(keepends=True))
    return stats, out


def _iter_chunks(
    count: int | None,
    target_bytes: int | None,
    symbol_count: int,
    bad_share: float,
    seed: int,
    stats: FileStats,
) -> Iterator[str]:
    rnd = random.Random(seed)
    names = _symbols(symbol_count, rnd)
    ticks = {name: rnd.randint(5_0000, 900_0000) for name in names}
    written = len(HEADER)
    index = 0
    while True:
        lines: list[str] = []
        for _ in range(_CHUNK_ROWS):
            if count is not None and index >= count:
                break
            if target_bytes is not None and written >= target_bytes:
                break
            name = names[rnd.randrange(symbol_count)]
            step = rnd.randint(-25, 25)
            ticks[name] = max(1, ticks[name] + step)
            tick = ticks[name]
            price = f"{tick // 10000}.{tick % 10000:04d}"
            volume = str(rnd.randint(1, 50) * 100)
            stamp = _timestamp(index, index % 5)
            if bad_share and rnd.random() < bad_share:
                kind = BAD_KINDS[rnd.randrange(len(BAD_KINDS))]
                line = _bad_line(kind, name, price, volume, stamp)
                stats.bad += 1
                stats.bad_kinds[kind] = stats.bad_kinds.get(kind, 0) + 1
            else:
                line = f"{name},{price},{volume},{stamp}\n"
                stats.good += 1
            lines.append(line)
            written += len(line)
            index += 1
        if not lines:
            break
        chunk = "".join(lines)
        stats.rows = index
        stats.bytes = written
        yield chunk


def _bad_line(kind: str, name: str, price: str, volume: str, stamp: str) -> str:
    match kind:
        case "negative_price":
            return f"{name},-{price},{volume},{stamp}\n"
        case "price_not_a_number":
            return f"{name},n/a,{volume},{stamp}\n"
        case "bad_timestamp":
            return f"{name},{price},{volume},2024-13-45T25:61:00Z\n"
        case "formula_symbol":
            return f"=HYPERLINK(1),{price},{volume},{stamp}\n"
        case "short_row":
            return f"{name},{price},{volume}\n"
        case _:
            return f"{name},{price},{volume}.5,{stamp}\n"


def generate(
    path: Path,
    *,
    rows: int | None = None,
    size_bytes: int | None = None,
    symbols: int = 50,
    bad_share: float = 0.0,
    seed: int = 42,
) -> FileStats:
    """Write a file of ``rows`` data rows (or of about ``size_bytes``), streaming."""
    if rows is None and size_bytes is None:
        raise ValueError("give rows or size_bytes")
    stats = FileStats()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="ascii", newline="") as out:
        out.write(HEADER)
        for chunk in _iter_chunks(rows, size_bytes, symbols, bad_share, seed, stats):
            out.write(chunk)
    tmp.replace(path)
    stats.bytes = path.stat().st_size
    return stats


def make_rows(symbol: str, count: int) -> list[tuple[str, Decimal, int, str]]:
    """Rows of one symbol with exact, varied prices and canonical timestamps 1 ms apart."""
    rows = []
    for i in range(count):
        price = Decimal(f"{100 + i % 97}.{(i * 7919) % 1000000:06d}")
        seconds, millis = divmod(i, 1000)
        minutes, seconds = divmod(seconds, 60)
        timestamp = f"2024-03-01T10:{minutes:02d}:{seconds:02d}.{millis * 1000:06d}Z"
        rows.append((symbol, price, i * 3, timestamp))
    return rows


def render_csv(
    rows: list[tuple[Any, ...]], header: tuple[str, ...] = (), *, line_terminator: str = "\n"
) -> bytes:
    """A CSV file of ``rows`` (RFC 4180 quoting) under ``header`` (default: the four columns)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=line_terminator)
    writer.writerow(header or ("symbol", "price", "volume", "timestamp"))
    writer.writerows(rows)
    return buffer.getvalue().encode()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__)
    parser.add_argument("path", type=Path)
    parser.add_argument("--rows", type=int)
    parser.add_argument("--size-mb", type=float, help="about this many MB instead of --rows")
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--bad-share", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    size = int(args.size_mb * 1_000_000) if args.size_mb else None
    stats = generate(
        args.path,
        rows=args.rows,
        size_bytes=size,
        symbols=args.symbols,
        bad_share=args.bad_share,
        seed=args.seed,
    )
    print(f"{args.path}: {stats.rows} rows ({stats.good} good, {stats.bad} bad), {stats.bytes} B")


if __name__ == "__main__":
    main()
