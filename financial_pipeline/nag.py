"""cdk-nag wiring: the rule packs, and the one helper constructs acknowledge findings with.

Each construct acknowledges the findings of what it creates, beside the code that creates it, so
moving a resource moves its reasons with it. Acknowledgments are construct metadata
(`aws_cdk.Validations`): the library records them without depending on cdk-nag at run time;
only `add_rule_packs` and `add_report_packs` import it. This module imports nothing else from
the package, so any construct module may import it.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Acknowledgment, App, CfnElement, Stack, Validations
from constructs import IConstruct

__all__ = ["acknowledge", "add_report_packs", "add_rule_packs", "arn_of"]


def acknowledge(
    scope: IConstruct,
    rule: str,
    reason: str,
    *,
    applies_to: str | Sequence[str] = (),
) -> None:
    """Acknowledge ``rule`` on ``scope`` and everything below it, for ``reason``.

    Args:
        scope: the narrowest construct that holds the finding.
        rule: a rule id such as ``AwsSolutions-IAM5``.
        reason: why the design accepts the finding, in a sentence.
        applies_to: the finding details to acknowledge, e.g. ``Resource::*`` or
            ``Policy::arn:<AWS::Partition>:iam::aws:policy/...``; each becomes the
            ``Rule[detail]`` finding id cdk-nag 3 reports. Default: the whole rule.
    """
    details = [applies_to] if isinstance(applies_to, str) else list(applies_to)
    ids = [f"{rule}[{detail}]" for detail in details] or [rule]
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


def add_rule_packs(app: App) -> None:
    """The gating packs: AwsSolutions and Serverless (R19)."""
    from cdk_nag import AwsSolutionsChecks, ServerlessChecks  # noqa: PLC0415

    Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))


def add_report_packs(app: App) -> None:
    """The reporting packs: NIST 800-53 rev 5 and PCI DSS 3.2.1 (not gating)."""
    from cdk_nag import NIST80053R5Checks, PCIDSS321Checks  # noqa: PLC0415

    Validations.of(app).add_plugins(NIST80053R5Checks(app), PCIDSS321Checks(app))
