"""Importing a runtime test module synthesizes nothing: the stack's names are read on first
use, inside a test (collection stays fast, and a failed synthesis fails tests, not collection)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

CHILD = r"""
import importlib, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import local.synth

def refuse(*args, **kwargs):
    raise AssertionError("synthesized at import")

local.synth.synthesize_cached = refuse
for name in sys.argv[3:]:
    importlib.import_module(name)
print("imported", len(sys.argv) - 3)
"""


def test_every_runtime_test_module_imports_without_synthesizing() -> None:
    modules = sorted(p.stem for p in HERE.glob("*.py") if p.stem != "__init__")
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT), str(HERE), *modules],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.strip() == f"imported {len(modules)}"


def test_the_check_would_see_a_synthesis_at_import(tmp_path: Path) -> None:
    # Given a module that reads the template when imported
    (tmp_path / "eager.py").write_text(
        "from local.synth import synthesize_cached\nREGION = synthesize_cached('dev').region\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT), str(tmp_path), "eager"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    # Then the import fails, naming why
    assert completed.returncode != 0
    assert "synthesized at import" in completed.stderr
