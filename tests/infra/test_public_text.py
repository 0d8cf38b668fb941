"""Requirement ids (R1...) belong to the tests and docs/ARCHITECTURE.md: none in what is
deployed (templates, the OpenAPI document) or in the library's docstrings."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from tests.infra.conftest import ENVIRONMENTS, REPO, Synthesized

# A requirement id, but not the revision of a compliance pack ("NIST.800.53.R5", "800-53 R5").
REQUIREMENT_ID = re.compile(r"(?<!800\.53\.)(?<!800-53 )\bR\d{1,2}\b")


def _ids(text: str) -> list[str]:
    return [text[max(0, m.start() - 40) : m.end() + 10] for m in REQUIREMENT_ID.finditer(text)]


def test_the_pattern_finds_an_id_and_spares_a_pack_revision() -> None:
    assert _ids("read requests throttled (R18)")
    assert _ids("R26: the hardened profile")
    assert not _ids("NIST.800.53.R5-LambdaDLQ and NIST 800-53 R5, R2D2, ROW1")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_requirement_id_in_a_deployed_template(synthesized: Synthesized, env: str) -> None:
    assert _ids(json.dumps(synthesized.templates[env])) == []


def test_no_requirement_id_in_the_openapi_document() -> None:
    assert _ids((REPO / "docs" / "openapi.json").read_text()) == []


def _docstrings(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    nodes = [tree, *ast.walk(tree)]
    found = []
    for node in nodes:
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node)
            if doc:
                found.append((getattr(node, "lineno", 1), doc))
    return found


@pytest.mark.parametrize(
    "path",
    # The library, and the contract it loads from the runtime and re-exports.
    [*sorted((REPO / "financial_pipeline").glob("*.py")), REPO / "runtime" / "contract.py"],
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_no_requirement_id_in_a_library_docstring(path: Path) -> None:
    found = [(line, hit) for line, doc in _docstrings(path) for hit in _ids(doc)]
    assert found == []
