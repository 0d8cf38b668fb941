"""IAM authorization of the local API (R29): SigV4 signatures checked against local principals.

The principals live in an AWS shared-credentials file (``.local/credentials`` in the checkout,
ignored by git), one profile per principal, so the AWS CLI, boto3 and ``curl --aws-sigv4`` use
it like any profile. Beside its keys each profile names the principal the key belongs to
(``principal_arn``), its unique id (``principal_id``, ``AIDA...`` as IAM gives users) and the
API's region; botocore ignores keys it does not know for credentials and reads ``region`` as the
profile's region. The handlers get the principal in ``requestContext.identity`` as API Gateway
passes it (`Principal.identity`).

A signature is checked by recomputing it with botocore's own SigV4 signer over the request as it
arrived (method, path as sent, query, the headers the client listed, the body) at the client's
``X-Amz-Date``, and comparing in constant time. SigV4 signs a path with its dot segments removed
and its empty segments collapsed (and a URL parser drops a ``#`` fragment), so a signature over
``/status/abc`` would also hold for ``/status/x/../abc``, ``//status//abc`` or ``/status/abc#z``:
only a path that is already in that form is verified (`is_signed_as_sent`), and the gateway
routes no other (`local.gateway`), so the path verified is the path routed. Failures carry
API Gateway's response types and messages: no signature is ``MISSING_AUTHENTICATION_TOKEN``, a
bad one ``INVALID_SIGNATURE``.
"""

from __future__ import annotations

import base64
import configparser
import hashlib
import hmac
import json
import os
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials
from botocore.utils import normalize_url_path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CREDENTIALS_FILE = ROOT / ".local" / "credentials"
DEFAULT_PROFILE = "local"
OTHER_PROFILE = "local-other"
SERVICE = "execute-api"
ALGORITHM = "AWS4-HMAC-SHA256"
# API Gateway, like every SigV4 service, refuses a request signed more than 5 minutes away
# from its own clock, either way: a captured request cannot be replayed after that.
MAX_CLOCK_SKEW = timedelta(minutes=5)

MISSING_AUTH_MESSAGE = "Missing Authentication Token"
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
UNKNOWN_KEY_MESSAGE = "The security token included in the request is invalid."


class AuthError(Exception):
    """A request the IAM authorizer refuses, as API Gateway names it."""

    def __init__(self, response_type: str, message: str, error_type: str) -> None:
        super().__init__(message)
        self.response_type = response_type
        self.message = message
        self.error_type = error_type


def _missing() -> AuthError:
    return AuthError(
        "MISSING_AUTHENTICATION_TOKEN", MISSING_AUTH_MESSAGE, "MissingAuthenticationTokenException"
    )


def _invalid(message: str = SIGNATURE_MISMATCH, error_type: str = "") -> AuthError:
    return AuthError("INVALID_SIGNATURE", message, error_type or "InvalidSignatureException")


def _incomplete(message: str) -> AuthError:
    return _invalid(message, "IncompleteSignatureException")


