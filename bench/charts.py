"""The benchmark's pictures (PNG, matplotlib): rows/s against parts, and peak memory against
file size. ``make bench`` draws them into ``docs/bench/`` and BENCHMARKS.md shows them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")  # no display: files only; before pyplot is imported

import matplotlib.pyplot as plt

__all__ = ["memory_chart", "rows_per_second_chart", "rules_chart"]

_RSS_TARGET_MB = 256


def _save(figure: Any, axes: Any, out: Path) -> Path:
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=7, loc="best")
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    plt.close(figure)
    return out


def _label(row: dict[str, Any]) -> str:
    rows = row["data_rows"]
    size = f"{rows / 1e6:g}M" if rows >= 1_000_000 else f"{rows // 1000}k"
    return f"{size} rows, {row['symbols']} symbol{'s' * (row['symbols'] > 1)}"


def rows_per_second_chart(section: list[dict[str, Any]], out: Path) -> Path:
    """Split rows/s against parts, one line per file; its single pass as a dashed line."""
    figure, axes = plt.subplots(figsize=(7.5, 4.5), dpi=110)
    files = list(dict.fromkeys(row["file"] for row in section))
    for index, file in enumerate(files):
        color = f"C{index}"
        rows = [r for r in section if r["file"] == file and "error" not in r]
        splits = sorted((r for r in rows if r["path"] == "split"), key=lambda r: r["parts"])
        if not rows:
            continue
        label = _label(rows[0])
        if splits:
            axes.plot(
                [r["parts"] for r in splits],
                [r["rows_per_second"] for r in splits],
                marker="o",
                color=color,
                label=f"{label}: split",
            )
        for single in (r for r in rows if r["path"] == "single pass"):
            axes.axhline(
                single["rows_per_second"],
                color=color,
                linestyle="--",
                linewidth=1,
                label=f"{label}: single pass",
            )
    parts = sorted({r["parts"] for r in section if r["path"] == "split"})
    axes.set_xscale("log", base=2)
    axes.set_xticks(parts or [1], [str(p) for p in parts] or ["1"])
    axes.set_xlabel("parts (invocations at once in each map)")
    axes.set_ylabel("rows/s (data rows / handler time)")
    axes.set_ylim(bottom=0, top=axes.get_ylim()[1] * 1.15)  # room above the top line
    axes.set_title("Split path against the single pass (10 ms sink, 2 cores)")
    return _save(figure, axes, out)


def memory_chart(
    section: list[dict[str, Any]], out: Path, single_pass: list[dict[str, Any]] | None = None
) -> Path:
    """Peak RSS against file size: the single pass, and the split's largest worker per step.

    `single_pass` adds the suite's memory runs (file size in MB, peak RSS) to the single pass's
    points."""
    figure, axes = plt.subplots(figsize=(7.5, 4.5), dpi=110)
    points: dict[str, list[tuple[float, float]]] = {}
    for row in section:
        if "error" in row:
            continue
        size = row["bytes"] / 1e6
        if row["path"] == "single pass":
            points.setdefault("single pass", []).append((size, row["max_rss_mb"]))
            continue
        for step, phase in row["phases"].items():
            points.setdefault(f"split: {step}", []).append((size, phase["max_rss_mb"]))
    for row in single_pass or []:
        if "max_rss_mb" in row and "bytes" in row:
            points.setdefault("single pass", []).append((row["bytes"] / 1e6, row["max_rss_mb"]))
    for index, (name, found) in enumerate(sorted(points.items())):
        by_size: dict[float, float] = {}
        for size, rss in found:
            by_size[size] = max(rss, by_size.get(size, 0.0))
        sizes = sorted(by_size)
        axes.plot(
            sizes,
            [by_size[s] for s in sizes],
            marker="o",
            color=f"C{index}",
            linestyle="--" if name == "single pass" else "-",
            label=name,
        )
    axes.axhline(_RSS_TARGET_MB, color="red", linewidth=1, label=f"target {_RSS_TARGET_MB} MB")
    axes.set_xscale("log")
    axes.set_xlabel("file size (MB)")
    axes.set_ylabel("peak RSS of one invocation (MB)")
    axes.set_ylim(bottom=0, top=max(300, axes.get_ylim()[1]))
    axes.set_title("Peak memory per invocation against file size")
    return _save(figure, axes, out)


def rules_chart(results: dict[str, Any], out: Path) -> Path:
    """CPU per row: the trades rules before and after (bars), and a schema's cost against its
    number of fields (a line)."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 4), dpi=110)
    trades = [r for r in results["trades"] if "error" not in r]
    left.bar(
        [r["name"].replace(", ", ",\n") for r in trades],
        [r["us_per_row"] for r in trades],
        color=["C7", "C0"][: len(trades)],
    )
    for index, row in enumerate(trades):
        left.annotate(
            f"{row['us_per_row']:.2f}", (index, row["us_per_row"]), ha="center", va="bottom"
        )
    left.set_ylabel("µs per row (best run)")
    left.set_title(f"Trades, {results['rows']:,} rows", fontsize=9)
    left.grid(True, axis="y", alpha=0.3)
    wide = [r for r in results["wide"] if "error" not in r]
    right.plot(
        [r["fields"] for r in wide],
        [r["us_per_row"] for r in wide],
        marker="o",
        label="compiled schema",
    )
    right.set_xlabel("fields per row")
    right.set_ylabel("µs per row (best run)")
    right.set_title("Cost against a schema's fields", fontsize=9)
    right.set_xticks([r["fields"] for r in wide])
    return _save(figure, right, out)
