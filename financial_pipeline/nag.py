"""cdk-nag wiring: the rule packs, and every acknowledgment with its reason.

Acknowledgments are construct metadata (`aws_cdk.Validations`), so the library records them
without depending on cdk-nag at run time; only `add_rule_packs` and `add_report_packs` import
it. Each acknowledgment sits on the narrowest construct that produces the finding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from aws_cdk import Acknowledgment, App, CfnElement, Stack, Validations
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from constructs import IConstruct

from financial_pipeline.api import AuthorizationMode
from financial_pipeline.function import PipelineFunction

if TYPE_CHECKING:
    from financial_pipeline.pipeline import FinancialPipeline

__all__ = [
    "acknowledge",
    "acknowledge_pipeline",
    "add_report_packs",
    "add_rule_packs",
]

# The singleton custom resource CDK adds to a stack for S3 bucket notifications.
_NOTIFICATIONS_HANDLER: Final = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"
_XRAY: Final = (
    "X-Ray's PutTraceSegments and PutTelemetryRecords support no resource-level permissions; "
    "CDK adds them for active tracing (R7)."
)
_SYNC_DLQ: Final = (
    "Invoked synchronously by API Gateway: a dead-letter queue only receives failed "
    "asynchronous events, so it would stay empty; errors go to the caller and raise the "
    "function's error-rate alarm."
)


def acknowledge(construct: IConstruct, *findings: tuple[str, str]) -> None:
    """Acknowledge ``(rule id, reason)`` findings on one construct."""
    Validations.of(construct).acknowledge(
        *(Acknowledgment(id=rule, reason=reason) for rule, reason in findings)
    )


def add_rule_packs(app: App) -> None:
    """The gating packs: AwsSolutions and Serverless (R19)."""
    from cdk_nag import AwsSolutionsChecks, ServerlessChecks  # noqa: PLC0415

    Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))


def add_report_packs(app: App) -> None:
    """The reporting packs: NIST 800-53 rev 5 and PCI DSS 3.2.1 (not gating)."""
    from cdk_nag import NIST80053R5Checks, PCIDSS321Checks  # noqa: PLC0415

    Validations.of(app).add_plugins(NIST80053R5Checks(app), PCIDSS321Checks(app))


def _ref(element: IConstruct | None) -> str:
    """How cdk-nag names a resource in a finding: ``<LogicalId.Arn>``."""
    if not isinstance(element, CfnElement):
        raise TypeError(f"expected a CloudFormation element (got {element!r})")
    return f"<{Stack.of(element).resolve(element.logical_id)}.Arn>"


def _policy(function: PipelineFunction) -> IConstruct:
    return function.role.node.find_child("DefaultPolicy")


def acknowledge_pipeline(pipeline: FinancialPipeline, *, authorization: AuthorizationMode) -> None:
    """Acknowledge the findings the pipeline's design accepts."""
    storage, ingest, api = pipeline.storage, pipeline.ingest, pipeline.api
    bucket = _ref(storage.bucket.node.default_child)
    jobs_index = (
        f"AwsSolutions-IAM5[Resource::{_ref(storage.jobs_table.node.default_child)}/index/*]"
    )
    index_reason = (
        "DynamoDB grants cover the table's indexes; the jobs table has one, ByStatus, which "
        "the sweeper queries for pending and processing jobs."
    )

    def objects(prefix: str, why: str) -> tuple[str, str]:
        return (
            f"AwsSolutions-IAM5[Resource::{bucket}/{prefix}*]",
            f"Object keys are incoming/<jobId>.csv with a job id minted at run time; {why}",
        )

    functions: dict[str, PipelineFunction] = {
        name: construct
        for name in ("Upload", "Status", "Results")
        if isinstance(construct := api.node.find_child(name), PipelineFunction)
    } | {
        name: construct
        for name in ("Processor", "Sweeper")
        if isinstance(construct := ingest.node.find_child(name), PipelineFunction)
    }
    for function in functions.values():
        acknowledge(_policy(function), ("AwsSolutions-IAM5[Resource::*]", _XRAY))
    for name in ("Upload", "Status", "Results"):
        acknowledge(functions[name].function, ("Serverless-LambdaDLQ", _SYNC_DLQ))

    acknowledge(
        _policy(functions["Upload"]),
        objects("incoming/", "the grant is s3:PutObject under incoming/ only."),
        (jobs_index, index_reason),
    )
    acknowledge(
        _policy(functions["Status"]),
        objects("reports/", "the grant is s3:GetObject under reports/ only."),
        (jobs_index, index_reason),
    )
    acknowledge(
        _policy(functions["Processor"]),
        objects("incoming/", "the grant is s3:GetObject and s3:DeleteObject there only."),
        objects("processed/", "the grant is s3:PutObject there only."),
        objects("reports/", "the grant is s3:PutObject there only."),
        (jobs_index, index_reason),
    )
    acknowledge(
        functions["Processor"].function,
        (
            "Serverless-LambdaDLQ",
            "Failed asynchronous events go to an on-failure destination (the failure queue), "
            "which records the error and request context a dead-letter queue would lose (R14).",
        ),
    )
    acknowledge(
        _policy(functions["Sweeper"]),
        objects("incoming/", "the grant is s3:GetObject and s3:DeleteObject there only."),
        objects("processed/", "the grant is s3:PutObject there only (archiving failed jobs)."),
        (jobs_index, index_reason),
        (
            f"AwsSolutions-IAM5[Resource::{_ref(ingest.processor.node.default_child)}:*]",
            "lambda:InvokeFunction on the processor and its versions, to re-drive stuck jobs.",
        ),
    )
    scheduled = (
        "The sweeper is idempotent and runs every few minutes: the next run repeats a failed "
        "one, and failures raise its error-rate alarm, so a queue would only keep stale ticks."
    )
    acknowledge(
        functions["Sweeper"].function,
        ("Serverless-LambdaDLQ", scheduled),
        ("Serverless-LambdaAsyncFailureDestination", scheduled),
    )
    acknowledge(ingest.schedule, ("Serverless-EventBusDLQ", scheduled))

    terminal = (
        "This queue is itself the terminal dead-letter destination of the processor; its depth "
        "raises an alarm and an operator re-drives the jobs."
    )
    acknowledge(
        ingest.failure_queue,
        ("AwsSolutions-SQS3", terminal),
        ("Serverless-SQSRedrivePolicy", terminal),
    )

    acknowledge(
        storage.access_log_bucket,
        (
            "AwsSolutions-S1",
            "This is the server access log bucket; logging it into itself would loop.",
        ),
    )

    for subscription in pipeline.observability.topic.node.children:
        if subscription.node.id != "Resource" and "Subscription" in type(subscription).__name__:
            acknowledge(
                subscription,
                (
                    "Serverless-SNSRedrivePolicy",
                    "E-mail is a courtesy copy of the alarm; the alarm state and history stay "
                    "in CloudWatch when a message cannot be delivered.",
                ),
            )

    _acknowledge_api(api.rest_api, authorization)
    if isinstance(api.user_pool, cognito.UserPool):
        acknowledge(
            api.user_pool,
            (
                "AwsSolutions-COG8",
                "The pool the construct creates has self sign-up disabled and MFA required; "
                "threat protection (Plus plan) is billed per user, so teams that need it pass "
                "their own Plus-plan pool as existing_user_pool.",
            ),
        )

    handler = Stack.of(pipeline).node.try_find_child(_NOTIFICATIONS_HANDLER)
    role = handler.node.try_find_child("Role") if handler else None
    if role is not None:
        acknowledge(
            role,
            (
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaBasicExecutionRole]",
                "CDK's bucket-notification custom resource runs only at deploy time and has no "
                "log group of its own to scope the logging permission to.",
            ),
        )


