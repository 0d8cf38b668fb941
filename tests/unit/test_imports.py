"""No import cycle in any package of the checkout, and every import keeps to the table "Where
things live, and what may import what" of docs/ARCHITECTURE.md (`RULES` below is that table as
data). Imports are read from the source's syntax trees: nothing here imports the code it checks."""

from __future__ import annotations

import ast
import sys
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("financial_pipeline", "infra", "runtime", "local", "fpipe", "bench")
# Top-level modules of the checkout beside the packages.
MODULES = ("app",)
_EVERYTHING_ELSE = ("financial_pipeline", "infra", "app", "local", "bench", "fpipe", "tests")
# The jobs table's modules of each path that changes a job (runtime/dal/jobs/).
_JOB_PATHS = (
    "runtime.dal.jobs.single_pass",
    "runtime.dal.jobs.split",
    "runtime.dal.jobs.sweeper",
    "runtime.dal.jobs.outbox",
)


@dataclass(frozen=True)
class Rule:
    """What the modules ``importers`` name may import, besides the standard library.

    A pattern names a module and everything under it (``runtime.dal`` is also
    ``runtime.dal.jobs``), with ``*`` as in fnmatch. ``allowed`` (when given) lists all a module
    may import; ``forbidden`` what it may never import, whatever ``allowed`` says.
    """

    importers: tuple[str, ...]
    why: str
    allowed: tuple[str, ...] | None = None
    forbidden: tuple[str, ...] = ()


RULES = (
    Rule(
        ("financial_pipeline",),
        "the construct library ships alone in the wheel: the CDK, its own modules, and the "
        "runtime's contract and schema compiler it loads from the code it ships",
        allowed=(
            "financial_pipeline",
            "aws_cdk",
            "constructs",
            "jsii",
            "cdk_nag",
            "runtime.contract",
            "runtime.logic.schema",
        ),
    ),
    Rule(
        ("infra",),
        "the app's own code composes the library",
        allowed=("infra", "financial_pipeline", "aws_cdk", "constructs", "jsii"),
    ),
    Rule(
        ("app",),
        "one stack per environment from infra and the library's nag wiring",
        allowed=("infra", "financial_pipeline.nag", "aws_cdk"),
    ),
    Rule(
        ("runtime",),
        "the Lambda code is deployed alone: no CDK, nothing of the checkout beside it",
        forbidden=("aws_cdk", "constructs", "jsii", "cdk_nag", *_EVERYTHING_ELSE),
    ),
    Rule(
        ("runtime.logic",),
        "logic is called by handlers, never the other way round, and knows no CDK",
        forbidden=("aws_cdk", "runtime.handlers"),
    ),
    Rule(
        ("runtime.dal",),
        "data access knows boto3, the contract and the errors, nothing the logic decides",
        allowed=(
            "runtime.dal",
            "runtime.contract",
            "runtime.errors",
            "boto3",
            "botocore",
            "mypy_boto3_*",
        ),
    ),
    Rule(
        ("runtime.logic.csv_parser",),
        "the parser takes the field rules it is given, so that other rules need no change to it",
        forbidden=("runtime.logic.csv_rules",),
    ),
    Rule(
        _JOB_PATHS,
        "each path's state changes of a job stand on the shared table and record alone",
        forbidden=_JOB_PATHS,
    ),
    Rule(
        ("runtime.dal.jobs.record", "runtime.dal.jobs.table"),
        "the job record and the table's writes are what every path shares, and know none",
        forbidden=_JOB_PATHS,
    ),
    Rule(
        (
            "runtime.clients",
            "runtime.errors",
            "runtime.http",
            "runtime.observability",
            "runtime.settings",
        ),
        "the shared plumbing: the standard library, Powertools, boto3 and each other",
        allowed=(
            "runtime.clients",
            "runtime.contract",
            "runtime.errors",
            "runtime.http",
            "runtime.observability",
            "runtime.settings",
            "aws_lambda_powertools",
            "boto3",
            "botocore",
            "mypy_boto3_*",
        ),
    ),
    Rule(
        ("runtime.contract",),
        "the contract is loaded outside the runtime package too: the standard library only",
        allowed=(),
    ),
    Rule(
        ("runtime.logic.schema",),
        "the schema compiler is loaded outside the runtime package too (the library checks "
        "schemas at synth): the standard library only, and the parser's header types, which "
        "it imports only when it reads a file's header",
        allowed=("runtime.logic.csv_parser",),
    ),
    Rule(
        ("local",),
        "the local run is what the benchmarks measure, not the other way round",
        forbidden=("bench", "tests"),
    ),
    Rule(
        ("fpipe",),
        "the client ships alone in the wheel's `cli` extra (requests and botocore)",
        allowed=("fpipe", "requests", "botocore", "mypy_boto3_sqs"),
    ),
    Rule(
        ("bench",),
        "the benchmarks measure the runtime and the local run, through the client",
        forbidden=("financial_pipeline", "infra", "app", "tests"),
    ),
)


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatchcase(name, p) or fnmatchcase(name, f"{p}.*") for p in patterns)


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files(
    root: Path, packages: Iterable[str], modules: Iterable[str] = ()
) -> dict[str, Path]:
    """Every module of ``packages`` (directories) and ``modules`` (files) under ``root``."""
    files = {
        _module_name(path, root): path
        for package in packages
        for path in (root / package).rglob("*.py")
    }
    files.update({module: root / f"{module}.py" for module in modules})
    return files


