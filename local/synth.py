"""Synthesize one environment's stack in-process, without bundling the Lambda dependencies.

The local stack imports the handlers from this checkout and runs them with the packages of the
virtualenv, so the synth only needs the template: dependency bundling (pip for arm64) is off.
"""

from __future__ import annotations

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
