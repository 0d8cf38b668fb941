"""R34: the local IAM policy evaluator decides as AWS documents it.

Most cases are the examples of the IAM User Guide (and the KMS and S3 guides), each citing its
page; the policies are the documented ones, with the placeholder account and names filled in.
The rest prove what the evaluator must never do: allow silently what it cannot evaluate.
"""

from __future__ import annotations

from typing import Any

import pytest

from local.policy import (
    OPERATORS,
    Decision,
    Evaluator,
    Outcome,
    Policy,
    Principal,
    Request,
    evaluate,
)

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "444455556666"
ROLE = Principal.role(f"arn:aws:iam::{ACCOUNT}:role/Processor", "processor-session")
EVERY_KEY = Evaluator(["*"])
"""An evaluator that may read any condition key: for the documentation's examples."""

EVALUATION_LOGIC = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html"
)
CONDITION_OPERATORS = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html"
MULTIVALUED = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html"
SET_OPERATORS = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_multi-value-conditions.html"
VARIABLES = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html"


def user(name: str, account: str = ACCOUNT) -> Principal:
    return Principal(arn=f"arn:aws:iam::{account}:user/{name}", account=account)


def doc(*statements: dict[str, Any], version: str = "2012-10-17") -> dict[str, Any]:
    return {"Version": version, "Statement": list(statements)}


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def decide(
    action: str,
    resource: str,
    identity: Any = (),
    resources: Any = (),
    *,
    principal: Principal = ROLE,
    context: dict[str, Any] | None = None,
    evaluator: Evaluator = EVERY_KEY,
    **options: Any,
) -> Decision:
    request = Request(principal, action, resource, context or {}, options.pop("owner", None))
    return evaluator.evaluate(request, identity, resources, **options)


def allowed(*args: Any, **kwargs: Any) -> bool:
    return decide(*args, **kwargs).allowed


# --- Policy evaluation logic -------------------------------------------------------------------