def imports_of(path: Path, module: str, known: Iterable[str]) -> set[str]:
    """Every module ``module`` imports, at any depth of its code (``TYPE_CHECKING`` blocks and
    function bodies included); ``from x import y`` is ``x.y`` when that is one of ``known``."""
    known = set(known)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(part for part in (*parts, base) if part)
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {name for name in found if name and name != "__future__"}


def import_graph(files: Mapping[str, Path]) -> dict[str, set[str]]:
    """Each module's imports (standard library left out), by module."""
    return {
        module: {
            name
            for name in imports_of(path, module, files)
            if name != module and name.split(".")[0] not in sys.stdlib_module_names
        }
        for module, path in files.items()
    }


def _internal(graph: Mapping[str, set[str]]) -> dict[str, set[str]]:
    """The edges between modules of the graph, with the package each import passes through:
    ``import a.b`` runs ``a/__init__.py`` first."""
    internal: dict[str, set[str]] = {}
    for module, targets in graph.items():
        edges: set[str] = set()
        for target in targets:
            parts = target.split(".")
            edges.update(
                ".".join(parts[:i])
                for i in range(1, len(parts) + 1)
                if ".".join(parts[:i]) in graph
            )
        # A package's own __init__ is already running when its modules import it.
        internal[module] = {t for t in edges if t != module and not module.startswith(f"{t}.")}
    return internal


