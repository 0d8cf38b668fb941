"""Plain-text output: aligned tables and a progress bar, with no dependency."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TextIO

_WIDTH = 30


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    line = "  ".join("-" * w for w in widths)
    render = [
        "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()
        for cells in (header, *rows)
    ]
    return "\n".join([render[0], line, *render[1:]])


def _human(count: int, unit: str) -> str:
    if unit != "bytes":
        return f"{count:,} {unit}"
    size = float(count)
    for suffix in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or suffix == "GiB":
            return f"{size:.0f} {suffix}" if suffix == "B" else f"{size:.1f} {suffix}"
        size /= 1024
    return f"{count} B"  # pragma: no cover


class ProgressBar:
    """``label [#######.......]  42% 1.2 MiB/2.9 MiB status``, redrawn in place on a terminal
    and printed once at the end elsewhere."""

    def __init__(self, label: str, stream: TextIO, *, unit: str) -> None:
        self.label = label
        self.stream = stream
        self.unit = unit
        self._interactive = stream.isatty()
        self._last_draw = 0.0
        self._text = ""

    def update(self, done: int, total: int, note: str = "") -> None:
        fraction = 1.0 if total <= 0 else min(done / total, 1.0)
        filled = int(fraction * _WIDTH)
        self._text = (
            f"{self.label:<8}[{'#' * filled}{'.' * (_WIDTH - filled)}] {fraction:4.0%} "
            f"{_human(done, self.unit)}/{_human(total, self.unit)} {note}"
        ).rstrip()
        now = time.monotonic()
        if self._interactive and (now - self._last_draw > 0.1 or fraction >= 1.0):
            self.stream.write("\r" + self._text + "\x1b[K")
            self.stream.flush()
            self._last_draw = now

    def finish(self) -> None:
        if self._interactive:
            self.stream.write("\n")
        elif self._text:
            self.stream.write(self._text + "\n")
        self.stream.flush()
