"""A stack deployed from an earlier release upgrades to this one without losing data.

`releases/<version>/<env>.template.json` is the template that release synthesized for the
environment (asset hashes scrubbed). CloudFormation keeps a resource across an update only when
its logical id and type stay the same and no property that requires replacement changes; a
renamed construct or a changed key schema would create a new, empty bucket or table (and, with
RETAIN, orphan the old one). Every stateful resource of each release must survive the upgrade.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import Synthesized
from .test_snapshot import scrub

RELEASES = Path(__file__).parent / "releases"

REPLACED_BY: dict[str, tuple[str, ...]] = {
    # The properties whose change replaces the resource (or, for a KMS key, fails the update),
    # from the CloudFormation template reference of each type.
    "AWS::S3::Bucket": ("BucketName",),
    "AWS::DynamoDB::Table": ("TableName", "KeySchema", "LocalSecondaryIndexes"),
    "AWS::DynamoDB::GlobalTable": ("TableName", "KeySchema", "LocalSecondaryIndexes"),
    "AWS::KMS::Key": ("KeySpec", "KeyUsage", "Origin", "MultiRegion"),
    "AWS::Logs::LogGroup": ("LogGroupName", "LogGroupClass"),
    "AWS::SQS::Queue": ("QueueName", "FifoQueue"),
    "AWS::SNS::Topic": ("TopicName", "FifoTopic"),
    "AWS::Cognito::UserPool": ("AliasAttributes", "UsernameAttributes"),
}
"""The stateful resource types: what they hold is lost when they are replaced."""


def _key_attributes(properties: dict[str, Any]) -> dict[str, Any]:
    """The attribute definitions of a table's key: changing a key attribute's type replaces it."""
    keys = {element["AttributeName"] for element in properties.get("KeySchema", [])}
    return {
        definition["AttributeName"]: definition["AttributeType"]
        for definition in properties.get("AttributeDefinitions", [])
        if definition["AttributeName"] in keys
    }


def upgrade_losses(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Why each stateful resource of ``old`` would not survive an update to ``new``."""
    losses = []
    resources = new.get("Resources", {})
    for logical_id, before in sorted(old.get("Resources", {}).items()):
        kind = before["Type"]
        if kind not in REPLACED_BY:
            continue
        after = resources.get(logical_id)
        if after is None:
            losses.append(f"{logical_id} ({kind}): gone (a new logical id is a new resource)")
            continue
        if after["Type"] != kind:
            losses.append(f"{logical_id}: type {kind} became {after['Type']}")
            continue
        old_props, new_props = before.get("Properties", {}), after.get("Properties", {})
        for name in REPLACED_BY[kind]:
            if old_props.get(name) != new_props.get(name):
                losses.append(
                    f"{logical_id} ({kind}): {name} {old_props.get(name)!r} -> "
                    f"{new_props.get(name)!r} replaces it"
                )
        if kind.startswith("AWS::DynamoDB::") and _key_attributes(old_props) != _key_attributes(
            new_props
        ):
            losses.append(
                f"{logical_id} ({kind}): key attributes {_key_attributes(old_props)} -> "
                f"{_key_attributes(new_props)} replace it"
            )
        for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
            if before.get(policy) != after.get(policy):
                losses.append(
                    f"{logical_id} ({kind}): {policy} {before.get(policy)!r} -> "
                    f"{after.get(policy)!r}"
                )
    return losses


RELEASED = sorted(
    (path.parent.name, path.name.removesuffix(".template.json"))
    for path in RELEASES.glob("*/*.template.json")
)


def _released(version: str, env: str) -> dict[str, Any]:
    template: dict[str, Any] = json.loads((RELEASES / version / f"{env}.template.json").read_text())
    return template


def test_the_first_release_is_kept() -> None:
    # Given the released templates / Then the first release's prod and regulated stacks are there
    assert ("0.1.0", "prod") in RELEASED
    assert ("0.1.0", "regulated") in RELEASED


@pytest.mark.parametrize(("version", "env"), RELEASED)
def test_a_released_stack_upgrades_with_every_stateful_resource_kept(
    synthesized: Synthesized, version: str, env: str
) -> None:
    # Given the template a release deployed, and this version's
    old = _released(version, env)
    new = scrub(synthesized.templates[env])
    # Then every bucket, table, key, log group, queue and topic keeps its identity
    stateful = [r for r in old["Resources"].values() if r["Type"] in REPLACED_BY]
    assert len(stateful) >= 10
    assert upgrade_losses(old, new) == []


def test_upgrade_losses_name_each_way_to_lose_a_resource() -> None:
    # Given the first release's prod template and copies changed the ways an edit could
    old = _released("0.1.0", "prod")
    resources = old["Resources"]
    bucket = next(k for k, r in resources.items() if r["Type"] == "AWS::S3::Bucket")
    table = next(k for k, r in resources.items() if r["Type"] == "AWS::DynamoDB::GlobalTable")
    group = next(k for k, r in resources.items() if r["Type"] == "AWS::Logs::LogGroup")
    renamed = copy.deepcopy(old)
    renamed["Resources"][f"{bucket}X"] = renamed["Resources"].pop(bucket)
    rekeyed = copy.deepcopy(old)
    rekeyed["Resources"][table]["Properties"]["KeySchema"][0]["AttributeName"] = "other"
    named = copy.deepcopy(old)
    named["Resources"][group]["Properties"]["LogGroupName"] = "/new/name"
    unretained = copy.deepcopy(old)
    unretained["Resources"][bucket]["DeletionPolicy"] = "Delete"
    # When each is checked as the upgrade / Then each loss is named, and no change is none
    assert upgrade_losses(old, old) == []
    assert upgrade_losses(old, renamed) == [
        f"{bucket} (AWS::S3::Bucket): gone (a new logical id is a new resource)"
    ]
    assert any("KeySchema" in loss for loss in upgrade_losses(old, rekeyed))
    assert any("key attributes" in loss for loss in upgrade_losses(old, rekeyed))
    assert upgrade_losses(old, named) == [
        f"{group} (AWS::Logs::LogGroup): LogGroupName None -> '/new/name' replaces it"
    ]
    assert upgrade_losses(old, unretained) == [
        f"{bucket} (AWS::S3::Bucket): DeletionPolicy 'Retain' -> 'Delete'"
    ]