@dataclass(frozen=True, slots=True)
class Principal:
    """One profile of the credentials file: its keys and the IAM principal they belong to.

    ``unique_id`` is the principal's unique id as IAM assigns it (``principal_id`` in the file:
    ``AIDA...`` for a user, ``AROA...`` for the role of an ``assumed-role`` ARN); a profile
    without one gets a stable id derived from its ARN. ``cognito_identity_id`` and
    ``cognito_identity_pool_id`` make the profile a Cognito identity-pool identity's credentials.
    """

    profile: str
    access_key: str
    secret_key: str
    session_token: str | None
    arn: str
    region: str = ""
    unique_id: str = ""
    cognito_identity_id: str = ""
    cognito_identity_pool_id: str = ""

    @property
    def account_id(self) -> str:
        parts = self.arn.split(":")
        return parts[4] if len(parts) > 5 else ""

    @property
    def _resource(self) -> tuple[str, str]:
        """The ARN's resource type (``user``, ``assumed-role``, ``root``...) and the rest."""
        resource = self.arn.split(":", 5)[5] if self.arn.count(":") >= 5 else ""
        kind, _, rest = resource.partition("/")
        return kind, rest

    @property
    def principal_id(self) -> str:
        """The principal id API Gateway passes as ``identity.user`` and ``identity.caller``
        (IAM's ``aws:userid``): ``AIDA...`` of a user, ``AROA...:<session name>`` of an assumed
        role, the account id of the root user, ``<account>:<name>`` of a federated user."""
        kind, rest = self._resource
        if kind == "root":
            return self.account_id
        if kind == "federated-user":
            return f"{self.account_id}:{rest}"
        if kind == "assumed-role":
            role, _, session = rest.partition("/")
            role_arn = f"arn:aws:iam::{self.account_id}:role/{role}"
            return f"{self.unique_id or _derived_id('AROA', role_arn)}:{session}"
        return self.unique_id or _derived_id("AIDA", self.arn)

    def identity(self) -> dict[str, str | None]:
        """The ``requestContext.identity`` fields API Gateway fills for an IAM-signed call."""
        fields: dict[str, str | None] = {
            "accessKey": self.access_key,
            "accountId": self.account_id,
            "caller": self.principal_id,
            "user": self.principal_id,
            "userArn": self.arn,
        }
        if self.cognito_identity_id:
            fields |= {
                "cognitoIdentityId": self.cognito_identity_id,
                "cognitoIdentityPoolId": self.cognito_identity_pool_id or None,
                "cognitoAuthenticationType": "authenticated",
            }
        return fields


def _derived_id(prefix: str, arn: str) -> str:
    """A stable unique id in IAM's form (prefix and 17 characters) for a profile without one."""
    digest = hashlib.sha256(arn.encode()).digest()
    return prefix + base64.b32encode(digest).decode()[:17]


def _random_key(prefix: str, length: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length - len(prefix)))


def credentials_text(account_id: str, region: str) -> str:
    """A new credentials file with the two local principals, fresh keys for each."""
    sections = []
    for profile in (DEFAULT_PROFILE, OTHER_PROFILE):
        sections.append(
            f"[{profile}]\n"
            f"aws_access_key_id = {_random_key('AKIA', 20)}\n"
            f"aws_secret_access_key = {secrets.token_urlsafe(30)}\n"
            f"principal_arn = arn:aws:iam::{account_id}:user/{profile}\n"
            f"principal_id = {_random_key('AIDA', 21)}\n"
            f"region = {region}\n"
        )
    header = (
        "# Principals of the local API (python -m local). Use them as any AWS profile:\n"
        "#   AWS_SHARED_CREDENTIALS_FILE=.local/credentials AWS_PROFILE=local\n"
        "# principal_arn is who the key signs as, principal_id its unique id (an assumed role's\n"
        "# is its role's AROA... id); delete this file for new keys.\n"
    )
    return header + "\n".join(sections)


def ensure_credentials_file(path: Path, *, account_id: str, region: str) -> bool:
    """Create ``path`` with the local principals unless it exists; True when created.

    The file appears complete or not at all (linked into place), so two processes starting at
    once agree on one set of keys.
    """
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(credentials_text(account_id, region))
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
    finally:
        temporary.unlink(missing_ok=True)
    return True


def read_principals(path: Path) -> dict[str, Principal]:
    """Every profile of ``path`` that has both keys and a ``principal_arn``, by access key."""
    parser = configparser.RawConfigParser()
    parser.read(path, encoding="utf-8")
    found: dict[str, Principal] = {}
    for profile in parser.sections():
        section = parser[profile]
        key = section.get("aws_access_key_id", "").strip()
        secret = section.get("aws_secret_access_key", "").strip()
        arn = section.get("principal_arn", "").strip()
        if key and secret and arn:
            token = section.get("aws_session_token", "").strip() or None
            found[key] = Principal(
                profile,
                key,
                secret,
                token,
                arn,
                region=section.get("region", "").strip(),
                unique_id=section.get("principal_id", "").strip(),
                cognito_identity_id=section.get("cognito_identity_id", "").strip(),
                cognito_identity_pool_id=section.get("cognito_identity_pool_id", "").strip(),
            )
    return found


