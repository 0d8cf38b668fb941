"""Firewall: the WAF web ACL in front of the API stage in the hardened profile.

WAFv2 has no L2 construct, so this is the L1 ``CfnWebACL`` with its logging configuration.
"""

from __future__ import annotations

import re
from typing import Any, Final

from aws_cdk import ArnFormat, RemovalPolicy, Stack, Token
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from financial_pipeline._defaults import WAF_LOG_RETENTION, WAF_RATE_LIMIT_PER_5_MINUTES

__all__ = ["MANAGED_RULE_GROUPS", "Firewall", "validate_web_acl_arn"]

MANAGED_RULE_GROUPS: Final = (
    "AWSManagedRulesAmazonIpReputationList",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesCommonRuleSet",
)
"""AWS managed rule groups, in evaluation order (after the rate limit): addresses known for
bots and attacks first (cheapest to drop), then exploit patterns, then the common set."""
# API Gateway stages take only regional web ACLs; a CloudFront (global) ACL cannot be attached.
_REGIONAL_WEB_ACL_ARN: Final = re.compile(
    r"^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:\d{12}:regional/webacl/[A-Za-z0-9_-]+/[0-9a-f-]+$"
)
# Credentials a caller sends: the SigV4 session token and signature, or a Cognito JWT.
_REDACTED_HEADERS: Final = ("authorization", "x-amz-security-token")


def validate_web_acl_arn(arn: str) -> None:
    """Refuse anything but a regional WAFv2 web ACL ARN (a token is taken on trust)."""
    if Token.is_unresolved(arn):
        return
    if not _REGIONAL_WEB_ACL_ARN.match(arn):
        raise ValueError(
            "existing_web_acl_arn must be a regional WAFv2 web ACL ARN "
            f"(arn:aws:wafv2:<region>:<account>:regional/webacl/<name>/<id>; got {arn!r})"
        )


class Firewall(Construct):
    """A regional web ACL: a per-address rate limit, then three AWS managed rule groups.

    Requests are allowed unless a rule blocks them. Every request is logged to a log group
    (WAF requires the ``aws-waf-logs-`` name prefix) with the callers' credentials redacted.

    Attributes:
        web_acl: the web ACL; ``web_acl.attr_arn`` is what a stage is associated with.
        log_group: its request log.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        rate_limit: int = WAF_RATE_LIMIT_PER_5_MINUTES,
        encryption_key: kms.IKey | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        """Create the web ACL.

        Args:
            name: the web ACL's name and metric prefix, 1-128 of ``[A-Za-z0-9_-]``; its log
                group is ``aws-waf-logs-<name>``.
            rate_limit: requests one IP address may send in 5 minutes before it is blocked
                for the rest of the window; default 3000 (about 10/s).
            encryption_key: encrypts the log group; default AWS-managed.
            removal_policy: of the log group; default RETAIN.
        """
        super().__init__(scope, construct_id)
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,128}", name):
            raise ValueError(f"web ACL name must be 1-128 of [A-Za-z0-9_-] (got {name!r})")
        if not 10 <= rate_limit <= 2_000_000_000:
            raise ValueError(f"rate_limit must be between 10 and 2000000000 (got {rate_limit})")

        def visibility(metric: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
            return wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True,
                metric_name=f"{name}-{metric}"[:255],
                sampled_requests_enabled=True,
            )

        rules: list[Any] = [
            wafv2.CfnWebACL.RuleProperty(
                name="RateLimitPerAddress",
                priority=0,
                action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                        aggregate_key_type="IP", limit=rate_limit, evaluation_window_sec=300
                    )
                ),
                visibility_config=visibility("RateLimitPerAddress"),
            ),
            *(
                wafv2.CfnWebACL.RuleProperty(
                    name=group,
                    priority=priority,
                    override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                            vendor_name="AWS", name=group
                        )
                    ),
                    visibility_config=visibility(group),
                )
                for priority, group in enumerate(MANAGED_RULE_GROUPS, start=1)
            ),
        ]
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=name,
            scope="REGIONAL",
            description="Financial CSV pipeline API",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            rules=rules,
            visibility_config=visibility("WebAcl"),
        )

        log_group_name = f"aws-waf-logs-{name}"
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=log_group_name,
            retention=WAF_LOG_RETENTION,
            encryption_key=encryption_key,
            removal_policy=removal_policy,
        )
        # WAF wants the log group's ARN without the ":*" that LogGroup.log_group_arn ends with.
        logging = wafv2.CfnLoggingConfiguration(
            self,
            "Logging",
            resource_arn=self.web_acl.attr_arn,
            log_destination_configs=[
                Stack.of(self).format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=log_group_name,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
            redacted_fields=[
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": header})
                for header in _REDACTED_HEADERS
            ],
        )
        logging.node.add_dependency(self.log_group)
