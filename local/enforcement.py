"""IAM enforcement on the local AWS endpoint (R34): every call it forwards is signed by someone it
knows, and allowed by the template's policies when a role makes it.

`Enforcer.authorize` takes one WSGI request before the endpoint routes it:

1. **Who signed.** The SigV4 signature is recomputed with botocore's signer (the verifier of
   `local.iam`, for any service's scope) from the ``Authorization`` header, a presigned URL's
   query (``X-Amz-Signature``, within ``X-Amz-Expires``) or a presigned POST form (the policy's
   signature; its ``expiration``). The key is a role's (`local.roles`: a function's workers, the
   state machine through moto's engine key ``ak``), or an administrator's: the principals of
   ``.local/credentials`` (a user's ``aws --endpoint-url``) and the local run's own key
   ``testing`` (provisioning, the S3 event poller, the tests' harness) are local administrators,
   whose calls are not evaluated. Any other key, or no signature, is refused as AWS refuses it
   (``InvalidAccessKeyId`` / ``UnrecognizedClientException``, ``SignatureDoesNotMatch``, S3's
   anonymous ``AccessDenied``). An S3 payload is streamed through unread: its declared
   ``x-amz-content-sha256`` is what the signature covers, and the body is not compared with it
   (the JSON services' bodies are read and are).
2. **What AWS would decide.** `local.authz.checks_for` names the action, resource and condition
   keys of every check AWS makes for the request; `local.policy` decides each against the
   role's identity policies and the resource's policies from the template. A presigned request
   is the signer's (the upload function's role must have ``s3:PutObject`` for the POST its
   client sends). A denial answers the service's AccessDenied (`local.authz.access_denied`)
   and logs a line naming role, action and resource.

Not through here, so not checked: what the local run delivers itself (S3 notifications to the
processor, the schedule's invocations, API Gateway's), the async invocation's failure
destination, and DynamoDB's, S3's and SQS's calls to KMS for customer managed keys.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import io
import json
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any
from urllib.parse import parse_qsl

from botocore.auth import SIGV4_TIMESTAMP, UNSIGNED_PAYLOAD, S3SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials
from werkzeug.wsgi import get_input_stream

from local import policy as iam_policy
from local.authz import (
    SUPPLIED_KEYS,
    Check,
    DeniedResponse,
    HttpRequest,
    _form_fields,
    access_denied,
    checks_for,
    denial_message,
    signing_service,
)
from local.iam import (
    MAX_CLOCK_SKEW,
    AuthError,
    LocalCredentials,
    SignedRequest,
    _ListedHeadersSigner,
    _parse_authorization,
    _timestamp,
    is_signed_as_sent,
)
from local.roles import ENGINE_ACCESS_KEY, ENGINE_SECRET_KEY, TemplateIam

__all__ = ["ADMIN_ACCESS_KEY", "Caller", "Denial", "Enforcer"]

log = logging.getLogger("local.iam")

ADMIN_ACCESS_KEY = "testing"
"""The local run's own key (``local.backend.Clients``, secret ``testing``): an administrator."""
ADMIN_SECRET_KEY = "testing"  # noqa: S105 - a local key, no secret
# The fields of a presigned POST come before its file; no form has more than this of them.
_FORM_PREFIX_LIMIT = 1 << 20
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Caller:
    """Who signed a request: a role (``principals``: its session; several for moto's engine
    when the template has several state machines) or a local administrator."""

    label: str
    access_key: str
    secret_key: str
    session_token: str | None
    principals: tuple[iam_policy.Principal, ...] = ()
    roles: tuple[str, ...] = ()
    admin: bool = False
    any_token: bool = False

    def __str__(self) -> str:
        return self.label


@dataclass(frozen=True, slots=True)
class Denial:
    """One refused call, as logged."""

    caller: str
    action: str
    resource: str
    operation: str
    reason: str


class _S3Signer(_ListedHeadersSigner, S3SigV4Auth):
    """S3's signer (the path as sent, not normalized), signing the headers the client listed."""


class _PresignedS3Signer(_S3Signer):
    def payload(self, request: AWSRequest) -> str:
        return UNSIGNED_PAYLOAD


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


