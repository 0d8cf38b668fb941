"""cdk-nag wiring: the rule packs, and the one helper constructs acknowledge findings with.

Each construct acknowledges the findings of what it creates, beside the code that creates it, so
moving a resource moves its reasons with it. Acknowledgments are construct metadata
(`aws_cdk.Validations`): the library records them without depending on cdk-nag at run time;
only `add_rule_packs` and `add_report_packs` import it. This module imports nothing else from
the package, so any construct module may import it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

import jsii
from aws_cdk import (
    Acknowledgment,
    App,
    CfnElement,
    IPolicyValidationContext,
    IPolicyValidationPlugin,
    PolicyValidationPluginReport,
    Stack,
    Validations,
)
from constructs import IConstruct

__all__ = [
    "COMPLIANCE_PACKS",
    "NIST",
    "PCI",
    "acknowledge",
    "add_compliance_packs",
    "add_report_packs",
    "add_rule_packs",
    "arn_of",
    "compliance",
    "finding_resource",
]

NIST: Final = "NIST.800.53.R5"
PCI: Final = "PCI.DSS.321"
COMPLIANCE_PACKS: Final = (NIST, PCI)
"""The packs the hardened profile is gated by; their rule ids are ``<pack>-<rule>``."""


def compliance(rule: str, *, packs: Sequence[str] = COMPLIANCE_PACKS) -> list[str]:
    """The ids of one rule in each compliance pack, e.g. ``compliance("IAMNoInlinePolicy")``."""
    return [f"{pack}-{rule}" for pack in packs]


def acknowledge(
    scope: IConstruct,
    rule: str | Sequence[str],
    reason: str,
    *,
    applies_to: str | Sequence[str] = (),
) -> None:
    """Acknowledge ``rule`` on ``scope`` and everything below it, for ``reason``.

    Args:
        scope: the narrowest construct that holds the finding.
        rule: a rule id such as ``AwsSolutions-IAM5``, or several ids that share the reason
            (``compliance(...)`` spells one rule of both compliance packs).
        reason: why the design accepts the finding, in a sentence.
        applies_to: the finding details to acknowledge, e.g. ``Resource::*`` or
            ``Policy::arn:<AWS::Partition>:iam::aws:policy/...``; each becomes the
            ``Rule[detail]`` finding id cdk-nag 3 reports. Default: the whole rule.
    """
    rules = [rule] if isinstance(rule, str) else list(rule)
    details = [applies_to] if isinstance(applies_to, str) else list(applies_to)
    ids = [f"{r}[{detail}]" for r in rules for detail in details] if details else rules
    Validations.of(scope).acknowledge(*(Acknowledgment(id=id_, reason=reason) for id_ in ids))


def arn_of(resource: IConstruct) -> str:
    """How cdk-nag spells a resource's ARN in a finding: ``<LogicalId.Arn>``.

    ``resource`` is an L2 construct (its default child is used) or a CloudFormation element.
    """
    element = resource if isinstance(resource, CfnElement) else resource.node.default_child
    if not isinstance(element, CfnElement):
        raise TypeError(
            f"expected a construct backed by one CloudFormation resource (got {resource!r})"
        )
    return f"<{Stack.of(element).resolve(element.logical_id)}.Arn>"


def finding_resource(scope: IConstruct, value: Any) -> str:
    """How cdk-nag spells a policy resource in a finding id (``Resource::<this>``).

    ``value`` is a resource as it stands in a policy statement (a string with tokens): joins
    are concatenated, ``Ref`` and ``Fn::GetAtt`` become ``<Id>`` and ``<Id.Attr>``, any other
    intrinsic its compact JSON.
    """
    return _finding_text(Stack.of(scope).resolve(value))


def _finding_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Fn::Join":
            separator, parts = argument
            return str(separator).join(_finding_text(part) for part in parts)
        if function == "Ref":
            return f"<{argument}>"
        if function == "Fn::GetAtt":
            return f"<{argument[0]}.{argument[1]}>"
    return json.dumps(value, separators=(",", ":"))


def add_rule_packs(app: App) -> None:
    """The gating packs: AwsSolutions and Serverless."""
    from cdk_nag import AwsSolutionsChecks, ServerlessChecks  # noqa: PLC0415

    Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))


def add_report_packs(app: App) -> None:
    """The reporting packs: NIST 800-53 rev 5 and PCI DSS 3.2.1 over the whole app (not
    gating where `add_compliance_packs` does not also run them)."""
    from cdk_nag import NIST80053R5Checks, PCIDSS321Checks  # noqa: PLC0415

    Validations.of(app).add_plugins(NIST80053R5Checks(app), PCIDSS321Checks(app))


def add_compliance_packs(app: App, *scopes: IConstruct) -> None:
    """Gate ``scopes`` (the hardened stacks) with NIST 800-53 rev 5 and PCI DSS 3.2.1.

    Validation plugins can only be registered on an app or stage and cdk-nag walks the whole
    app, so each pack is wrapped to check only the given scopes: default-profile stacks in the
    same app stay gated by `add_rule_packs` alone. The plugins are named ``<pack>-gate``.
    """
    if not scopes:
        return
    from cdk_nag import NIST80053R5Checks, PCIDSS321Checks  # noqa: PLC0415

    Validations.of(app).add_plugins(
        _ScopedPack(NIST80053R5Checks(app), scopes), _ScopedPack(PCIDSS321Checks(app), scopes)
    )


@jsii.implements(IPolicyValidationPlugin)
class _ScopedPack:
    """A cdk-nag pack that validates some constructs of the app, not all of them."""

    def __init__(self, pack: Any, scopes: Sequence[IConstruct]) -> None:
        self._pack = pack
        self._scopes = list(scopes)

    @property
    def name(self) -> str:
        return f"{self._pack.name}-gate"

    @property
    def version(self) -> str | None:
        return None

    @property
    def rule_ids(self) -> list[str] | None:
        return None

    def validate(self, context: IPolicyValidationContext) -> PolicyValidationPluginReport:
        violations = [v for s in self._scopes for v in self._pack.validate_scope(s).violations]
        return PolicyValidationPluginReport(success=not violations, violations=violations)
