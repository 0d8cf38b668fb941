"""tests/unit starts no jsii: none of its modules imports aws_cdk, directly or through
financial_pipeline or infra, so the tier runs in seconds without Node."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

UNIT = Path(__file__).resolve().parent
REPO = UNIT.parents[1]


def test_no_unit_test_module_imports_aws_cdk_or_jsii() -> None:
    # Given every module of tests/unit, imported in a fresh interpreter
    modules = sorted(p.stem for p in UNIT.glob("test_*.py"))
    assert "test_contract" in modules
    script = (
        "import importlib, sys\n"
        f"sys.path[:0] = [{str(REPO)!r}, {str(UNIT)!r}]\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(n for n in ('aws_cdk', 'jsii') if n in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    # Then neither aws_cdk nor jsii was loaded
    assert result.stdout.strip() == "[]", result.stderr
