"""The library works from an installed wheel, with no path back into the checkout (R22)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

from .conftest import REPO

CONSUMER = textwrap.dedent(
    """
    import json
    import sys

    import aws_cdk as cdk

    import financial_pipeline
    from aws_cdk import aws_iam as iam
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_s3 as s3
    from aws_cdk import aws_sns as sns

    from financial_pipeline import (
        FinancialPipeline,
        LambdaOptions,
        ObservabilityOptions,
        StorageOptions,
    )
    from financial_pipeline._runtime import runtime_source_dir
    from financial_pipeline.nag import add_compliance_packs, add_rule_packs

    app = cdk.App(outdir=sys.argv[1])
    stack = cdk.Stack(app, "Consumer", env=cdk.Environment(region="eu-west-1"))
    # The consumer's own upload bucket (another team's, imported by name) and alarm topic.
    uploads = s3.Bucket.from_bucket_name(stack, "Uploads", "consumer-uploads")
    alarms_key = kms.Key(stack, "AlarmsKey", enable_key_rotation=True)
    alarms = sns.Topic(stack, "Alarms", master_key=alarms_key, enforce_ssl=True)
    pipeline = FinancialPipeline(
        stack, "Pipeline", environment_name="demo",
        storage_options=StorageOptions(existing_bucket_obj=uploads),
        observability_options=ObservabilityOptions(
            alarm_email="ops@example.com", existing_alarm_topic_obj=alarms
        ),
        lambda_options=LambdaOptions(bundle_dependencies=False),
    )
    feed = iam.Role(stack, "Feed", assumed_by=iam.AccountRootPrincipal())
    pipeline.grant_invoke_api(feed, method="POST", path="/upload")
    hardened = cdk.Stack(app, "Hardened", env=cdk.Environment(region="eu-west-1"))
    FinancialPipeline(
        hardened, "Pipeline", environment_name="demo", profile="hardened",
        bundle_dependencies=False,
    )
    add_rule_packs(app)  # the acknowledgments must hold in someone else's app too
    add_compliance_packs(app, hardened)  # and NIST / PCI on the hardened stack (R26)
    assembly = app.synth()
    template = assembly.get_stack_by_name("Consumer").template
    hardened_types = {
        r["Type"] for r in assembly.get_stack_by_name("Hardened").template["Resources"].values()
    }
    print(json.dumps({
        "hardened": sorted(
            t for t in hardened_types
            if t in {"AWS::KMS::Key", "AWS::EC2::VPC", "AWS::WAFv2::WebACL"}
        ),
        "package": financial_pipeline.__file__,
        "version": financial_pipeline.__version__,
        "invoke": sorted(
            json.dumps(statement["Resource"])
            for r in template["Resources"].values()
            if r["Type"] == "AWS::IAM::Policy"
            for statement in r["Properties"]["PolicyDocument"]["Statement"]
            if statement["Action"] == "execute-api:Invoke"
        ),
        "runtime": str(runtime_source_dir()),
        "buckets": sorted(
            r["Properties"]["Environment"]["Variables"]["BUCKET_NAME"]
            for r in template["Resources"].values()
            if r["Type"] == "AWS::Lambda::Function"
            and "BUCKET_NAME" in r["Properties"].get("Environment", {}).get("Variables", {})
        ),
        "topics": sorted(
            k for k, r in template["Resources"].items() if r["Type"] == "AWS::SNS::Topic"
        ),
        "alarm_actions": sorted(
            {
                json.dumps(a)
                for r in template["Resources"].values()
                if r["Type"] == "AWS::CloudWatch::Alarm"
                for a in r["Properties"]["AlarmActions"]
            }
        ),
        "handlers": sorted(
            r["Properties"]["Handler"]
            for r in template["Resources"].values()
            if r["Type"] == "AWS::Lambda::Function" and "Handler" in r["Properties"]
            and r["Properties"]["Handler"].startswith("runtime.")
        ),
    }))
    """
)


def _build_wheel(workdir: Path) -> Path:
    # Build from a copy, so the build never writes into the checkout.
    source = workdir / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapped = setuptools.get("package-dir", {})
    top_dirs = {mapped.get(p, p).split(".")[0] for p in setuptools["packages"]}
    for name in sorted(top_dirs):
        shutil.copytree(REPO / name, source / name, ignore=ignore)
    if not (source / "README.md").exists():
        (source / "README.md").write_text("financial-pipeline\n")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(workdir / "dist"), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (workdir / "dist").glob("financial_pipeline-*.whl")
    return wheel


def test_r22_r19_r26_wheel_installs_and_synthesizes_a_nag_clean_consumer_app(
    tmp_path: Path,
) -> None:
    # Given the wheel, installed without dependencies into an empty directory
    wheel = _build_wheel(tmp_path)
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
    )
    assert (site / "financial_pipeline" / "_runtime" / "runtime" / "requirements.txt").is_file()
    assert (site / "financial_pipeline" / "py.typed").is_file()
    # The trades dataset's schema ships with the code that compiles it
    assert (
        site / "financial_pipeline" / "_runtime" / "runtime" / "schemas" / "trades.json"
    ).is_file()

    # When a consumer app outside the checkout imports and synthesizes the construct
    app_dir = tmp_path / "consumer"
    app_dir.mkdir()
    (app_dir / "app.py").write_text(CONSUMER)
    env = {**os.environ, "PYTHONPATH": str(site), "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION": "1"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    completed = subprocess.run(
        [sys.executable, "-P", str(app_dir / "app.py"), str(tmp_path / "cdk.out")],
        cwd=app_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])

    # Then the package and its Lambda code come from the installed wheel, not the checkout
    assert Path(result["package"]).is_relative_to(site)
    assert Path(result["runtime"]).is_relative_to(site)
    assert result["handlers"] == [
        "runtime.handlers.finish_split.handler",
        "runtime.handlers.parse_part.handler",
        "runtime.handlers.processor.handler",
        "runtime.handlers.results.handler",
        "runtime.handlers.status.handler",
        "runtime.handlers.sweeper.handler",
        "runtime.handlers.upload.handler",
        "runtime.handlers.write_partition.handler",
    ]
    # And the hardened pipeline synthesized with its key, VPC and web ACL, NIST and PCI clean
    assert result["hardened"] == ["AWS::EC2::VPC", "AWS::KMS::Key", "AWS::WAFv2::WebACL"]
    # The consumer built it with option classes and granted its role the upload route
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert result["version"] == project["version"]
    (invoke,) = result["invoke"]
    assert invoke.endswith('"/v1/POST/upload"]]}')
    # And on the consumer's own bucket and topic: the pipeline made neither
    assert set(result["buckets"]) == {"consumer-uploads"}
    (topic,) = result["topics"]
    assert topic.startswith("Alarms")
    assert result["alarm_actions"] == [json.dumps({"Ref": topic})]
    # And the code asset holds the runtime package at its root (one asset, both stacks)
    code_assets = [p for p in (tmp_path / "cdk.out").glob("asset.*") if (p / "runtime").is_dir()]
    assert len(code_assets) == 1
    assert (code_assets[0] / "runtime" / "__init__.py").is_file()
    assert (code_assets[0] / "runtime" / "schemas" / "trades.json").is_file()
