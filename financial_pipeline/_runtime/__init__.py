"""Where the Lambda code lives, and how it becomes a Lambda asset.

Installed from the wheel, the `runtime` package ships inside this package
(`financial_pipeline/_runtime/runtime`), so nothing outside the installed package is read. In a
checkout the same code is the repository's top-level `runtime/` directory.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Final

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

__all__ = ["dependencies_code", "function_code", "load_shipped", "runtime_source_dir"]

PACKAGE_NAME: Final = "runtime"
_PACKAGED: Final = Path(__file__).resolve().parent / PACKAGE_NAME
_CHECKOUT: Final = Path(__file__).resolve().parents[2] / PACKAGE_NAME
_IGNORED: Final = shutil.ignore_patterns("__pycache__", "*.pyc", "tests", "requirements.txt")
# The Lambda Python runtime ships boto3 and its dependencies. Bundling our own copies would
# shadow them (layers come first on sys.path) with versions boto3 was not released with.
_PROVIDED_BY_LAMBDA: Final = (
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "urllib3",
    "dateutil",
    "python_dateutil",
    "six",
)
# Only used if local bundling declines, which it never does; CDK requires an image anyway.
_UNUSED_IMAGE: Final = DockerImage.from_registry("public.ecr.aws/sam/build-python3.14")


def runtime_source_dir() -> Path:
    """Return the directory of the `runtime` package (installed wheel first, then checkout)."""
    for candidate in (_PACKAGED, _CHECKOUT):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"lambda code not found in {_PACKAGED} or {_CHECKOUT}")


def load_shipped(alias: str, relative: str) -> ModuleType:
    """The module at ``relative`` in the shipped `runtime` (a standard-library-only one, such as
    the contract), loaded once as ``alias``: the library reads the very file the functions
    import."""
    if alias not in sys.modules:
        spec = importlib.util.spec_from_file_location(alias, runtime_source_dir() / relative)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {relative} from {runtime_source_dir()}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[alias] = module
        spec.loader.exec_module(module)
    return sys.modules[alias]


@jsii.implements(ILocalBundling)
class _CopyPackage:
    """Stage the `runtime` package at the asset root, where the handler paths resolve."""

    def __init__(self, source: Path) -> None:
        self._source = source

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: Any) -> bool:
        shutil.copytree(self._source, Path(output_dir) / PACKAGE_NAME, ignore=_IGNORED)
        return True


@jsii.implements(ILocalBundling)
class _PipInstall:
    """Install `requirements.txt` for Lambda (arm64, CPython 3.14) into a layer, without Docker."""

    def __init__(self, requirements: Path, *, install: bool) -> None:
        self._requirements = requirements
        self._install = install

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: Any) -> bool:
        target = Path(output_dir) / "python"
        target.mkdir(parents=True, exist_ok=True)
        if not self._install:
            # Tests synthesize without network access: the layer then only records what it
            # would contain.
            shutil.copy2(self._requirements, target / "requirements.txt")
            return True
        subprocess.run(  # noqa: S603 - fixed argument list, no shell
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-compile",
                "--platform",
                "manylinux2014_aarch64",
                "--only-binary=:all:",
                "--python-version",
                "3.14",
                "--implementation",
                "cp",
                "--target",
                str(target),
                "--requirement",
                str(self._requirements),
            ],
            check=True,
        )
        _prune(target)
        return True


def _prune(target: Path) -> None:
    shutil.rmtree(target / "bin", ignore_errors=True)
    for entry in target.iterdir():
        name = entry.name.split("-", 1)[0].removesuffix(".py").lower()
        if name in _PROVIDED_BY_LAMBDA or entry.name == "__pycache__":
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def function_code(source: Path | None = None) -> lambda_.Code:
    """The code asset: the `runtime` package at the asset root."""
    source = source or runtime_source_dir()
    return lambda_.Code.from_asset(
        str(source),
        asset_hash_type=AssetHashType.OUTPUT,
        # `command` only names the step: it keeps the two assets' bundling cache keys apart.
        bundling=BundlingOptions(
            image=_UNUSED_IMAGE, command=["copy-runtime"], local=_CopyPackage(source)
        ),
    )


def dependencies_code(*, install: bool = True, source: Path | None = None) -> lambda_.Code:
    """The layer asset: `runtime/requirements.txt` installed under `python/`.

    With ``install=False`` nothing is downloaded; the layer then holds only the requirements
    file (for tests and offline synthesis).
    """
    source = source or runtime_source_dir()
    requirements = source / "requirements.txt"
    if not requirements.is_file():
        raise FileNotFoundError(f"no requirements file at {requirements}")
    return lambda_.Code.from_asset(
        str(source),
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=BundlingOptions(
            image=_UNUSED_IMAGE,
            command=["pip-install" if install else "copy-requirements"],
            local=_PipInstall(requirements, install=install),
        ),
    )
