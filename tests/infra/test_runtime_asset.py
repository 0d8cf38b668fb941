"""The Lambda code asset and the dependency layer."""

from __future__ import annotations

from pathlib import Path

import pytest

from financial_pipeline._runtime import _prune, runtime_source_dir
from runtime import contract

from .conftest import REPO, Synthesized


def test_runtime_source_is_the_checkout_runtime_package_here() -> None:
    # Given a checkout (no packaged copy inside financial_pipeline/_runtime)
    # Then the locator returns <repo>/runtime
    assert runtime_source_dir() == REPO / "runtime"


def test_code_asset_has_the_runtime_package_at_its_root(synthesized: Synthesized) -> None:
    # Given the staged assets of the synthesized app
    code_assets = [p for p in synthesized.outdir.glob("asset.*") if (p / "runtime").is_dir()]
    # Then exactly one holds `runtime/` at its root, so runtime.handlers.upload.handler resolves
    assert len(code_assets) == 1
    staged = code_assets[0] / "runtime"
    for module in ("upload", "status", "results", "processor", "sweeper"):
        source = REPO / "runtime" / f"{module}.py"
        if source.exists():
            assert (staged / f"{module}.py").read_bytes() == source.read_bytes()
    assert not list(staged.rglob("__pycache__"))
    assert not (staged / "requirements.txt").exists()


def test_layer_without_bundling_records_the_requirements(synthesized: Synthesized) -> None:
    # Given bundling switched off (tests) / Then the layer asset holds python/requirements.txt
    layers = [p for p in synthesized.outdir.glob("asset.*") if (p / "python").is_dir()]
    assert len(layers) == 1
    assert (layers[0] / "python" / "requirements.txt").read_text() == (
        REPO / "runtime" / "requirements.txt"
    ).read_text()


def test_prune_drops_what_the_lambda_runtime_already_ships(tmp_path: Path) -> None:
    # Given a pip target with boto3's family and our own dependencies
    for name in ("botocore", "boto3", "s3transfer", "dateutil", "urllib3", "jmespath", "bin"):
        (tmp_path / name).mkdir()
    for name in ("botocore-1.44.8.dist-info", "python_dateutil-2.9.0.post0.dist-info"):
        (tmp_path / name).mkdir()
    (tmp_path / "six.py").write_text("")
    for name in ("aws_lambda_powertools", "aws_xray_sdk", "wrapt"):
        (tmp_path / name).mkdir()
    # When pruned
    _prune(tmp_path)
    # Then only what Lambda lacks remains
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "aws_lambda_powertools",
        "aws_xray_sdk",
        "wrapt",
    ]


@pytest.mark.parametrize(
    "handler",
    [
        "upload",
        "status",
        "results",
        "processor",
        "sweeper",
        "parse_part",
        "write_partition",
        "finish_split",
    ],
)
def test_every_contract_handler_module_exists(handler: str) -> None:
    # Given the handler table of docs/ARCHITECTURE.md / Then the module is in the asset source
    assert (runtime_source_dir() / "handlers" / f"{handler}.py").is_file()


def test_r12_the_library_loads_the_very_contract_the_functions_import() -> None:
    # Given the library's view of the contract (loaded from the shipped runtime code)
    from financial_pipeline import contract as shipped

    # Then every exported name has the same value as in runtime.contract
    assert shipped.__all__ == contract.__all__
    for name in contract.__all__:
        ours, theirs = getattr(shipped, name), getattr(contract, name)
        if isinstance(ours, type):
            assert [(m.name, m.value) for m in ours] == [(m.name, m.value) for m in theirs]
        elif callable(ours):
            # Two loads of one file give two function objects: compare what they answer.
            for status in contract.FINAL_STATUSES:
                assert ours(str(status)) == theirs(str(status)), (name, status)
        else:
            assert ours == theirs, name
