"""The sweeper's cold start: its handler imports no part of the processor."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROCESSOR_ONLY = (
    "runtime.logic.processor",
    "runtime.logic.csv_rules",
    "runtime.logic.csv_parser",
    "runtime.logic.dedup",
    "runtime.dal.results_writer",
    "runtime.dal.report",
    "runtime.handlers.processor",
)
CHILD = """
import json, sys
import runtime.handlers.sweeper
print(json.dumps(sorted(name for name in sys.modules if name.startswith("runtime."))))
"""


def test_sweeper_handler_does_not_import_the_processor_parser_dedup_or_writer():
    # Given a fresh interpreter, as a Lambda cold start
    # When only the sweeper's handler is imported
    child = subprocess.run(
        [sys.executable, "-c", CHILD],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    loaded = set(json.loads(child.stdout.splitlines()[-1]))
    # Then none of the processor's modules was loaded
    assert "runtime.logic.sweeper" in loaded
    assert loaded.isdisjoint(PROCESSOR_ONLY), sorted(loaded & set(PROCESSOR_ONLY))
