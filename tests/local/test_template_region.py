"""`python -m local --template FILE` serves a template in the region it was synthesized for: a
request signed for that region is the one the local API and endpoint accept."""

from __future__ import annotations

from typing import Any

from local.cfn import DEFAULT_REGION, template_region
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
