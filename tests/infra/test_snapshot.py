"""One snapshot per environment stack, asset hashes scrubbed.

A snapshot proves nothing by itself (the fine-grained tests do); it shows every change to the
synthesized templates in review.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from .conftest import ENVIRONMENTS, Synthesized

_ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")


def scrub(template: dict[str, Any]) -> dict[str, Any]:
    """Replace asset hashes, which change with every edit of the Lambda code."""
    scrubbed: dict[str, Any] = json.loads(_ASSET_HASH.sub("ASSET_HASH", json.dumps(template)))
    return scrubbed


def test_scrub_replaces_asset_hashes_only() -> None:
    # Given a template fragment with an asset key and a logical id
    fragment = {"S3Key": f"{'a' * 64}.zip", "Ref": "PipelineBucket1234ABCD"}
    # When scrubbed / Then only the hash is replaced
    assert scrub(fragment) == {"S3Key": "ASSET_HASH.zip", "Ref": "PipelineBucket1234ABCD"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_snapshot(synthesized: Synthesized, snapshot: SnapshotAssertion, env: str) -> None:
    # Given the synthesized environment stack / Then it matches the reviewed snapshot
    assert scrub(synthesized.templates[env]) == snapshot.use_extension(JSONSnapshotExtension)
