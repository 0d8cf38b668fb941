"""The parts' rows per symbol (R23, the write budget): lower bounds within bounded counters."""

from __future__ import annotations

from collections import Counter

from runtime.logic.split.keys import KeyCounts


def test_r23_counts_are_exact_within_the_counters() -> None:
    counts = KeyCounts(max_keys=10)
    for symbol in ["A"] * 5 + ["B"] * 3 + ["C"]:
        counts.add(symbol)
    assert counts.top(2) == {"A": 5, "B": 3}


def test_r23_past_the_counters_the_hot_symbol_keeps_its_rows_and_none_is_overcounted() -> None:
    # Given a part with one hot symbol among far more distinct symbols than counters
    counts = KeyCounts(max_keys=100)
    truth: Counter[str] = Counter()
    for i in range(20_000):
        symbol = "HOT" if i % 3 == 0 else f"S{i}"
        counts.add(symbol)
        truth[symbol] += 1
    top = counts.top(5)
    # Then the hot symbol is first with every one of its rows, and no count exceeds the truth
    assert next(iter(top)) == "HOT"
    assert top["HOT"] == truth["HOT"]
    assert all(rows <= truth[symbol] for symbol, rows in top.items())
    assert len(counts._counts) <= 100
