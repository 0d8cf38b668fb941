"""`python -m local --template FILE` serves a template in the region it was synthesized for: a
request signed for that region is the one the local API and endpoint accept."""

from __future__ import annotations

import contextlib
import json
import signal
from pathlib import Path
from typing import Any

from local.cfn import DEFAULT_REGION, assembly_environment, template_region
from local.synth import SynthesizedStack


def test_a_synthesized_template_names_its_own_region(synthesized: SynthesizedStack) -> None:
    # Given the dev template, written to a file and read back without its stack's metadata
    # Then its region is the one it was synthesized for
    assert template_region(synthesized.template) == synthesized.region


def test_the_most_named_region_wins_and_none_is_the_default() -> None:
    body: dict[str, Any] = {
        "Resources": {
            "A": {"Properties": {"Arn": "arn:aws:events:ap-southeast-2:1:event-bus/default"}},
            "B": {"Properties": {"Arn": "arn:aws:sqs:ap-southeast-2:1:q"}},
            "C": {"Properties": {"Arn": "arn:aws:logs:us-gov-west-1:1:log-group:x"}},
            "D": {"Properties": {"Arn": "arn:aws:s3:::bucket/key"}},
        }
    }
    assert template_region(body) == "ap-southeast-2"
    assert template_region({"Resources": {"D": body["Resources"]["D"]}}) == DEFAULT_REGION


def _assembly(tmp_path: Path, environment: str) -> Path:
    template = tmp_path / "Consumer.template.json"
    template.write_text(json.dumps({"Resources": {}}))
    (tmp_path / "manifest.json").write_text(
        json.dumps(
            {
                "artifacts": {
                    "Tree": {"type": "cdk:tree", "properties": {"file": "tree.json"}},
                    "Consumer": {
                        "type": "aws:cloudformation:stack",
                        "environment": environment,
                        "properties": {"templateFile": "Consumer.template.json"},
                    },
                }
            }
        )
    )
    return template


def test_the_cloud_assembly_beside_a_template_names_its_account_and_region(
    tmp_path: Path,
) -> None:
    # Given a consumer's cdk.out whose stack deploys to eu-central-1, with no ARN naming it
    template = _assembly(tmp_path, "aws://111111111111/eu-central-1")
    # Then the assembly's environment is the stack's, where the ARNs say nothing
    assert assembly_environment(template) == ("111111111111", "eu-central-1")
    assert template_region(json.loads(template.read_text())) == DEFAULT_REGION


def test_an_environment_agnostic_stack_or_a_lone_template_names_nothing(tmp_path: Path) -> None:
    template = _assembly(tmp_path, "aws://unknown-account/unknown-region")
    assert assembly_environment(template) == (None, None)
    lone = tmp_path / "elsewhere" / "Stack.template.json"
    lone.parent.mkdir()
    lone.write_text("{}")
    assert assembly_environment(lone) == (None, None)


def test_python_m_local_takes_the_region_from_the_assembly(tmp_path: Path) -> None:
    # Given the option parsing of `python -m local --template` on that assembly
    template = _assembly(tmp_path, "aws://111111111111/eu-central-1")
    from local import __main__ as cli

    seen: dict[str, Any] = {}

    class Stop(Exception):
        pass

    class Recorder:
        def __init__(self, body: dict[str, Any], **kwargs: Any) -> None:
            seen.update(kwargs)
            raise Stop

    original = cli.LocalPipeline
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    cli.LocalPipeline = Recorder  # type: ignore[misc, assignment]
    try:
        with contextlib.suppress(Stop):
            cli.main(["--template", str(template)])
    finally:
        cli.LocalPipeline = original  # type: ignore[misc]
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    # Then the pipeline serves the stack's own region
    assert seen["region"] == "eu-central-1"
    assert seen["stack_name"] == "Consumer"