class LocalCredentials:
    """The principals of a credentials file, re-read when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._by_key: dict[str, Principal] = {}

    def _current(self) -> dict[str, Principal]:
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        with self._lock:
            if stamp != self._stamp:
                self._by_key = read_principals(self.path) if stamp else {}
                self._stamp = stamp
            return self._by_key

    def by_access_key(self, access_key: str) -> Principal | None:
        return self._current().get(access_key)

    def principal(self, profile: str = DEFAULT_PROFILE) -> Principal:
        for principal in self._current().values():
            if principal.profile == profile:
                return principal
        raise KeyError(f"no principal {profile!r} in {self.path}")

    def principals(self) -> list[Principal]:
        return list(self._current().values())


def is_signed_as_sent(raw_path: str) -> bool:
    """Whether SigV4 signs ``raw_path`` (as sent, no query) exactly as it reads: no fragment, no
    ``.`` or ``..`` segment, no empty segment. Any other spelling shares its signature with a
    different path, so it can be neither verified nor routed."""
    return "#" not in raw_path and normalize_url_path(raw_path) == raw_path


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What the verifier needs of a request, as it arrived."""

    method: str
    raw_path: str  # as sent, percent-encoding intact, no query
    raw_query: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]


class _ListedHeadersSigner(SigV4Auth):
    """botocore's signer, signing exactly the headers the client listed.

    A client chooses which headers to sign (botocore's own client leaves out `user-agent` and
    a few others); the verifier must sign the same ones, whatever they are.
    """

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        listed = HTTPHeaders()
        for name, value in request.headers.items():
            listed[name.lower()] = value
        return listed


def _parse_authorization(value: str) -> dict[str, str]:
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise _incomplete(f"Authorization header requires the {ALGORITHM} algorithm.")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, _, field_value = part.strip().partition("=")
        fields[name] = field_value
    for required in ("Credential", "SignedHeaders", "Signature"):
        if not fields.get(required):
            raise _incomplete(f"Authorization header requires '{required}' parameter.")
    return fields


def _timestamp(request: SignedRequest) -> tuple[str, datetime]:
    """The signing time in SigV4 form (from ``X-Amz-Date``, else ``Date``) and as a datetime."""
    amz_dates = request.header("x-amz-date")
    try:
        if amz_dates:
            moment = datetime.strptime(amz_dates[-1], SIGV4_TIMESTAMP).replace(tzinfo=UTC)
        elif request.header("date"):
            moment = parsedate_to_datetime(request.header("date")[-1]).astimezone(UTC)
        else:
            raise _incomplete(
                "Authorization header requires existence of either a 'X-Amz-Date' or "
                "a 'Date' header."
            )
    except (ValueError, TypeError, IndexError):
        raise _incomplete("The date of the request is not a valid SigV4 timestamp.") from None
    return moment.strftime(SIGV4_TIMESTAMP), moment


def _format(moment: datetime) -> str:
    return moment.strftime(SIGV4_TIMESTAMP)


