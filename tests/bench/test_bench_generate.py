"""The market-file generator: deterministic by seed, streaming, and honest about bad rows."""

from __future__ import annotations

import hashlib
from pathlib import Path

from bench import generate
from runtime.logic.csv_rules import parse_bytes


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_gives_the_same_file(tmp_path: Path) -> None:
    # Given two files generated with the same parameters and seed
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    stats_a = generate.generate(first, rows=3_000, symbols=7, bad_share=0.05, seed=7)
    stats_b = generate.generate(second, rows=3_000, symbols=7, bad_share=0.05, seed=7)

    # Then they are byte for byte the same, with the same counts
    assert _digest(first) == _digest(second)
    assert stats_a == stats_b


def test_another_seed_gives_another_file(tmp_path: Path) -> None:
    # Given two files that differ only by seed
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    generate.generate(first, rows=500, seed=1)
    generate.generate(second, rows=500, seed=2)

    # Then their contents differ
    assert _digest(first) != _digest(second)


def test_rows_symbols_and_bad_rows_are_as_asked(tmp_path: Path) -> None:
    # Given a file of 5,000 rows over 12 symbols with 10% bad rows
    path = tmp_path / "f.csv"
    stats = generate.generate(path, rows=5_000, symbols=12, bad_share=0.1, seed=3)

    # When the processor's own CSV rules parse it
    parser, rows, rejections = parse_bytes(path.read_bytes())

    # Then every good row is accepted, every bad row rejected, and no key repeats
    assert stats.rows == 5_000
    assert stats.good + stats.bad == 5_000
    assert 350 < stats.bad < 650
    assert set(stats.bad_kinds) == set(generate.BAD_KINDS)
    assert parser.accepted == stats.good == len(rows)
    assert parser.rejected == stats.bad == len(rejections)
    assert parser.duplicates == 0
    assert len({row[0] for row in rows}) == 12


def test_timestamps_come_in_mixed_iso_forms() -> None:
    # Given the lines of a small clean file
    _, lines = generate.lines(50, symbols=3)

    # Then zulu, offset and naive forms all appear
    stamps = [line.rstrip("\n").split(",")[3] for line in lines[1:]]
    assert any(stamp.endswith("Z") for stamp in stamps)
    assert any(stamp.endswith("+02:00") for stamp in stamps)
    assert any(stamp.endswith("-05:00") for stamp in stamps)
    assert any(stamp[-1].isdigit() and "+" not in stamp for stamp in stamps)


def test_size_target_is_met_within_one_row(tmp_path: Path) -> None:
    # Given a file asked for by size rather than by row count
    path = tmp_path / "sized.csv"
    stats = generate.generate(path, size_bytes=200_000, seed=5)

    # Then it is at least that big and at most one line bigger
    size = path.stat().st_size
    assert stats.bytes == size
    assert 200_000 <= size < 200_000 + 100