def _acknowledge_api(rest_api: apigw.RestApi, authorization: AuthorizationMode) -> None:
    acknowledge(
        rest_api.deployment_stage,
        (
            "AwsSolutions-APIG3",
            "Callers are authenticated and the stage is throttled (R6); a WAF web ACL, where "
            "the organisation mandates one, is associated by its central security tooling.",
        ),
    )
    role = rest_api.node.try_find_child("CloudWatchRole")
    if isinstance(role, iam.Role):
        acknowledge(
            role,
            (
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AmazonAPIGatewayPushToCloudWatchLogs]",
                "API Gateway's account-level logging role needs to create log groups named by "
                "API id and stage; the AWS managed policy is the documented minimum.",
            ),
        )
    for method in rest_api.methods:
        if method.http_method == "OPTIONS":
            continue
        if authorization == AuthorizationMode.IAM:
            acknowledge(
                method,
                (
                    "AwsSolutions-COG4",
                    "Authorization is IAM (SigV4): callers are back-office services and scripts "
                    "with IAM roles, not end users with Cognito identities.",
                ),
            )
        elif authorization == AuthorizationMode.NONE:
            reason = (
                "authorization='none' was chosen explicitly for a private demonstration "
                "environment; the default is IAM."
            )
            acknowledge(method, ("AwsSolutions-APIG4", reason), ("AwsSolutions-COG4", reason))
