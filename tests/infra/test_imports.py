"""The construct library has no import cycle, and the app's modules stay outside it."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

from .conftest import REPO

PACKAGES = ("financial_pipeline", "infra")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str) -> set[str]:
    """Every module of PACKAGES that ``module`` imports, at any depth of its code."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1], base]
                )
            # `from pkg import mod` imports the submodule when there is one.
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        found.update(n for n in names if n.split(".")[0] in PACKAGES)
    return found


def _graph() -> dict[str, set[str]]:
    files = {
        _module_name(path): path for package in PACKAGES for path in (REPO / package).rglob("*.py")
    }
    return {
        module: {
            target for target in _imports(path, module) if target in files and target != module
        }
        for module, path in files.items()
    }


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """The first import cycle found by a depth-first walk, or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return [*stack[stack.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_no_import_cycle_in_the_library_or_the_app() -> None:
    # Given every import between the modules of financial_pipeline and infra
    graph = _graph()
    assert "financial_pipeline.nag" in graph and "financial_pipeline.pipeline" in graph
    # When walked / Then no module depends on itself
    assert _cycle(graph) is None


def test_fails_to_pass_a_cycle_unnoticed() -> None:
    # Given a graph where nag imports pipeline back (the layout issue 8 removed)
    graph = {
        "financial_pipeline": set(),
        "financial_pipeline.nag": {"financial_pipeline.pipeline"},
        "financial_pipeline.pipeline": {"financial_pipeline.nag"},
    }
    # Then the walk reports it
    assert _cycle(graph) == [
        "financial_pipeline.nag",
        "financial_pipeline.pipeline",
        "financial_pipeline.nag",
    ]


def test_no_library_module_imports_the_app() -> None:
    # Given the library's imports / Then none reaches infra/ (the wheel does not ship it)
    graph = _graph()
    for module, targets in graph.items():
        if module.split(".")[0] == "financial_pipeline":
            assert not any(t.split(".")[0] == "infra" for t in targets), module


def test_the_wheel_ships_the_library_but_not_the_app() -> None:
    # Given the packages pyproject.toml builds / Then infra is not one of them
    packages = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]
    assert "financial_pipeline" in packages
    assert not any(p.split(".")[0] == "infra" for p in packages)


# What the fpipe client may import: it ships in the wheel's `cli` extra (requests and
# botocore) and never with the Lambda code, the local run or the construct library.
_FPIPE_THIRD_PARTY = {"requests", "botocore", "mypy_boto3_sqs"}


def _top_level_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_fpipe_imports_only_the_standard_library_and_its_extra() -> None:
    # Given every import of the fpipe package (its own modules aside)
    imported = {
        name
        for path in (REPO / "fpipe").rglob("*.py")
        for name in _top_level_imports(path)
        if name not in ("fpipe", "__future__")
    }
    # Then each is the standard library or a dependency of the `cli` extra: in particular the
    # row count of `fpipe upload` is fpipe's own, not the runtime's parser
    outside = sorted(
        name for name in imported - _FPIPE_THIRD_PARTY if name not in sys.stdlib_module_names
    )
    assert outside == []
    assert {"runtime", "local", "financial_pipeline", "boto3"}.isdisjoint(imported)