def find_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """The first import cycle found by a depth-first walk, or None."""
    internal = _internal(graph)
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        stack.append(module)
        for target in sorted(internal[module]):
            if state.get(target) == "open":
                return [*stack[stack.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[module] = "done"
        return None

    for module in sorted(internal):
        if module not in state and (found := visit(module)):
            return found
    return None


def violations(graph: Mapping[str, set[str]], rules: Iterable[Rule] = RULES) -> list[str]:
    """``importer imports imported (why)`` for every import a rule refuses, once each."""
    rules = list(rules)
    found = []
    for module in sorted(graph):
        applying = [rule for rule in rules if _matches(module, rule.importers)]
        for target in sorted(graph[module]):
            whys = [
                rule.why
                for rule in applying
                if _matches(target, rule.forbidden)
                or (rule.allowed is not None and not _matches(target, rule.allowed))
            ]
            if whys:
                found.append(f"{module} imports {target} ({'; '.join(whys)})")
    return found


def _checkout_graph() -> dict[str, set[str]]:
    return import_graph(source_files(REPO, PACKAGES, MODULES))


def test_every_package_of_the_checkout_is_read() -> None:
    # Given the graph of the checkout / Then each package and its layers are in it
    graph = _checkout_graph()
    for module in (
        "financial_pipeline.pipeline",
        "infra.stack",
        "app",
        "runtime.handlers.processor",
        "runtime.logic.processor",
        "runtime.dal.jobs",
        "runtime.contract",
        "local.pipeline",
        "fpipe.client",
        "bench.e2e",
    ):
        assert module in graph, module
    # And every rule applies to at least one real module (a renamed package is not left unchecked)
    for rule in RULES:
        assert any(_matches(m, rule.importers) for m in graph), rule.importers


def test_no_import_cycle_in_any_package() -> None:
    # Given every import between the modules of the checkout / When walked
    # Then no module depends on itself
    assert find_cycle(_checkout_graph()) is None


def test_every_import_keeps_to_the_architecture_table() -> None:
    # Given every import of the checkout / Then none breaks a rule of the table
    assert violations(_checkout_graph()) == []


def test_nothing_outside_the_tests_imports_the_tests() -> None:
    # Given every import of the checkout / Then none names the tests package
    graph = _checkout_graph()
    assert [
        f"{m} imports {t}" for m, ts in graph.items() for t in ts if _matches(t, ("tests",))
    ] == []


def test_fails_a_graph_that_breaks_the_layers_and_names_importer_and_imported() -> None:
    # Given a graph where the logic imports the CDK and a handler, the data access the logic,
    # the library the local run, fpipe boto3, and the local run the benchmarks
    graph = {
        "runtime.logic.processor": {"aws_cdk.aws_s3", "runtime.handlers.upload", "runtime.dal"},
        "runtime.dal.jobs": {"boto3", "runtime.logic.csv_rules"},
        "financial_pipeline.api": {"aws_cdk", "local.gateway"},
        "fpipe.client": {"requests", "boto3"},
        "local.pipeline": {"bench.generate", "financial_pipeline.openapi"},
        "bench.e2e": {"local.pipeline", "runtime.contract"},
    }

    # When checked
    found = violations(graph)

    # Then each broken rule is reported with importer and imported, and nothing else is
    assert [line.split(" (")[0] for line in found] == [
        "financial_pipeline.api imports local.gateway",
        "fpipe.client imports boto3",
        "local.pipeline imports bench.generate",
        "runtime.dal.jobs imports runtime.logic.csv_rules",
        "runtime.logic.processor imports aws_cdk.aws_s3",
        "runtime.logic.processor imports runtime.handlers.upload",
    ]
    # And each says which rule it breaks
    assert "the client ships alone" in found[1]


def test_fails_a_cycle_and_a_violation_in_modules_on_disk(tmp_path: Path) -> None:
    # Given a package on disk whose modules import each other (one relatively, inside a
    # TYPE_CHECKING block) and a logic module importing a handler inside a function
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "__init__.py").write_text("")
    (tmp_path / "local" / "iam.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import pipeline\n"
    )
    (tmp_path / "local" / "pipeline.py").write_text("from local.iam import Principal\n")
    logic = tmp_path / "runtime" / "logic"
    logic.mkdir(parents=True)
    for package in (tmp_path / "runtime", logic, tmp_path / "runtime" / "handlers"):
        package.mkdir(exist_ok=True)
        (package / "__init__.py").write_text("")
    (tmp_path / "runtime" / "handlers" / "upload.py").write_text("")
    (logic / "upload.py").write_text(
        "def f():\n    from runtime.handlers import upload\n    return upload\n"
    )

    # When the graph is read from disk
    graph = import_graph(source_files(tmp_path, ("local", "runtime")))

    # Then the cycle is found, and the handler import reported with both names
    assert find_cycle(graph) == ["local.iam", "local.pipeline", "local.iam"]
    assert [line.split(" (")[0] for line in violations(graph)] == [
        "runtime.logic.upload imports runtime.handlers.upload"
    ]


def test_fails_to_pass_a_cycle_unnoticed() -> None:
    # Given a graph where nag imports pipeline back (the layout issue 8 removed)
    graph = {
        "financial_pipeline": set(),
        "financial_pipeline.nag": {"financial_pipeline.pipeline"},
        "financial_pipeline.pipeline": {"financial_pipeline.nag"},
    }
    # Then the walk reports it
    assert find_cycle(graph) == [
        "financial_pipeline.nag",
        "financial_pipeline.pipeline",
        "financial_pipeline.nag",
    ]


def test_the_wheel_ships_the_library_and_the_client_but_not_the_app() -> None:
    # Given the packages pyproject.toml builds / Then infra, local and bench are not among them
    packages = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]
    assert "financial_pipeline" in packages and "fpipe" in packages
    assert not any(p.split(".")[0] in ("infra", "local", "bench", "tests") for p in packages)