class Enforcer:
    """The authorization of the local endpoint for one template's roles."""

    def __init__(
        self,
        roles: TemplateIam,
        *,
        credentials: LocalCredentials | None = None,
        clock: Any = None,
    ) -> None:
        self.roles = roles
        self.template = roles.template
        self.credentials = credentials
        self.evaluator = iam_policy.Evaluator(SUPPLIED_KEYS)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._callers: dict[str, Caller] = {}
        for role in roles.credentials.values():
            principal = roles.session_principal(
                role.role_logical_id, roles.session_name(role.role_logical_id)
            )
            self._callers[role.access_key] = Caller(
                role.role_logical_id,
                role.access_key,
                role.secret_key,
                role.session_token,
                (principal,),
                (role.role_logical_id,),
            )
        engine = roles.engine_roles()
        if engine:
            self._callers[ENGINE_ACCESS_KEY] = Caller(
                "+".join(r.role_logical_id for r in engine) + " (Step Functions)",
                ENGINE_ACCESS_KEY,
                ENGINE_SECRET_KEY,
                None,
                tuple(
                    roles.session_principal(
                        r.role_logical_id, roles.session_name(r.role_logical_id)
                    )
                    for r in engine
                ),
                tuple(r.role_logical_id for r in engine),
                any_token=True,
            )
        self._callers[ADMIN_ACCESS_KEY] = Caller(
            "local administrator (testing)",
            ADMIN_ACCESS_KEY,
            ADMIN_SECRET_KEY,
            None,
            admin=True,
            any_token=True,
        )
        self._lock = threading.Lock()
        self.denials: collections.deque[Denial] = collections.deque(maxlen=1000)
        self.allowed = 0

    # The caller

    def caller(self, access_key: str) -> Caller | None:
        found = self._callers.get(access_key)
        if found is not None or self.credentials is None:
            return found
        principal = self.credentials.by_access_key(access_key)
        if principal is None:
            return None
        return Caller(
            f"local principal {principal.arn}",
            principal.access_key,
            principal.secret_key,
            principal.session_token,
            admin=True,
        )

    # WSGI

    def owner(self, access_key: str, peers: Sequence[Enforcer] = ()) -> Enforcer:
        """The enforcer whose template has the role of ``access_key``: this one's first (the
        administrators' and moto's engine key too, when it has a state machine), then the
        ``peers``' in their order."""
        for enforcer in (self, *peers):
            if access_key in enforcer._callers:
                return enforcer
        return self

    def authorize(
        self, environ: dict[str, Any], peers: Sequence[Enforcer] = ()
    ) -> DeniedResponse | None:
        """None when the request may go on (its body, if read, is put back in ``environ``:
        ``local.body``); otherwise the response to answer. ``peers``: the enforcers of the
        other templates on the same endpoint; a call signed by one of their roles is verified
        and decided by that one (`owner`), so each template's roles keep their own policies."""
        raw_path = str(environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ["PATH_INFO"])
        path, _, query = raw_path.partition("?")
        headers = _headers(environ)
        method = str(environ["REQUEST_METHOD"])
        probe = HttpRequest(method, path, query, headers, b"")
        body = self._body(environ, probe, signing_service(probe) or "")
        request = HttpRequest(method, path, query, headers, body)
        service = signing_service(request) or ""
        request = HttpRequest(method, path, query, headers, body, service)
        try:
            owner, caller = self._verify(request, service or "s3", peers)
        except AuthError as exc:
            log.warning("%s %s refused: %s", method, path, exc.message)
            return _auth_failure(service, request, exc)
        if caller.admin:
            return None
        return owner._evaluate(caller, request)

    def _body(self, environ: dict[str, Any], probe: HttpRequest, service: str) -> bytes:
        """What the checks need of the body; the body the endpoint forwards is set in
        ``environ`` (``local.body``) whenever any of it was read."""
        if probe.method.upper() == "POST" and _is_form(probe):
            # A presigned POST: its fields (and signature) come before the file, streamed on.
            stream = _input(environ)
            prefix = _form_prefix(stream)
            environ["local.body"] = _prefixed(prefix, stream)
            return prefix
        if service == "s3" and not (
            probe.method.upper() == "POST" and "delete" in probe.query_params()
        ):
            return b""
        body = _input(environ).read() if _has_body(environ) else b""
        environ["local.body"] = body
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("wsgi.input_terminated", None)
        return body

    # Signatures

    def _verify(
        self, request: HttpRequest, service: str, peers: Sequence[Enforcer] = ()
    ) -> tuple[Enforcer, Caller]:
        signed = SignedRequest(
            request.method, request.path, request.query, list(request.headers.items()), request.body
        )
        authorization = request.header("Authorization")
        if authorization:
            return self._verify_header(signed, authorization, peers)
        params = parse_qsl(request.query, keep_blank_values=True)
        if any(name == "X-Amz-Signature" for name, _ in params):
            return self._verify_query(signed, params, peers)
        fields = _form_fields(request) if request.method.upper() == "POST" else {}
        if "x-amz-signature" in fields:
            return self._verify_form(fields, peers)
        raise AuthError("ANONYMOUS", "Anonymous access is not allowed locally.", "AccessDenied")

    def _known(
        self, access_key: str, token: str | None, peers: Sequence[Enforcer] = ()
    ) -> tuple[Enforcer, Caller]:
        owner = self.owner(access_key, peers)
        caller = owner.caller(access_key)
        if caller is None:
            raise AuthError(
                "UNKNOWN_KEY",
                "The AWS Access Key Id you provided does not exist in our records.",
                "InvalidAccessKeyId",
            )
        if caller.any_token:
            return owner, caller
        if (caller.session_token or None) != (token or None) or (
            token and caller.session_token and not hmac.compare_digest(token, caller.session_token)
        ):
            raise AuthError(
                "BAD_TOKEN",
                "The security token included in the request is invalid.",
                "InvalidToken",
            )
        return owner, caller

    def _verify_header(
        self, request: SignedRequest, authorization: str, peers: Sequence[Enforcer] = ()
    ) -> tuple[Enforcer, Caller]:
        fields = _parse_authorization(authorization)
        scope = fields["Credential"].split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            raise _mismatch("Credential must have exactly 5 slash-delimited elements.")
        access_key, scope_date, region, service, _ = scope
        tokens = request.header("x-amz-security-token")
        owner, caller = self._known(access_key, tokens[-1] if tokens else None, peers)
        timestamp, moment = _timestamp(request)
        if scope_date != timestamp[:8]:
            raise _mismatch("Date in Credential scope does not match the request's date.")
        if service != "s3":
            declared = request.header("x-amz-content-sha256")
            if declared and declared[-1] != hashlib.sha256(request.body).hexdigest():
                raise _mismatch()
            if not is_signed_as_sent(request.raw_path or "/"):
                raise _mismatch()
        names = fields["SignedHeaders"].split(";")
        params = parse_qsl(request.raw_query, keep_blank_values=True)
        expected = self._signature(
            request,
            params=params,
            signed_names=names,
            timestamp=timestamp,
            caller=caller,
            region=region,
            service=service,
            presigned=False,
        )
        if not hmac.compare_digest(expected.encode(), fields["Signature"].encode()):
            raise _mismatch()
        self._check_clock(moment)
        return owner, caller

    def _verify_query(
        self, request: SignedRequest, params: list[tuple[str, str]], peers: Sequence[Enforcer] = ()
    ) -> tuple[Enforcer, Caller]:
        values = dict(params)
        scope = values.get("X-Amz-Credential", "").split("/")
        if len(scope) != 5 or values.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
            raise AuthError(
                "BAD_QUERY",
                "Query-string authentication requires AWS4-HMAC-SHA256.",
                "AuthorizationQueryParametersError",
            )
        access_key, scope_date, region, service, _ = scope
        owner, caller = self._known(access_key, values.get("X-Amz-Security-Token"), peers)
        timestamp = values.get("X-Amz-Date", "")
        try:
            moment = datetime.strptime(timestamp, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
            expires = int(values.get("X-Amz-Expires", "0"))
        except ValueError:
            raise _mismatch("X-Amz-Date or X-Amz-Expires is malformed.") from None
        if scope_date != timestamp[:8]:
            raise _mismatch()
        names = values.get("X-Amz-SignedHeaders", "host").split(";")
        unsigned = [(k, v) for k, v in params if k != "X-Amz-Signature"]
        expected = self._signature(
            request,
            params=unsigned,
            signed_names=names,
            timestamp=timestamp,
            caller=caller,
            region=region,
            service=service,
            presigned=True,
        )
        if not hmac.compare_digest(expected.encode(), values["X-Amz-Signature"].encode()):
            raise _mismatch()
        now = self._clock()
        if now > moment + timedelta(seconds=expires):
            raise AuthError("EXPIRED", "Request has expired", "AccessDenied")
        if moment > now + MAX_CLOCK_SKEW:
            raise AuthError("EXPIRED", "Request is not yet valid", "AccessDenied")
        return owner, caller

    def _verify_form(
        self, fields: dict[str, str], peers: Sequence[Enforcer] = ()
    ) -> tuple[Enforcer, Caller]:
        scope = fields.get("x-amz-credential", "").split("/")
        if len(scope) != 5 or fields.get("x-amz-algorithm") != "AWS4-HMAC-SHA256":
            raise AuthError("BAD_FORM", "POST requires AWS4-HMAC-SHA256.", "InvalidArgument")
        access_key, scope_date, region, service, _ = scope
        owner, caller = self._known(access_key, fields.get("x-amz-security-token"), peers)
        document = fields.get("policy", "")
        key = _signing_key(caller.secret_key, scope_date, region, service)
        expected = hmac.new(key, document.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), fields.get("x-amz-signature", "").encode()):
            raise _mismatch()
        try:
            expiration = json.loads(base64.b64decode(document))["expiration"]
            ends = datetime.fromisoformat(str(expiration).replace("Z", "+00:00"))
        except (ValueError, KeyError, TypeError):
            raise AuthError(
                "BAD_FORM", "Invalid Policy: Invalid JSON.", "InvalidPolicyDocument"
            ) from None
        if self._clock() > ends:
            raise AuthError(
                "EXPIRED", "Invalid according to Policy: Policy expired.", "AccessDenied"
            )
        return owner, caller

    @staticmethod
    def _signature(
        request: SignedRequest,
        *,
        params: list[tuple[str, str]],
        signed_names: list[str],
        timestamp: str,
        caller: Caller,
        region: str,
        service: str,
        presigned: bool,
    ) -> str:
        wanted = set(signed_names)
        aws_request = AWSRequest(
            method=request.method, url="http://local" + (request.raw_path or "/"), data=request.body
        )
        aws_request.params = params  # type: ignore[assignment]
        headers = HTTPHeaders()
        for name, value in request.headers:
            if name.lower() in wanted:
                headers[name.lower()] = value
        aws_request.headers = headers
        aws_request.context["timestamp"] = timestamp
        signer_class = (
            _PresignedS3Signer
            if presigned
            else _S3Signer
            if service == "s3"
            else _ListedHeadersSigner
        )
        signer = signer_class(
            Credentials(caller.access_key, caller.secret_key, caller.session_token), service, region
        )
        canonical = signer.canonical_request(aws_request)
        return str(signer.signature(signer.string_to_sign(aws_request, canonical), aws_request))

    def _check_clock(self, moment: datetime) -> None:
        now = self._clock()
        if moment < now - MAX_CLOCK_SKEW or moment > now + MAX_CLOCK_SKEW:
            raise AuthError(
                "SKEW",
                "The difference between the request time and the current time is too large.",
                "RequestTimeTooSkewed",
            )

    # Policies

    def _evaluate(self, caller: Caller, request: HttpRequest) -> DeniedResponse | None:
        first = caller.principals[0]
        checks = checks_for(
            request,
            region=self.template.region,
            account=self.template.account_id,
            principal=first,
        )
        for check in checks:
            decision = self._decide(caller, check)
            if decision is not None and decision.allowed:
                continue
            message = denial_message(check, first, decision)
            reason = (
                decision.reason if decision is not None else f"unknown request {check.operation}"
            )
            with self._lock:
                self.denials.append(
                    Denial(caller.label, check.action, check.resource, check.operation, reason)
                )
            log.warning(
                "IAM denied: role %s may not %s on %s (%s): %s",
                caller.label,
                check.action,
                check.resource,
                check.operation,
                reason,
            )
            return access_denied(check, message, request=request)
        with self._lock:
            self.allowed += 1
        return None

    def _decide(self, caller: Caller, check: Check) -> iam_policy.Decision | None:
        if not check.known:
            return None
        resource_policies = self.roles.resource_policies(check.resource)
        decision: iam_policy.Decision | None = None
        for principal, role in zip(caller.principals, caller.roles, strict=True):
            context = dict(check.context)
            context["aws:PrincipalArn"] = principal.arn
            request = iam_policy.Request(principal, check.action, check.resource, context)
            decision = self.evaluator.evaluate(
                request, self.roles.identity_policies[role], resource_policies
            )
            if decision.allowed:
                return decision
        return decision