class SigV4Verifier:
    """Checks the SigV4 signature of a request to ``execute-api`` in ``region``."""

    def __init__(
        self,
        credentials: LocalCredentials | None,
        region: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.credentials = credentials
        self.region = region
        self._clock = clock

    def verify(self, request: SignedRequest) -> Principal:
        """The principal that signed ``request``; an `AuthError` when none did."""
        authorizations = request.header("authorization")
        if not authorizations:
            raise _missing()
        fields = _parse_authorization(authorizations[-1])
        scope = fields["Credential"].split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            raise _incomplete("Credential must have exactly 5 slash-delimited elements.")
        access_key, scope_date, scope_region, scope_service, _ = scope
        signed_names = fields["SignedHeaders"].split(";")
        if "host" not in signed_names:
            raise _invalid(
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
            )
        timestamp, moment = _timestamp(request)
        if scope_date != timestamp[:8]:
            raise _invalid(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
                f"from HTTP: '{scope_date}' != '{timestamp[:8]}', from '{timestamp}'."
            )
        if scope_region != self.region:
            raise _invalid(f"Credential should be scoped to a valid region, not '{scope_region}'.")
        if scope_service != SERVICE:
            raise _invalid(f"Credential should be scoped to correct service: '{SERVICE}'.")
        principal = self.credentials.by_access_key(access_key) if self.credentials else None
        if principal is None:
            raise _invalid(UNKNOWN_KEY_MESSAGE, "UnrecognizedClientException")
        self._check_token(request, principal)
        self._check_payload_hash(request)
        if not is_signed_as_sent(request.raw_path or "/"):
            # The signature would be over another path than the one sent.
            raise _invalid()
        expected = self._signature(request, principal, signed_names, timestamp)
        if not hmac.compare_digest(expected.encode(), fields["Signature"].encode()):
            raise _invalid()
        self._check_clock(timestamp, moment)
        return principal

    @staticmethod
    def _check_token(request: SignedRequest, principal: Principal) -> None:
        sent = request.header("x-amz-security-token")
        if principal.session_token is None and not sent:
            return
        if principal.session_token is None or not sent:
            raise _invalid(UNKNOWN_KEY_MESSAGE, "UnrecognizedClientException")
        if not hmac.compare_digest(sent[-1].encode(), principal.session_token.encode()):
            raise _invalid(UNKNOWN_KEY_MESSAGE, "UnrecognizedClientException")

    @staticmethod
    def _check_payload_hash(request: SignedRequest) -> None:
        # botocore takes a declared payload hash on trust; the body must be the one it names.
        declared = request.header("x-amz-content-sha256")
        if declared and declared[-1] != hashlib.sha256(request.body).hexdigest():
            raise _invalid()

    def _signature(
        self,
        request: SignedRequest,
        principal: Principal,
        signed_names: Iterable[str],
        timestamp: str,
    ) -> str:
        wanted = set(signed_names)
        aws_request = AWSRequest(
            method=request.method,
            # The path as sent: botocore canonicalizes it the way its clients did when signing.
            url="http://local" + (request.raw_path or "/"),
            data=request.body,
        )
        # Decoded, then re-encoded by botocore in SigV4's canonical form and order. A list,
        # not the mapping the stubs name, since a parameter may repeat (botocore takes both).
        aws_request.params = parse_qsl(request.raw_query, keep_blank_values=True)  # type: ignore[assignment]
        headers = HTTPHeaders()
        for name, value in request.headers:
            if name.lower() in wanted:
                headers[name.lower()] = value
        aws_request.headers = headers
        aws_request.context["timestamp"] = timestamp
        signer = _ListedHeadersSigner(
            Credentials(principal.access_key, principal.secret_key, principal.session_token),
            SERVICE,
            self.region,
        )
        canonical = signer.canonical_request(aws_request)
        return str(signer.signature(signer.string_to_sign(aws_request, canonical), aws_request))

    def _check_clock(self, timestamp: str, moment: datetime) -> None:
        now = self._clock()
        if moment < now - MAX_CLOCK_SKEW:
            raise _invalid(
                f"Signature expired: {timestamp} is now earlier than "
                f"{_format(now - MAX_CLOCK_SKEW)} ({_format(now)} - 5 min.)"
            )
        if moment > now + MAX_CLOCK_SKEW:
            raise _invalid(
                f"Signature not yet current: {timestamp} is still later than "
                f"{_format(now + MAX_CLOCK_SKEW)} ({_format(now)} + 5 min.)"
            )


def unverified_claims(authorization: str | None) -> dict[str, Any] | None:
    """The claims of a JWT, NOT verified (no signature, issuer or expiry check): what a
    Cognito user pool authorizer passes on, for the local run only. None when unreadable."""
    if not authorization:
        return None
    token = authorization.removeprefix("Bearer ").strip()
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, RecursionError):
        return None
    if not isinstance(claims, dict):
        return None
    # API Gateway hands REST functions every claim as a string.
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in claims.items()}
