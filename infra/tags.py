"""The app's tags on every taggable resource, CDK's custom resource providers included."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import aws_cdk as cdk
import jsii
from constructs import IConstruct

__all__ = ["RawResourceTags", "tag_everything"]

# Resource types that CDK's core custom resource providers (`CustomResourceProvider`, behind
# S3 auto_delete_objects, the VPC's restrictDefaultSecurityGroup and others) emit as plain
# CfnResources, whose ``Tags`` property is a list of ``{"Key", "Value"}``.
_KEY_VALUE_TAGGED: Final = frozenset({"AWS::IAM::Role", "AWS::Lambda::Function"})


@jsii.implements(cdk.IAspect)
class RawResourceTags:
    """Sets ``tags`` on the plain CfnResources that CDK's tag aspect cannot reach.

    `cdk.Tags.of` tags what has a tag manager: every L1 class. A custom resource provider of
    aws-cdk-lib's core builds its function and role as plain ``CfnResource`` objects instead
    (they have no tag manager), so stack-wide tags never reach them (aws/aws-cdk#13851). This
    aspect writes the tags into those resources' ``Tags`` property.
    """

    def __init__(self, tags: Mapping[str, str]) -> None:
        self._tags = [{"Key": key, "Value": value} for key, value in sorted(tags.items())]

    def visit(self, node: IConstruct) -> None:
        if (
            isinstance(node, cdk.CfnResource)
            and node.cfn_resource_type in _KEY_VALUE_TAGGED
            and not cdk.TagManager.is_taggable(node)
            and not cdk.TagManager.is_taggable_v2(node)
        ):
            node.add_property_override("Tags", self._tags)


def tag_everything(scope: IConstruct, tags: Mapping[str, str]) -> None:
    """``tags`` on every taggable resource under ``scope``: CDK's tag aspect for what it can
    tag, `RawResourceTags` for the custom resource providers it cannot."""
    for key, value in tags.items():
        cdk.Tags.of(scope).add(key, value)
    cdk.Aspects.of(scope).add(RawResourceTags(tags), priority=cdk.AspectPriority.MUTATING)