# The example of EVALUATION_LOGIC, "Example identity-based and resource-based policy evaluation".
CARLOS = user("carlossalazar")
CARLOS_POLICY = doc(
    {
        "Sid": "AllowS3ListRead",
        "Effect": "Allow",
        "Action": [
            "s3:GetBucketLocation",
            "s3:GetAccountPublicAccessBlock",
            "s3:ListAccessPoints",
            "s3:ListAllMyBuckets",
        ],
        "Resource": "arn:aws:s3:::*",
    },
    {
        "Sid": "AllowS3Self",
        "Effect": "Allow",
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::carlossalazar/*", "arn:aws:s3:::carlossalazar"],
    },
    {"Sid": "DenyS3Logs", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::*log*"},
)
CARLOS_BUCKET_POLICY = doc(
    {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/carlossalazar"},
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::carlossalazar/*", "arn:aws:s3:::carlossalazar"],
    }
)


def test_carlos_is_denied_the_logs_bucket_by_the_deny_of_his_own_policy() -> None:
    # EVALUATION_LOGIC: "AWS first checks for a Deny statement ... Carlos is denied access."
    decision = decide(
        "s3:PutObject",
        "arn:aws:s3:::carlossalazar-logs/file.txt",
        [Policy(CARLOS_POLICY, "carlos")],
        [CARLOS_BUCKET_POLICY],
        principal=CARLOS,
    )
    assert decision.outcome is Outcome.EXPLICIT_DENY
    assert "'DenyS3Logs'" in decision.reason
    assert "'carlos'" in decision.reason


def test_carlos_may_save_to_his_bucket_both_policies_allow() -> None:
    # EVALUATION_LOGIC: "Both the identity-based policy and the resource-based policy allow
    # the request. Therefore, AWS allows the request."
    decision = decide(
        "s3:PutObject",
        "arn:aws:s3:::carlossalazar/file.txt",
        [CARLOS_POLICY],
        [CARLOS_BUCKET_POLICY],
        principal=CARLOS,
    )
    assert decision.outcome is Outcome.ALLOW


@pytest.mark.parametrize("side", ["identity", "resource"])
def test_within_one_account_either_policy_type_allowing_is_enough(side: str) -> None:
    # EVALUATION_LOGIC, "Important": "If either the identity-based policy or the resource-based
    # policy within the same account allows the request and the other doesn't, the request is
    # still allowed."
    identity = [doc(allow("s3:GetObject", "arn:aws:s3:::b/*"))] if side == "identity" else []
    bucket = doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": ROLE.arn},
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::b/*",
        }
    )
    resources = [bucket] if side == "resource" else []
    assert allowed("s3:GetObject", "arn:aws:s3:::b/key", identity, resources)


# EVALUATION_LOGIC, "The difference between explicit and implicit denies".
GET_LIST_POLICY = doc(
    {
        "Sid": "AllowGetList",
        "Effect": "Allow",
        "Action": ["iam:Get*", "iam:List*"],
        "Resource": "*",
    },
    {"Sid": "DenyReports", "Effect": "Deny", "Action": "iam:*Report", "Resource": "*"},
)


def test_get_and_list_actions_are_allowed() -> None:
    assert decide("iam:GetUser", "*", [GET_LIST_POLICY]).outcome is Outcome.ALLOW


def test_other_iam_actions_are_implicitly_denied() -> None:
    decision = decide("iam:CreatePolicy", "*", [GET_LIST_POLICY])
    assert decision.outcome is Outcome.IMPLICIT_DENY
    assert "iam:CreatePolicy" in decision.reason


def test_report_actions_stay_denied_when_another_policy_allows_them() -> None:
    # "If someone adds another policy to this principal to grant them access to IAM reports,
    # such as iam:GenerateCredentialReport, report-related requests are still denied."
    another = doc(allow("iam:GenerateCredentialReport"))
    decision = decide("iam:GenerateCredentialReport", "*", [GET_LIST_POLICY, another])
    assert decision.outcome is Outcome.EXPLICIT_DENY
    assert "'DenyReports'" in decision.reason
    decision = decide("iam:GetOrganizationsAccessReport", "*", [GET_LIST_POLICY])
    assert decision.outcome is Outcome.EXPLICIT_DENY


def test_no_policy_is_a_default_deny() -> None:
    decision = decide("s3:GetObject", "arn:aws:s3:::b/k")
    assert decision.outcome is Outcome.IMPLICIT_DENY
    assert not decision.allowed


def test_an_explicit_deny_in_a_resource_policy_beats_an_identity_allow() -> None:
    bucket = doc(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::b/*",
        }
    )
    identity = [doc(allow("s3:*"))]
    assert decide("s3:GetObject", "arn:aws:s3:::b/k", identity, [bucket]).outcome is (
        Outcome.EXPLICIT_DENY
    )


def test_cross_account_access_needs_both_sides() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html
    caller = Principal.role(f"arn:aws:iam::{OTHER_ACCOUNT}:role/Reader")
    identity = [doc(allow("s3:GetObject", "arn:aws:s3:::shared/*"))]
    bucket = doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": OTHER_ACCOUNT},
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::shared/*",
        }
    )
    key = "arn:aws:s3:::shared/k"
    assert allowed("s3:GetObject", key, identity, [bucket], principal=caller, owner=ACCOUNT)
    assert not allowed("s3:GetObject", key, identity, [], principal=caller, owner=ACCOUNT)
    assert not allowed("s3:GetObject", key, [], [bucket], principal=caller, owner=ACCOUNT)


# --- Principal and NotPrincipal ----------------------------------------------------------------
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html


def bucket_policy(principal: Any, effect: str = "Allow", key: str = "Principal") -> dict[str, Any]:
    return doc(
        {"Effect": effect, key: principal, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}
    )


@pytest.mark.parametrize(
    "principal",
    [
        "*",
        {"AWS": "*"},
        {"AWS": ROLE.arn},
        {"AWS": [f"arn:aws:iam::{OTHER_ACCOUNT}:role/x", ROLE.arn]},
        {"AWS": ROLE.session_arn},
    ],
)
def test_a_resource_policy_naming_the_caller_allows_without_an_identity_policy(
    principal: Any,
) -> None:
    assert allowed("s3:GetObject", "arn:aws:s3:::b/k", [], [bucket_policy(principal)])


@pytest.mark.parametrize("account", [ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root"])
def test_an_account_principal_delegates_to_the_identity_policies(account: str) -> None:
    # "This delegates authority to the account ... an administrator in that account must then
    # grant access to an identity (IAM user or role)." Both forms "behave the same way".
    policy = bucket_policy({"AWS": account})
    assert not allowed("s3:GetObject", "arn:aws:s3:::b/k", [], [policy])
    identity = [doc(allow("s3:GetObject", "arn:aws:s3:::b/*"))]
    assert allowed("s3:GetObject", "arn:aws:s3:::b/k", identity, [policy])


def test_a_deny_naming_the_account_applies_to_its_roles() -> None:
    identity = [doc(allow("s3:*"))]
    policy = bucket_policy({"AWS": ACCOUNT}, effect="Deny")
    decision = decide("s3:GetObject", "arn:aws:s3:::b/k", identity, [policy])
    assert decision.outcome is Outcome.EXPLICIT_DENY


def test_principal_names_never_match_partially() -> None:
    # "You cannot use a wildcard to match part of a principal name or ARN."
    policy = bucket_policy({"AWS": f"arn:aws:iam::{ACCOUNT}:role/*"})
    assert not allowed("s3:GetObject", "arn:aws:s3:::b/k", [], [policy])


# The Lambda permission the template gives S3 (AWS::Lambda::Permission with SourceArn and
# SourceAccount), as the function's resource policy holds it.
S3_INVOKES_PROCESSOR = doc(
    {
        "Sid": "s3-notification",
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction",
        "Resource": f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:processor",
        "Condition": {
            "StringEquals": {"AWS:SourceAccount": ACCOUNT},
            "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::uploads"},
        },
    }
)
PROCESSOR = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:processor"


def test_a_service_principal_is_allowed_by_the_function_policy_for_its_source() -> None:
    s3 = Principal.for_service("s3.amazonaws.com")
    context = {"aws:SourceArn": "arn:aws:s3:::uploads", "aws:SourceAccount": ACCOUNT}
    decision = decide(
        "lambda:InvokeFunction",
        PROCESSOR,
        [],
        [S3_INVOKES_PROCESSOR],
        principal=s3,
        context=context,
    )
    assert decision.outcome is Outcome.ALLOW
    assert "'s3-notification'" in decision.reason
    other = {**context, "aws:SourceArn": "arn:aws:s3:::another-bucket"}
    assert not allowed(
        "lambda:InvokeFunction",
        PROCESSOR,
        [],
        [S3_INVOKES_PROCESSOR],
        principal=s3,
        context=other,
    )


def test_a_role_is_not_the_service_principal() -> None:
    assert not allowed("lambda:InvokeFunction", PROCESSOR, [], [S3_INVOKES_PROCESSOR])


# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html
BOB_ONLY = doc(
    {
        "Effect": "Deny",
        "NotPrincipal": {
            "AWS": [f"arn:aws:iam::{OTHER_ACCOUNT}:user/Bob", f"arn:aws:iam::{OTHER_ACCOUNT}:root"]
        },
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::BUCKETNAME", "arn:aws:s3:::BUCKETNAME/*"],
    }
)


def test_not_principal_deny_spares_only_the_named_user() -> None:
    # "all principals except the user named Bob in AWS account 444455556666 are explicitly
    # denied ... This example by itself does not grant access to Bob."
    identity = [doc(allow("s3:*"))]
    key = "arn:aws:s3:::BUCKETNAME/file"
    bob, alice = user("Bob", OTHER_ACCOUNT), user("Alice", OTHER_ACCOUNT)
    assert not allowed("s3:GetObject", key, [], [BOB_ONLY], principal=bob, owner=OTHER_ACCOUNT)
    assert allowed("s3:GetObject", key, identity, [BOB_ONLY], principal=bob, owner=OTHER_ACCOUNT)
    denied = decide("s3:GetObject", key, identity, [BOB_ONLY], principal=alice)
    assert denied.outcome is Outcome.EXPLICIT_DENY


def test_not_principal_deny_checks_every_link_of_a_role_session() -> None:
    # The role example: the session, the role and the account are listed, "If the NotPrincipal
    # element was missing the ARN of the role, the effect of the policy might be to explicitly
    # deny access to the role."
    role = Principal.role(
        f"arn:aws:iam::{OTHER_ACCOUNT}:role/cross-account-read-only-role", "cross-account-audit-app"
    )
    chain = [str(role.session_arn), role.arn, f"arn:aws:iam::{OTHER_ACCOUNT}:root"]
    identity = [doc(allow("s3:*"))]
    key = "arn:aws:s3:::Bucket_AccountAudit/x"

    def policy(names: list[str]) -> dict[str, Any]:
        return doc(
            {
                "Effect": "Deny",
                "NotPrincipal": {"AWS": names},
                "Action": "s3:*",
                "Resource": [
                    "arn:aws:s3:::Bucket_AccountAudit",
                    "arn:aws:s3:::Bucket_AccountAudit/*",
                ],
            }
        )

    assert allowed("s3:GetObject", key, identity, [policy(chain)], principal=role)
    without_role = [chain[0], chain[2]]
    denied = decide("s3:GetObject", key, identity, [policy(without_role)], principal=role)
    assert denied.outcome is Outcome.EXPLICIT_DENY


# --- Action, NotAction, Resource, NotResource --------------------------------------------------


def test_actions_match_case_insensitively_with_wildcards() -> None:
    identity = [doc(allow(["S3:get*", "dynamodb:?etItem"]))]
    assert allowed("s3:GetObject", "*", identity)
    assert allowed("dynamodb:GetItem", "*", identity)
    assert not allowed("dynamodb:BatchGetItem", "*", identity)
    assert not allowed("s3:PutObject", "*", identity)


def test_resources_match_case_sensitively() -> None:
    identity = [doc(allow("s3:GetObject", "arn:aws:s3:::Bucket/*"))]
    assert allowed("s3:GetObject", "arn:aws:s3:::Bucket/k", identity)
    assert not allowed("s3:GetObject", "arn:aws:s3:::bucket/k", identity)


# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
@pytest.mark.parametrize(
    "key",
    [
        "1/test/object.jpg",
        "1/2/test/object.jpg",
        "1/2/test/3/object.jpg",
        "1/2/3/test/4/object.jpg",
        "1///test///object.jpg",
        "1/test/.jpg",
        "/test/object.jpg",
        "1/test/",
    ],
)
def test_an_asterisk_spans_slashes_within_the_resource_segment(key: str) -> None:
    identity = [doc(allow("s3:GetObject", "arn:aws:s3:::DOC-EXAMPLE-BUCKET/*/test/*"))]
    assert allowed("s3:GetObject", f"arn:aws:s3:::DOC-EXAMPLE-BUCKET/{key}", identity)


@pytest.mark.parametrize("key", ["test/object.jpg", "1/test", "1/tests/object.jpg"])
def test_resource_wildcards_still_need_their_literal_parts(key: str) -> None:
    identity = [doc(allow("s3:GetObject", "arn:aws:s3:::DOC-EXAMPLE-BUCKET/*/test/*"))]
    assert not allowed("s3:GetObject", f"arn:aws:s3:::DOC-EXAMPLE-BUCKET/{key}", identity)


def test_a_wildcard_does_not_cross_arn_segments_but_the_resource_part_keeps_its_colons() -> None:
    identity = [
        doc(allow("logs:PutLogEvents", f"arn:aws:logs:*:{ACCOUNT}:log-group:/aws/lambda/f:*"))
    ]
    stream = f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/lambda/f:log-stream:2024/x"
    assert allowed("logs:PutLogEvents", stream, identity)
    elsewhere = f"arn:aws:logs:eu-west-1:{OTHER_ACCOUNT}:log-group:/aws/lambda/f:log-stream:x"
    assert not allowed("logs:PutLogEvents", elsewhere, identity)
    regional = [doc(allow("s3:GetObject", "arn:aws:s3:::*"))]
    assert not allowed("s3:GetObject", "arn:aws:s3:eu-west-1::thing", regional)


# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notaction.html
def test_not_action_with_allow_covers_only_the_resources_listed() -> None:
    identity = [
        doc({"Effect": "Allow", "NotAction": "s3:DeleteBucket", "Resource": "arn:aws:s3:::*"})
    ]
    assert allowed("s3:GetObject", "arn:aws:s3:::b/k", identity)
    assert not allowed("s3:DeleteBucket", "arn:aws:s3:::b", identity)
    # "This does not allow users to use the ListAllMyBuckets S3 API operation, because that
    # action requires the "*" resource. This policy also does not allow actions in other
    # services."
    assert not allowed("s3:ListAllMyBuckets", "*", identity)
    assert not allowed("ec2:RunInstances", f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/*", identity)


def test_not_action_with_deny_denies_everything_but_iam_without_mfa() -> None:
    # The DenyAllUsersNotUsingMFA example, with a policy that allows everything.
    mfa = doc(
        {
            "Sid": "DenyAllUsersNotUsingMFA",
            "Effect": "Deny",
            "NotAction": "iam:*",
            "Resource": "*",
            "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}},
        }
    )
    everything = doc(allow("*"))
    policies = [everything, mfa]

    def outcome(action: str, context: dict[str, Any]) -> Outcome:
        return decide(action, "*", policies, context=context).outcome

    assert outcome("s3:ListBucket", {"aws:MultiFactorAuthPresent": False}) is Outcome.EXPLICIT_DENY
    assert outcome("s3:ListBucket", {}) is Outcome.EXPLICIT_DENY  # IfExists: missing is true
    assert outcome("s3:ListBucket", {"aws:MultiFactorAuthPresent": True}) is Outcome.ALLOW
    assert outcome("iam:GetUser", {"aws:MultiFactorAuthPresent": False}) is Outcome.ALLOW


# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notresource.html
def test_not_resource_deny_keeps_a_user_to_one_folder() -> None:
    payroll = doc(
        {
            "Effect": "Deny",
            "Action": "s3:*",
            "NotResource": ["arn:aws:s3:::HRBucket/Payroll", "arn:aws:s3:::HRBucket/Payroll/*"],
        }
    )
    policies = [doc(allow("*")), payroll]
    assert allowed("s3:GetObject", "arn:aws:s3:::HRBucket/Payroll/2024.csv", policies)
    assert decide("s3:GetObject", "arn:aws:s3:::HRBucket/Other/x", policies).outcome is (
        Outcome.EXPLICIT_DENY
    )
    # "If the action also included Amazon EC2 actions, then the policy would not deny access to
    # any EC2 resources": its Action is s3:* only.
    assert allowed("ec2:RunInstances", "*", policies)


# --- Condition operators -----------------------------------------------------------------------


def test_string_equals_on_a_missing_tag_does_not_match() -> None:
    # CONDITION_OPERATORS, String: "If a user without the tag attempts to view or edit an
    # access key, the condition returns false and the request is implicitly denied."
    policy = doc(
        allow(
            "iam:*AccessKey*",
            f"arn:aws:iam::{ACCOUNT}:user/*",
            Condition={"StringEquals": {"aws:PrincipalTag/job-category": "iamuser-admin"}},
        )
    )
    target = f"arn:aws:iam::{ACCOUNT}:user/bob"
    tagged = {"aws:PrincipalTag/job-category": "iamuser-admin"}
    assert allowed("iam:CreateAccessKey", target, [policy], context=tagged)
    assert not allowed("iam:CreateAccessKey", target, [policy])
    other = {"aws:PrincipalTag/job-category": "IAMUSER-ADMIN"}
    assert not allowed("iam:CreateAccessKey", target, [policy], context=other)


# CONDITION_OPERATORS, String: the home-directory policy with s3:prefix and ${aws:username}.
HOME_DIRECTORY = doc(
    {
        "Effect": "Allow",
        "Action": ["s3:ListAllMyBuckets", "s3:GetBucketLocation"],
        "Resource": "arn:aws:s3:::*",
    },
    {
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": "arn:aws:s3:::BUCKET-NAME",
        "Condition": {"StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/"]}},
    },
    {
        "Effect": "Allow",
        "Action": "s3:*",
        "Resource": [
            "arn:aws:s3:::BUCKET-NAME/home/${aws:username}",
            "arn:aws:s3:::BUCKET-NAME/home/${aws:username}/*",
        ],
    },
)
DAVID = user("David")
DAVID_CONTEXT = {"aws:username": "David"}


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [("", True), ("home/", True), ("home/David/", True), ("home/Bob/", False), ("home", False)],
)
def test_string_like_s3_prefix_lets_a_user_list_only_his_folder(
    prefix: str, expected: bool
) -> None:
    context = {**DAVID_CONTEXT, "s3:prefix": prefix}
    result = allowed(
        "s3:ListBucket",
        "arn:aws:s3:::BUCKET-NAME",
        [HOME_DIRECTORY],
        principal=DAVID,
        context=context,
    )
    assert result is expected


def test_the_home_directory_objects_follow_the_user_name() -> None:
    def get(key: str) -> bool:
        return allowed(
            "s3:GetObject",
            f"arn:aws:s3:::BUCKET-NAME/{key}",
            [HOME_DIRECTORY],
            principal=DAVID,
            context=DAVID_CONTEXT,
        )

    assert get("home/David/notes.txt")
    assert not get("home/Bob/notes.txt")
    assert not allowed(
        "s3:ListBucket",
        "arn:aws:s3:::BUCKET-NAME",
        [HOME_DIRECTORY],
        principal=DAVID,
        context=DAVID_CONTEXT,
    )  # no s3:prefix in the request: StringLike on a missing key is false


# https://docs.aws.amazon.com/AmazonS3/latest/userguide/amazon-s3-policy-keys.html, "Example 2:
# Getting a list of objects in a bucket with a specific prefix" (user policy).
def test_s3_prefix_allow_with_a_string_not_equals_deny() -> None:
    policy = doc(
        {
            "Sid": "statement1",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": "arn:aws:s3:::awsexamplebucket1",
            "Condition": {"StringEquals": {"s3:prefix": "projects"}},
        },
        {
            "Sid": "statement2",
            "Effect": "Deny",
            "Action": "s3:ListBucket",
            "Resource": "arn:aws:s3:::awsexamplebucket1",
            "Condition": {"StringNotEquals": {"s3:prefix": "projects"}},
        },
    )
    everything = doc(allow("s3:*"))
    bucket = "arn:aws:s3:::awsexamplebucket1"
    assert allowed("s3:ListBucket", bucket, [policy], context={"s3:prefix": "projects"})
    denied = decide("s3:ListBucket", bucket, [policy, everything], context={"s3:prefix": "other"})
    assert denied.outcome is Outcome.EXPLICIT_DENY
    assert "'statement2'" in denied.reason
    # No prefix at all: the negated operator matches a missing key, so the Deny applies.
    assert decide("s3:ListBucket", bucket, [policy, everything]).outcome is Outcome.EXPLICIT_DENY


@pytest.mark.parametrize(("max_keys", "expected"), [("10", True), ("9", True), ("11", False)])
def test_numeric_less_than_equals_on_max_keys(max_keys: str, expected: bool) -> None:
    # CONDITION_OPERATORS, Numeric: "the requester can list up to 10 objects".
    policy = doc(
        allow(
            "s3:ListBucket",
            "arn:aws:s3:::example_bucket",
            Condition={"NumericLessThanEquals": {"s3:max-keys": "10"}},
        )
    )
    context = {"s3:max-keys": max_keys}
    assert allowed("s3:ListBucket", "arn:aws:s3:::example_bucket", [policy], context=context) is (
        expected
    )


def test_date_greater_than_on_token_issue_time() -> None:
    # CONDITION_OPERATORS, Date: credentials issued after 2020-01-01T00:00:01Z; "The
    # aws:TokenIssueTime key is present in the request context only when the principal uses
    # temporary credentials", so long-term keys are denied.
    policy = doc(
        allow(
            "iam:*AccessKey*",
            f"arn:aws:iam::{ACCOUNT}:user/*",
            Condition={"DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}},
        )
    )
    target = f"arn:aws:iam::{ACCOUNT}:user/x"
    assert allowed(
        "iam:ListAccessKeys",
        target,
        [policy],
        context={"aws:TokenIssueTime": "2020-06-01T12:00:00Z"},
    )
    assert not allowed(
        "iam:ListAccessKeys",
        target,
        [policy],
        context={"aws:TokenIssueTime": "2019-12-31T23:59:59Z"},
    )
    assert not allowed("iam:ListAccessKeys", target, [policy])
    epoch = {"aws:TokenIssueTime": "1600000000"}  # 2020-09-13, as epoch seconds
    assert allowed("iam:ListAccessKeys", target, [policy], context=epoch)


def test_bool_secure_transport_deny() -> None:
    # CONDITION_OPERATORS, Boolean: "deny all S3 actions ... if the request is not over SSL".
    boolean = doc(
        {
            "Sid": "BooleanExample",
            "Action": "s3:*",
            "Effect": "Deny",
            "Resource": ["arn:aws:s3:::DOC-EXAMPLE-BUCKET", "arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )
    policies = [boolean, doc(allow("s3:*"))]
    key = "arn:aws:s3:::DOC-EXAMPLE-BUCKET/k"
    insecure = decide("s3:GetObject", key, policies, context={"aws:SecureTransport": False})
    assert insecure.outcome is Outcome.EXPLICIT_DENY
    assert "'BooleanExample'" in insecure.reason
    assert allowed("s3:GetObject", key, policies, context={"aws:SecureTransport": True})


def test_binary_equals_compares_the_decoded_bytes() -> None:
    policy = doc(
        allow("s3:GetObject", Condition={"BinaryEquals": {"key": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}})
    )
    assert allowed("s3:GetObject", "*", [policy], context={"key": b"BinaryValueInBase64"})
    assert not allowed("s3:GetObject", "*", [policy], context={"key": b"other"})
    assert not allowed("s3:GetObject", "*", [policy])


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("203.0.113.7", True),
        ("203.0.114.1", False),
        ("2001:db8:1234:5678::9", True),
        ("2001:db8::1", False),
    ],
)
def test_ip_address_mixes_ipv4_and_ipv6_ranges(address: str, expected: bool) -> None:
    # CONDITION_OPERATORS, IP address: the mixed IPv4 and IPv6 example.
    policy = doc(
        allow(
            "someservice:*",
            Condition={
                "IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:DB8:1234:5678::/64"]}
            },
        )
    )
    context = {"aws:SourceIp": address}
    assert allowed("someservice:Do", "*", [policy], context=context) is expected
    outside = doc(
        allow("someservice:*", Condition={"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}})
    )
    assert allowed("someservice:Do", "*", [outside], context=context) is (
        address in ("203.0.114.1", "2001:db8:1234:5678::9", "2001:db8::1")
    )


def test_arn_like_matches_segment_by_segment_where_string_like_does_not() -> None:
    # CONDITION_OPERATORS, ARN: "With a StringLike condition, the match succeeds ... With an
    # ArnLike condition, which matches elements between colons, the match fails."
    pattern = "arn:aws:someservice:*:111122223333:finance/*"
    value = "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"
    context = {"aws:SourceArn": value}

    def result(operator: str) -> bool:
        policy = doc(allow("someservice:*", Condition={operator: {"aws:SourceArn": pattern}}))
        return allowed("someservice:Do", "*", [policy], context=context)

    assert result("StringLike")
    assert not result("ArnLike")
    assert not result("ArnEquals")  # "behave identically"
    assert result("ArnNotLike")
    good = {"aws:SourceArn": "arn:aws:someservice:us-east-2:111122223333:finance/document.txt"}
    policy = doc(allow("someservice:*", Condition={"ArnLike": {"aws:SourceArn": pattern}}))
    assert allowed("someservice:Do", "*", [policy], context=good)


def test_if_exists_makes_a_missing_key_true() -> None:
    # CONDITION_OPERATORS, ...IfExists: the RunInstances example, and the policy that does not
    # work because the other resources of the launch have no ec2:InstanceType.
    def launch(operator: str, context: dict[str, str]) -> bool:
        policy = doc(
            allow(
                "ec2:RunInstances",
                Condition={operator: {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}},
            )
        )
        return allowed("ec2:RunInstances", "*", [policy], context=context)

    assert launch("StringLikeIfExists", {"ec2:InstanceType": "t2.micro"})
    assert not launch("StringLikeIfExists", {"ec2:InstanceType": "m5.large"})
    assert launch("StringLikeIfExists", {})  # the image, key pair, security group...
    assert not launch("StringLike", {})  # THISPOLICYDOESNOTWORK


def test_a_negated_if_exists_deny_still_denies_a_missing_key() -> None:
    # CONDITION_OPERATORS, ...IfExists: "If you are using an "Effect": "Deny" element with a
    # negated condition operator like StringNotEqualsIfExists, the request is still denied
    # even if the tag is missing."
    policy = doc(
        deny("s3:*", Condition={"StringNotEqualsIfExists": {"aws:PrincipalTag/team": "data"}}),
        allow("s3:*"),
    )
    assert decide("s3:GetObject", "*", [policy]).outcome is Outcome.EXPLICIT_DENY
    tagged = {"aws:PrincipalTag/team": "data"}
    assert decide("s3:GetObject", "*", [policy], context=tagged).outcome is Outcome.ALLOW


@pytest.mark.parametrize(
    "operator", ["StringNotLike", "ArnNotLike", "StringNotEquals", "NumericNotEquals"]
)
def test_negated_operators_are_true_for_a_missing_key(operator: str) -> None:
    # CONDITION_OPERATORS, "Important": "If the policy condition requires that the key is not
    # matched, such as StringNotLike or ArnNotLike, and the right key is not present, the
    # condition is true."
    policy = doc(allow("s3:GetObject", Condition={operator: {"some:key": "1"}}))
    assert allowed("s3:GetObject", "*", [policy])


def test_null_checks_whether_a_key_is_present() -> None:
    # CONDITION_OPERATORS, Null: "the user must not be using temporary credentials".
    policy = doc(allow("ec2:*", Condition={"Null": {"aws:TokenIssueTime": "true"}}))
    assert allowed("ec2:DescribeInstances", "*", [policy])
    temporary = {"aws:TokenIssueTime": "2024-01-01T00:00:00Z"}
    assert not allowed("ec2:DescribeInstances", "*", [policy], context=temporary)
    present = doc(allow("ec2:*", Condition={"Null": {"aws:TokenIssueTime": False}}))
    assert allowed("ec2:DescribeInstances", "*", [present], context=temporary)


def test_string_equals_is_case_sensitive_and_ignore_case_is_not() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html:
    # "Users named JohnDoe are denied access" with StringEquals; StringEqualsIgnoreCase matches
    # "johndoe or JohnDoe".
    def result(operator: str, name: str) -> bool:
        policy = doc(allow("s3:GetObject", Condition={operator: {"aws:username": "johndoe"}}))
        return allowed("s3:GetObject", "*", [policy], context={"aws:username": name})

    assert result("StringEquals", "johndoe")
    assert not result("StringEquals", "JohnDoe")
    assert result("StringEqualsIgnoreCase", "JohnDoe")
    assert not result("StringNotEqualsIgnoreCase", "JohnDoe")


def test_condition_key_names_are_case_insensitive() -> None:
    # Same page: "including the aws:SourceIP condition key is equivalent to testing for
    # AWS:SourceIp".
    policy = doc(allow("s3:GetObject", Condition={"IpAddress": {"aws:SourceIP": "10.0.0.0/8"}}))
    assert allowed("s3:GetObject", "*", [policy], context={"AWS:SourceIp": "10.1.2.3"})


# --- Multiple keys and values, set operators ---------------------------------------------------

# SET_OPERATORS: "allows a user to request only the attributes PostDateTime, Message, or Tags".
THREAD = "arn:aws:dynamodb:eu-west-1:123456789012:table/Thread"
ONLY_SOME_ATTRIBUTES = doc(
    allow(
        "dynamodb:GetItem",
        THREAD,
        Condition={
            "ForAllValues:StringLike": {
                "dynamodb:requestedAttributes": ["PostDateTime", "Message", "Tags"]
            }
        },
    )
)
NO_ID_UPDATES = doc(
    deny(
        "dynamodb:PutItem",
        THREAD,
        Condition={
            "ForAnyValue:StringLike": {"dynamodb:requestedAttributes": ["ID", "PostDateTime"]}
        },
    ),
    allow("dynamodb:PutItem", THREAD),
)


def attributes(*names: str) -> dict[str, Any]:
    return {"dynamodb:requestedAttributes": list(names)}


def test_for_all_values_needs_every_requested_value_in_the_policy() -> None:
    get = "dynamodb:GetItem"
    assert allowed(
        get, THREAD, [ONLY_SOME_ATTRIBUTES], context=attributes("PostDateTime", "Message")
    )
    assert not allowed(
        get, THREAD, [ONLY_SOME_ATTRIBUTES], context=attributes("PostDateTime", "UserName")
    )


def test_for_any_value_denies_when_one_requested_value_matches() -> None:
    put = "dynamodb:PutItem"
    three = attributes("UserName", "Message", "PostDateTime")
    assert decide(put, THREAD, [NO_ID_UPDATES], context=three).outcome is Outcome.EXPLICIT_DENY
    assert decide(put, THREAD, [NO_ID_UPDATES], context=attributes("UserName")).allowed


def test_an_empty_set_is_true_for_all_values_and_false_for_any_value() -> None:
    # SET_OPERATORS, "Note": "If the key values in the request resolve to an empty data set (for
    # example, an empty string), a condition operator modified by ForAllValues returns true, and
    # a condition operator modified by ForAnyValue returns false."
    for context in ({}, {"dynamodb:requestedAttributes": [""]}):
        assert allowed("dynamodb:GetItem", THREAD, [ONLY_SOME_ATTRIBUTES], context=context)
        assert decide("dynamodb:PutItem", THREAD, [NO_ID_UPDATES], context=context).allowed


def test_negated_set_operators() -> None:
    # The operator tables of iam.cloudcopilot.io (measured against AWS): ForAllValues:
    # StringNotEquals holds when no request value is in the policy (and for none at all);
    # ForAnyValue:StringNotEquals when some request value is not (never for none).
    def result(operator: str, *keys: str) -> bool:
        policy = doc(
            allow("s3:PutObject", Condition={operator: {"aws:TagKeys": ["DataClass", "Owner"]}})
        )
        context = {"aws:TagKeys": list(keys)} if keys else {}
        return allowed("s3:PutObject", "*", [policy], context=context)

    every, some = "ForAllValues:StringNotEquals", "ForAnyValue:StringNotEquals"
    assert result(every)
    assert result(every, "Dept", "SIC")
    assert not result(every, "Dept", "DataClass")
    assert not result(some)
    assert not result(some, "DataClass", "Owner")
    assert result(some, "Dept", "DataClass")


def test_a_set_qualifier_ignores_if_exists() -> None:
    # iam.cloudcopilot.io, ForAnyValue:StringNotEqualsIfExists: "Any operator starting with
    # ForAnyValue will ignore IfExists."
    policy = doc(
        allow("s3:PutObject", Condition={"ForAnyValue:StringEqualsIfExists": {"aws:TagKeys": "a"}})
    )
    assert not allowed("s3:PutObject", "*", [policy])


# MULTIVALUED: several operators AND, several keys of one operator AND, several values of one
# key OR ("The user making the request must have both department and role principal tag keys
# including one of the tag key values specified", and the principal ARN must match).
TAGGED_AUDITORS = doc(
    {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/*",
        "Condition": {
            "StringEquals": {
                "aws:PrincipalTag/department": ["finance", "hr", "legal"],
                "aws:PrincipalTag/role": ["audit", "security"],
            },
            "ArnLike": {
                "aws:PrincipalArn": [
                    f"arn:aws:iam::{ACCOUNT}:user/Ana",
                    f"arn:aws:iam::{ACCOUNT}:user/Mary",
                ]
            },
        },
    }
)


@pytest.mark.parametrize(
    ("department", "role", "name", "expected"),
    [
        ("hr", "audit", "Mary", True),
        ("legal", "security", "Ana", True),
        ("hr", "developer", "Mary", False),  # one key's values all miss
        ("sales", "audit", "Mary", False),
        ("hr", "audit", "Bob", False),  # the other operator fails
        (None, "audit", "Mary", False),  # a key missing
    ],
)
def test_operators_and_keys_are_anded_values_ored(
    department: str | None, role: str, name: str, expected: bool
) -> None:
    caller = user(name)
    context: dict[str, Any] = {"aws:PrincipalTag/role": role, "aws:PrincipalArn": caller.arn}
    if department is not None:
        context["aws:PrincipalTag/department"] = department
    result = allowed(
        "s3:GetObject",
        "arn:aws:s3:::amzn-s3-demo-bucket/x",
        [],
        [TAGGED_AUDITORS],
        principal=caller,
        context=context,
    )
    assert result is expected


@pytest.mark.parametrize(("role", "denied"), [("audit", False), ("security", False), ("dev", True)])
def test_a_negated_operator_nors_its_values(role: str, denied: bool) -> None:
    # MULTIVALUED: "If a single negated matching condition operator includes multiple values for
    # a context key, those values are evaluated using a logical NOR."
    policy = doc(
        deny(
            "s3:*", Condition={"StringNotEquals": {"aws:PrincipalTag/role": ["audit", "security"]}}
        ),
        allow("s3:*"),
    )
    decision = decide("s3:GetObject", "*", [policy], context={"aws:PrincipalTag/role": role})
    assert (decision.outcome is Outcome.EXPLICIT_DENY) is denied


# --- Policy variables --------------------------------------------------------------------------


def test_a_variable_in_resource_takes_the_request_value() -> None:
    # VARIABLES: "allows each user to manage his or her own access keys".
    policy = doc(allow("iam:*AccessKey*", f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}"))
    context = {"aws:username": "David"}
    assert allowed(
        "iam:CreateAccessKey", f"arn:aws:iam::{ACCOUNT}:user/David", [policy], context=context
    )
    assert not allowed(
        "iam:CreateAccessKey", f"arn:aws:iam::{ACCOUNT}:user/Bob", [policy], context=context
    )


def test_a_variable_with_text_around_it_in_the_resource_part() -> None:
    # VARIABLES: the "${aws:username}-queue" example.
    policy = doc(allow("sqs:*", "arn:aws:sqs:us-east-2:*:${aws:username}-queue"))
    context = {"aws:username": "David"}
    assert allowed(
        "sqs:SendMessage", f"arn:aws:sqs:us-east-2:{ACCOUNT}:David-queue", [policy], context=context
    )
    assert not allowed(
        "sqs:SendMessage", f"arn:aws:sqs:us-east-2:{ACCOUNT}:Bob-queue", [policy], context=context
    )


def test_variables_are_text_before_the_2012_version() -> None:
    # VARIABLES: "If you don't include the Version element and set it to an appropriate version
    # date, variables like ${aws:username} are treated as literal strings in the policy."
    old = doc(allow("s3:GetObject", "arn:aws:s3:::b/${aws:username}/*"), version="2008-10-17")
    context = {"aws:username": "David"}
    assert not allowed("s3:GetObject", "arn:aws:s3:::b/David/x", [old], context=context)
    assert allowed("s3:GetObject", "arn:aws:s3:::b/${aws:username}/x", [old], context=context)


def test_special_character_variables_are_literal() -> None:
    # VARIABLES, "Special characters": ${*}, ${?} and ${$} stand for the characters themselves.
    policy = doc(allow("s3:GetObject", "arn:aws:s3:::b/${*}${?}${$}"))
    assert allowed("s3:GetObject", "arn:aws:s3:::b/*?$", [policy])
    assert not allowed("s3:GetObject", "arn:aws:s3:::b/anything", [policy])
    like = doc(allow("s3:ListBucket", Condition={"StringLike": {"s3:prefix": "a${*}"}}))
    assert allowed("s3:ListBucket", "*", [like], context={"s3:prefix": "a*"})
    assert not allowed("s3:ListBucket", "*", [like], context={"s3:prefix": "abc"})


def test_a_variable_default_value() -> None:
    # VARIABLES, "Specifying default values": the team bucket, company-wide without a tag.
    policy = doc(
        allow(
            "s3:GetObject",
            "arn:aws:s3:::DOC-EXAMPLE-BUCKET-${aws:PrincipalTag/team, 'company-wide'}/*",
        )
    )
    yellow = {"aws:PrincipalTag/team": "yellow"}
    assert allowed(
        "s3:GetObject", "arn:aws:s3:::DOC-EXAMPLE-BUCKET-yellow/x", [policy], context=yellow
    )
    assert allowed("s3:GetObject", "arn:aws:s3:::DOC-EXAMPLE-BUCKET-company-wide/x", [policy])
    assert not allowed("s3:GetObject", "arn:aws:s3:::DOC-EXAMPLE-BUCKET-yellow/x", [policy])


def test_a_variable_with_no_value() -> None:
    # VARIABLES, "Policy variables with no value": a Resource with one "will not match any
    # resource"; StringEquals does not match, "Inverted condition operators like
    # StringNotEquals or StringNotLike do match against a null value".
    resource = doc(allow("s3:GetObject", "arn:aws:s3:::b/${aws:PrincipalTag/team}/*"))
    assert not allowed("s3:GetObject", "arn:aws:s3:::b//x", [resource])
    team = {"s3:ExistingObjectTag/Team": "red"}

    def result(operator: str) -> bool:
        value = "${aws:PrincipalTag/Team}"
        policy = doc(
            allow("s3:GetObject", Condition={operator: {"s3:ExistingObjectTag/Team": value}})
        )
        return allowed("s3:GetObject", "*", [policy], context=team)

    assert not result("StringEquals")
    assert result("StringNotEquals")
    tagged = {**team, "aws:PrincipalTag/Team": "red"}
    policy = doc(
        allow(
            "s3:GetObject",
            Condition={"StringEquals": {"s3:ExistingObjectTag/Team": "${aws:PrincipalTag/Team}"}},
        )
    )
    assert allowed("s3:GetObject", "*", [policy], context=tagged)


def test_variables_are_not_substituted_in_numeric_conditions() -> None:
    # CONDITION_OPERATORS, Numeric: "You can not use a policy variable with the Numeric
    # condition operator": the value is malformed, not a variable.
    policy = doc(
        allow("s3:ListBucket", Condition={"NumericEquals": {"s3:max-keys": "${aws:username}"}})
    )
    decision = decide(
        "s3:ListBucket", "*", [policy], context={"s3:max-keys": "5", "aws:username": "5"}
    )
    assert decision.outcome is Outcome.UNSUPPORTED
    assert "malformed value" in decision.reason


# --- KMS key policies --------------------------------------------------------------------------
# https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html

KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ENABLE_IAM = doc(
    {
        "Sid": "Enable IAM policies",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
)
KEY_USER_ONLY = doc(
    {
        "Sid": "Allow use of the key",
        "Effect": "Allow",
        "Principal": {"AWS": ROLE.arn},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
    }
)
MAY_DECRYPT = doc(allow("kms:Decrypt", KEY))


def test_the_account_statement_of_a_key_policy_enables_iam_policies() -> None:
    decision = decide("kms:Decrypt", KEY, [MAY_DECRYPT], [Policy(ENABLE_IAM, "key policy")])
    assert decision.outcome is Outcome.ALLOW
    assert "'Enable IAM policies'" in decision.reason


def test_without_it_an_iam_allow_is_ineffective() -> None:
    # "Without this permission, IAM policies that allow access to the key are ineffective."
    other = Principal.role(f"arn:aws:iam::{ACCOUNT}:role/Other")
    decision = decide("kms:Decrypt", KEY, [MAY_DECRYPT], [KEY_USER_ONLY], principal=other)
    assert decision.outcome is Outcome.IMPLICIT_DENY
    assert "key policy" in decision.reason
    assert not allowed("kms:Decrypt", KEY, [MAY_DECRYPT], [])  # a key always has a key policy


def test_a_key_policy_may_allow_the_caller_by_itself() -> None:
    assert allowed("kms:Decrypt", KEY, [], [KEY_USER_ONLY])
    assert not allowed("kms:Decrypt", KEY, [], [ENABLE_IAM])  # delegation alone grants nothing


def test_iam_policies_that_deny_the_key_still_deny() -> None:
    # "... although IAM policies that deny access to the key are still effective."
    no = doc(deny("kms:Decrypt", KEY))
    assert decide("kms:Decrypt", KEY, [no], [KEY_USER_ONLY]).outcome is Outcome.EXPLICIT_DENY


def test_a_key_policy_is_inferred_for_kms_actions_on_keys() -> None:
    # Without the key-policy rule an identity allow would be enough; kms: on a key ARN infers it.
    assert not allowed("kms:Decrypt", KEY, [MAY_DECRYPT], [KEY_USER_ONLY], principal=user("x"))
    assert allowed(
        "kms:Decrypt", KEY, [MAY_DECRYPT], [KEY_USER_ONLY], principal=user("x"), key_policy=False
    )
    assert allowed("kms:ListKeys", "*", [doc(allow("kms:ListKeys"))])


LOG_GROUPS = f"arn:aws:logs:eu-west-1:{ACCOUNT}"
# The hardened profile's key policy (resolved from the regulated template): the logs statement.
LOGS_KEY_POLICY = doc(
    {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "kms:*",
        "Resource": "*",
    },
    {
        "Effect": "Allow",
        "Principal": {"Service": "logs.eu-west-1.amazonaws.com"},
        "Action": [
            "kms:Decrypt*",
            "kms:Describe*",
            "kms:Encrypt*",
            "kms:GenerateDataKey*",
            "kms:ReEncrypt*",
        ],
        "Resource": "*",
        "Condition": {
            "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"{LOG_GROUPS}:log-group:*"}
        },
    },
)


def test_the_template_key_policy_lets_logs_encrypt_for_log_groups_only() -> None:
    logs = Principal.for_service("logs.eu-west-1.amazonaws.com")
    group = {"kms:EncryptionContext:aws:logs:arn": f"{LOG_GROUPS}:log-group:/aws/lambda/f"}
    assert allowed("kms:GenerateDataKey", KEY, [], [LOGS_KEY_POLICY], principal=logs, context=group)
    bucket = {"kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::b"}
    assert not allowed(
        "kms:GenerateDataKey", KEY, [], [LOGS_KEY_POLICY], principal=logs, context=bucket
    )


def test_the_template_encryption_context_grant_of_the_processor() -> None:
    # The processor's identity statement in the hardened profile: kms:GenerateDataKey only for
    # the state machine's encryption context.
    machine = f"arn:aws:states:eu-west-1:{ACCOUNT}:stateMachine:Split"
    statement = allow(
        "kms:GenerateDataKey",
        KEY,
        Condition={"StringEquals": {"kms:EncryptionContext:aws:states:stateMachineArn": machine}},
    )
    context = {"kms:EncryptionContext:aws:states:stateMachineArn": machine}
    evaluator = Evaluator(["kms:EncryptionContext:*"])
    identity = [doc(statement)]
    assert allowed(
        "kms:GenerateDataKey", KEY, identity, [ENABLE_IAM], context=context, evaluator=evaluator
    )
    assert not allowed("kms:GenerateDataKey", KEY, identity, [ENABLE_IAM], evaluator=evaluator)


def test_the_template_tls_only_bucket_policy() -> None:
    # The bucket policy every environment synthesizes (R8): Deny s3:* unless over TLS.
    tls_only = doc(
        {
            "Action": "s3:*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Resource": ["arn:aws:s3:::uploads", "arn:aws:s3:::uploads/*"],
        }
    )
    identity = [doc(allow("s3:GetObject", "arn:aws:s3:::uploads/incoming/*"))]
    evaluator = Evaluator(["aws:SecureTransport"])
    key = "arn:aws:s3:::uploads/incoming/j1"
    secure = {"aws:SecureTransport": True}
    assert allowed("s3:GetObject", key, identity, [tls_only], context=secure, evaluator=evaluator)
    decision = decide(
        "s3:GetObject",
        key,
        identity,
        [tls_only],
        context={"aws:SecureTransport": False},
        evaluator=evaluator,
    )
    assert decision.outcome is Outcome.EXPLICIT_DENY


# --- what cannot be evaluated is denied, and says so -------------------------------------------

ONLY_TLS = Evaluator(["aws:SecureTransport"])


def test_an_unknown_operator_is_a_denial_naming_it() -> None:
    policy = doc(allow("s3:GetObject", Condition={"StringEqualz": {"aws:SecureTransport": "true"}}))
    decision = decide("s3:GetObject", "*", [policy], evaluator=ONLY_TLS)
    assert decision.outcome is Outcome.UNSUPPORTED
    assert "StringEqualz" in decision.reason


def test_an_unknown_operator_in_a_deny_denies_even_what_another_statement_allows() -> None:
    # AWS refuses such a policy when it is saved: whatever it would have said is unknown.
    policy = doc(
        allow("s3:*"),
        deny("s3:DeleteObject", Condition={"NullIfExists": {"aws:SecureTransport": "true"}}),
    )
    decision = decide("s3:GetObject", "*", [policy], evaluator=ONLY_TLS)
    assert decision.outcome is Outcome.UNSUPPORTED
    assert "NullIfExists" in decision.reason


def test_an_unsupported_key_in_a_deny_is_a_denial_naming_it() -> None:
    policy = doc(
        allow("s3:*"),
        deny("s3:*", Condition={"StringNotEquals": {"aws:PrincipalTag/team": "data"}}),
    )
    decision = decide("s3:GetObject", "*", [policy], evaluator=ONLY_TLS)
    assert decision.outcome is Outcome.UNSUPPORTED
    assert decision.reason.startswith("denied: cannot evaluate statement #1")
    assert "'aws:PrincipalTag/team'" in decision.reason


def test_an_unsupported_key_in_an_allow_denies_unless_another_statement_allows() -> None:
    tagged = allow("s3:*", Condition={"StringEquals": {"aws:PrincipalTag/team": "data"}})
    decision = decide("s3:GetObject", "*", [doc(tagged)], evaluator=ONLY_TLS)
    assert decision.outcome is Outcome.UNSUPPORTED
    assert "aws:PrincipalTag/team" in decision.reason
    assert decision.unsupported
    both = doc(tagged, allow("s3:GetObject"))
    assert decide("s3:GetObject", "*", [both], evaluator=ONLY_TLS).outcome is Outcome.ALLOW


def test_a_condition_known_false_decides_the_block_whatever_the_unsupported_keys() -> None:
    statement = deny(
        "s3:*",
        Condition={
            "Bool": {"aws:SecureTransport": "false"},
            "StringEquals": {"aws:PrincipalTag/team": "data"},
        },
    )
    policies = [doc(statement, allow("s3:*"))]
    secure = {"aws:SecureTransport": True}
    assert decide("s3:GetObject", "*", policies, context=secure, evaluator=ONLY_TLS).allowed
    insecure = {"aws:SecureTransport": False}
    decision = decide("s3:GetObject", "*", policies, context=insecure, evaluator=ONLY_TLS)
    assert decision.outcome is Outcome.UNSUPPORTED


def test_an_unsupported_policy_variable_is_named() -> None:
    policy = doc(allow("s3:GetObject", "arn:aws:s3:::b/${aws:PrincipalTag/team}/*"))
    decision = decide("s3:GetObject", "arn:aws:s3:::b/x/y", [policy], evaluator=ONLY_TLS)
    assert decision.outcome is Outcome.UNSUPPORTED
    assert "${aws:PrincipalTag/team}" in decision.reason


def test_statements_that_do_not_apply_are_not_evaluated() -> None:
    policy = doc(
        allow("s3:GetObject"),
        deny("dynamodb:*", Condition={"StringEquals": {"aws:PrincipalTag/team": "data"}}),
    )
    assert decide("s3:GetObject", "*", [policy], evaluator=ONLY_TLS).allowed


def test_supported_keys_are_patterns_and_case_insensitive() -> None:
    evaluator = Evaluator(["kms:EncryptionContext:*", "AWS:SourceArn"])
    assert evaluator.supports("kms:encryptioncontext:aws:s3:arn")
    assert evaluator.supports("aws:sourcearn")
    assert not evaluator.supports("kms:EncryptionContextKeys")
    assert not evaluator.supports("aws:SourceAccount")


@pytest.mark.parametrize(
    ("identity", "resources", "problem"),
    [
        ([doc({**allow("s3:*"), "Principal": "*"})], [], "cannot have Principal"),
        ([doc(allow("s3:*", {"Fn::GetAtt": ["Bucket", "Arn"]}))], [], "unresolved CloudFormation"),
        ([], [doc(allow("s3:*"))], "needs Principal"),
        ([doc({"Effect": "Permit", "Action": "s3:*", "Resource": "*"})], [], "Effect must be"),
        ([doc({"Effect": "Allow", "Action": "s3:*"})], [], "needs Resource"),
        ([doc({**allow("s3:*"), "Actions": "x"})], [], "unknown statement element"),
        ([doc(allow("GetObject"))], [], "not service:action"),
        ([doc(allow("s3:*", Condition={"StringEquals": {"k": {"Ref": "X"}}}))], [], "unresolved"),
        ([{"Statement": "nope"}], [], "no Statement list"),
    ],
)
def test_malformed_policies_are_denials_naming_the_problem(
    identity: list[Any], resources: list[Any], problem: str
) -> None:
    decision = decide("s3:GetObject", "arn:aws:s3:::b/k", identity, resources)
    assert decision.outcome is Outcome.UNSUPPORTED
    assert problem in decision.reason


def test_every_documented_operator_family_is_known() -> None:
    families = ["String", "Numeric", "Date"]
    comparisons = {
        "String": [
            "Equals",
            "NotEquals",
            "EqualsIgnoreCase",
            "NotEqualsIgnoreCase",
            "Like",
            "NotLike",
        ],
        "Numeric": [
            "Equals",
            "NotEquals",
            "LessThan",
            "LessThanEquals",
            "GreaterThan",
            "GreaterThanEquals",
        ],
        "Date": [
            "Equals",
            "NotEquals",
            "LessThan",
            "LessThanEquals",
            "GreaterThan",
            "GreaterThanEquals",
        ],
    }
    expected = {f"{family}{c}" for family in families for c in comparisons[family]}
    expected |= {"Bool", "BinaryEquals", "IpAddress", "NotIpAddress", "Null"}
    expected |= {"ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"}
    assert expected == OPERATORS


def test_the_module_function_and_reasons() -> None:
    request = Request(ROLE, "s3:GetObject", "arn:aws:s3:::b/k")
    decision = evaluate(
        request,
        [Policy(doc({"Sid": "Read", **allow("s3:GetObject")}), "reader")],
        supported_keys=(),
    )
    assert decision.allowed
    assert str(decision) == "allowed by statement 'Read' of identity policy 'reader'"
    assert decision.statement is not None and decision.statement.sid == "Read"
    unnamed = evaluate(request, [doc(allow("s3:GetObject"))], supported_keys=())
    assert "statement #0 of identity policy 'identity #0'" in unnamed.reason


def test_role_principals_and_their_sessions() -> None:
    role = Principal.role("arn:aws:iam::123456789012:role/service-role/Worker", "fn-1")
    assert role.account == "123456789012"
    assert role.session_arn == "arn:aws:sts::123456789012:assumed-role/Worker/fn-1"
    assert role.chain() == (
        "arn:aws:iam::123456789012:root",
        "arn:aws:iam::123456789012:role/service-role/Worker",
        "arn:aws:sts::123456789012:assumed-role/Worker/fn-1",
    )
    assert str(role) == role.session_arn
