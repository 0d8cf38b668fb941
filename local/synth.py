"""Synthesize one environment's stack in-process, without bundling the Lambda dependencies.

The local pipeline imports the handlers from this checkout and runs them with the packages of the
virtualenv, so the synth only needs the template: dependency bundling (pip for arm64) is off.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class SynthesizedStack:
    stack_name: str
    region: str
    template: dict[str, Any]


def _app_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("financial_pipeline_app", ROOT / "app.py")
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {ROOT / 'app.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def synthesize(environment: str = "dev") -> SynthesizedStack:
    """The template of ``environment`` from cdk.json, as ``cdk synth -c env=...`` would write it
    with ``-c bundle=false``."""
    import aws_cdk as cdk  # noqa: PLC0415 - only a synth needs jsii and node

    context = json.loads((ROOT / "cdk.json").read_text(encoding="utf-8")).get("context", {})
    with tempfile.TemporaryDirectory(prefix="fpipe-synth-") as outdir:
        app = cdk.App(context={**context, "env": environment, "bundle": "false"}, outdir=outdir)
        stacks = _app_module().build_app(app, bundle_dependencies=False)
        if len(stacks) != 1:
            raise RuntimeError(f"expected one stack for {environment!r}, got {len(stacks)}")
        stack = stacks[0]
        assembly = app.synth()
        artifact = assembly.get_stack_by_name(stack.stack_name)
        return SynthesizedStack(
            stack_name=stack.stack_name,
            region=str(artifact.environment.region),
            template=dict(artifact.template),
        )


def _source_key(environment: str) -> str:
    """A digest of everything the template depends on (the construct library, the app package
    and its context, the contract module the library reads from the Lambda code, the CDK
    version); the rest of the Lambda code is imported from the checkout, so it is not."""
    cdk_version = importlib.metadata.version("aws-cdk-lib")
    digest = hashlib.sha256(f"{environment}\0{cdk_version}\0".encode())
    sources = [
        ROOT / "app.py",
        ROOT / "cdk.json",
        ROOT / "runtime" / "contract.py",
        *sorted((ROOT / "financial_pipeline").rglob("*.py")),
        *sorted((ROOT / "infra").rglob("*.py")),
    ]
    for path in (p for p in sources if p.is_file()):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:20]


def synthesize_cached(environment: str = "dev", cache_dir: Path | None = None) -> SynthesizedStack:
    """`synthesize`, reusing the last template while its sources are unchanged."""
    cache_dir = cache_dir or ROOT / "cdk.out" / "local"
    cached = cache_dir / f"{environment}-{_source_key(environment)}.json"
    if cached.is_file():
        data = json.loads(cached.read_text(encoding="utf-8"))
        return SynthesizedStack(data["stack_name"], data["region"], data["template"])
    synthesized = synthesize(environment)
    cache_dir.mkdir(parents=True, exist_ok=True)
    for old in cache_dir.glob(f"{environment}-*.json"):
        old.unlink()
    cached.write_text(
        json.dumps(
            {
                "stack_name": synthesized.stack_name,
                "region": synthesized.region,
                "template": synthesized.template,
            }
        ),
        encoding="utf-8",
    )
    return synthesized
