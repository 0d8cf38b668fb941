"""cfn-lint over every synthesized template: no errors, and only the warnings listed here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import ENVIRONMENTS, Synthesized, stack_name

# Warnings accepted, with the reason.
ACCEPTED_WARNINGS = {
    # lambda.Function makes itself depend on its whole execution role so the role's default
    # policy exists before the first invocation; the DependsOn on the role itself is what
    # cfn-lint calls redundant with the GetAtt. Harmless, and not ours to remove.
    "W3005",
}


def _lint(paths: list[Path]) -> list[dict[str, object]]:
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "json", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )
    # cfn-lint exits non-zero when it finds anything; the JSON says what.
    assert completed.stdout.strip(), completed.stderr
    findings: list[dict[str, object]] = json.loads(completed.stdout)
    return findings


def test_cfn_lint_finds_no_errors_and_no_unlisted_warnings(synthesized: Synthesized) -> None:
    # Given the three templates
    paths = [synthesized.outdir / f"{stack_name(env)}.template.json" for env in ENVIRONMENTS]
    # When linted
    findings = _lint(paths)
    rules = [(f["Rule"]["Id"], f["Level"]) for f in findings]  # type: ignore[index]
    print(f"\ncfn-lint: {len(findings)} findings: {sorted(set(rules))}")
    # Then nothing is an error and every warning is one we accepted with a reason
    assert [r for r in rules if r[1] == "Error"] == []
    assert {rule for rule, level in rules if level == "Warning"} <= ACCEPTED_WARNINGS
    assert {level for _, level in rules} <= {"Warning", "Informational"}


def test_cfn_lint_reports_a_broken_template(tmp_path: Path) -> None:
    # Given a template with an invalid property / When linted / Then cfn-lint reports an error
    broken = tmp_path / "broken.json"
    broken.write_text(
        json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"Nope": 1}}}})
    )
    assert any(f["Level"] == "Error" for f in _lint([broken]))