# --- helpers -------------------------------------------------------------------------------------


def _mismatch(message: str = "") -> AuthError:
    return AuthError(
        "INVALID_SIGNATURE",
        message
        or "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
        "SignatureDoesNotMatch",
    )


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").title()] = str(value)
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value != "":
            headers[key.replace("_", "-").title()] = str(value)
    return headers


def _is_form(request: HttpRequest) -> bool:
    return "multipart/form-data" in (request.header("Content-Type") or "")


def _has_body(environ: dict[str, Any]) -> bool:
    return bool(environ.get("wsgi.input_terminated") or environ.get("CONTENT_LENGTH"))


def _input(environ: dict[str, Any]) -> Any:
    if environ.get("wsgi.input_terminated"):
        return environ["wsgi.input"]
    return get_input_stream(environ)


def _form_prefix(stream: Any) -> bytes:
    """The body up to the file part's first bytes (its fields), read from ``stream``."""
    buffer = b""
    while len(buffer) < _FORM_PREFIX_LIMIT:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        buffer += chunk
        at = buffer.find(b'name="file"')
        if at >= 0 and b"\r\n\r\n" in buffer[at:]:
            break
    return buffer


def _prefixed(prefix: bytes, stream: Any) -> Iterator[bytes]:
    yield prefix
    while chunk := stream.read(_CHUNK):
        yield chunk


_JSON_AUTH = {"dynamodb", "states", "events", "kms", "sqs", "logs", "monitoring", "xray"}


def _auth_failure(service: str, request: HttpRequest, error: AuthError) -> DeniedResponse:
    """A refused signature in the service's error shape."""
    code = error.error_type
    if service in ("", "s3"):
        headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/xml"),)
        if request.method.upper() == "HEAD":
            return DeniedResponse(403, headers, b"")
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{escape(error.message)}</Message>"
            "<RequestId>local</RequestId></Error>"
        )
        return DeniedResponse(403, headers, body.encode())
    json_code = {
        "InvalidAccessKeyId": "UnrecognizedClientException",
        "InvalidToken": "UnrecognizedClientException",
        "SignatureDoesNotMatch": "InvalidSignatureException",
        "AccessDenied": "MissingAuthenticationTokenException",
    }.get(code, code)
    if service == "lambda":
        headers = (("Content-Type", "application/json"), ("x-amzn-ErrorType", json_code))
        return DeniedResponse(403, headers, json.dumps({"message": error.message}).encode())
    if service in ("sns", "sts"):
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{json_code}</Code>"
            f"<Message>{error.message}</Message></Error><RequestId>local</RequestId>"
            "</ErrorResponse>"
        )
        return DeniedResponse(403, (("Content-Type", "text/xml"),), body.encode())
    status = 400 if service in _JSON_AUTH else 403
    headers = (("Content-Type", "application/x-amz-json-1.0"),)
    payload = json.dumps({"__type": json_code, "message": error.message}).encode()
    return DeniedResponse(status, headers, payload)
