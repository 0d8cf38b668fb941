"""IAM policy evaluation as AWS documents it, for the local endpoint's authorization (R34).

The local run has no IAM: neither moto nor dynalite checks who calls. This module decides one
request the way AWS's enforcement code does, from the caller's identity policies and the target's
resource policies, following the IAM User Guide:

- `Policy evaluation logic`_: an explicit ``Deny`` in any policy wins; otherwise, within one
  account, an ``Allow`` in an identity policy OR in a resource policy that names the caller
  allows; otherwise the request is implicitly denied. A resource policy naming the caller's
  account (``"123456789012"`` or ``arn:aws:iam::123456789012:root``) delegates to the account's
  identity policies rather than granting by itself (`Principal`_, "AWS account principals").
  Across accounts both sides must allow.
- KMS key policies are the exception the same page names: the key policy must allow, either the
  caller directly or the account principal, whose statement "allows the account to use IAM
  policies" (`Default key policy`_). Without it, identity policies that allow are ineffective;
  identity policies that deny still deny.
- ``Action`` / ``NotAction`` match case-insensitively with ``*`` and ``?``; ``Resource`` /
  ``NotResource`` match case-sensitively, segment by segment of the ARN (the resource part may
  hold colons); ``Principal`` / ``NotPrincipal`` match literally (no partial wildcards).
- Policy variables (``${aws:username}``, ``${key, 'default'}``, ``${*}``, ``${?}``, ``${$}``)
  are substituted in ``Resource`` and in String and ARN condition values, only in documents of
  version ``2012-10-17``; a variable with no value matches no resource and no positive
  condition (`Variables`_).
- `Condition operators`_ with ``...IfExists`` and the ``ForAnyValue:`` / ``ForAllValues:`` set
  qualifiers, several operators or keys ANDed, several values of one key ORed (NORed for a
  negated operator), a missing key false for every operator except the negated ones (true),
  ``...IfExists`` (true) and ``Null`` (`Multiple keys or values`_).

What the local endpoint cannot decide is a denial that names itself, never a silent allow:

- a statement AWS would not have accepted (an unknown condition operator, a ``Principal`` in an
  identity policy, an unresolved CloudFormation intrinsic, a malformed value, ...) denies every
  request evaluated against its policy;
- a condition key or policy variable outside the set the evaluator was told the endpoint
  supplies makes its statement *unknown* (when the statement's principal, action and resource
  match, and no other condition of its block is known false): an unknown ``Deny`` denies; an
  unknown ``Allow`` denies unless the request is allowed without it. An allow is returned only
  when it holds whatever the unknown statements would say.

A set qualifier decides an empty set by itself and ignores ``...IfExists`` (the IAM guide is
silent; this is what iam.cloudcopilot.io's operator tables, measured against AWS, show). Not
modelled: permissions boundaries, SCPs, session policies, resource control policies (the
templates have none). Build `Policy` objects once: evaluating one is a few dozen microseconds.

.. _Policy evaluation logic:
   https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
.. _Principal:
   https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
.. _Default key policy: https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html
.. _Variables: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
.. _Condition operators:
   https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
.. _Multiple keys or values:
   https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html
"""

from __future__ import annotations

import base64
import binascii
import enum
import functools
import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

__all__ = [
    "OPERATORS",
    "ContextValue",
    "Decision",
    "Evaluator",
    "Outcome",
    "Policy",
    "PolicyKind",
    "Principal",
    "Request",
    "StatementRef",
    "evaluate",
]

VARIABLES_VERSION = "2012-10-17"
"""Policy variables exist only in documents of this language version; elsewhere they are text."""

ContextValue = str | bool | int | float | bytes | datetime | Sequence[str | bool | int | float]
"""One condition key's value(s) in a request context; a sequence for a multivalued key."""

PolicyKind = Literal["identity", "resource"]

_STATEMENT_ELEMENTS = frozenset(
    {"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource"}
    | {"NotResource", "Condition"}
)
_DOCUMENT_ELEMENTS = frozenset({"Version", "Id", "Statement"})
_PRINCIPAL_TYPES = frozenset({"AWS", "Service", "Federated", "CanonicalUser"})
_ACCOUNT_ID = re.compile(r"\d{12}")
_ACCOUNT_ROOT = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):root")
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_VARIABLE_BODY = re.compile(r"\s*([^\s,'{}]+)\s*(?:,\s*'([^']*)'\s*)?")
_SPECIAL_VARIABLES = {"*": "*", "?": "?", "$": "$"}
_KMS_KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:[^:]*:\d{12}:key/.+")


class Outcome(enum.Enum):
    """How a decision was reached."""

    ALLOW = "allow"
    EXPLICIT_DENY = "explicit-deny"
    IMPLICIT_DENY = "implicit-deny"
    UNSUPPORTED = "unsupported"
    """Denied because the policies use something this evaluator cannot decide."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who makes a request: an IAM role (optionally as one of its sessions) or user, an account's
    root, or an AWS service principal (``s3.amazonaws.com``) acting on a resource's behalf."""

    arn: str
    """The role, user or root ARN; for a service principal, the service name."""
    account: str = ""
    session_arn: str | None = None
    """``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`` when the caller is a role session."""
    service: str | None = None
    """Set for a service principal (then ``arn`` is the same name and there is no account)."""

    @classmethod
    def role(cls, role_arn: str, session_name: str | None = None) -> Principal:
        """A role, or one of its sessions (the account comes from the ARN)."""
        account = _arn_part(role_arn, 4)
        session = None
        if session_name is not None:
            session = f"arn:aws:sts::{account}:assumed-role/{_role_name(role_arn)}/{session_name}"
        return cls(arn=role_arn, account=account, session_arn=session)

    @classmethod
    def for_service(cls, name: str) -> Principal:
        """An AWS service principal such as ``s3.amazonaws.com``."""
        return cls(arn=name, service=name)

    @property
    def is_service(self) -> bool:
        return self.service is not None

    def chain(self) -> tuple[str, ...]:
        """Every identity AWS may check the caller as: account root, role, session."""
        if self.service is not None:
            return (self.service,)
        names = [f"arn:aws:iam::{self.account}:root"] if self.account else []
        names.append(self.arn)
        if self.session_arn:
            names.append(self.session_arn)
        return tuple(names)

    def __str__(self) -> str:
        return self.session_arn or self.arn


@dataclass(frozen=True, slots=True)
class Request:
    """One authorization question: may ``principal`` do ``action`` on ``resource``?"""

    principal: Principal
    action: str
    """``service:Operation`` as IAM names it, e.g. ``s3:GetObject``."""
    resource: str
    """The resource ARN, or ``*`` for actions without a resource."""
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    """Condition keys of the request context (names are case-insensitive)."""
    resource_account: str | None = None
    """The account owning the resource; ``None`` means the principal's own account."""


@dataclass(frozen=True, slots=True)
class StatementRef:
    """Where a statement is: which policy, which position, which ``Sid``."""

    kind: PolicyKind
    policy: str
    index: int
    sid: str | None

    def __str__(self) -> str:
        label = f"statement {self.sid!r}" if self.sid else f"statement #{self.index}"
        return f"{label} of {self.kind} policy {self.policy!r}"


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer: ``allowed``, how (``outcome``), and a reason naming the deciding statement,
    the missing allow, or what could not be evaluated."""

    allowed: bool
    outcome: Outcome
    reason: str
    statement: StatementRef | None = None
    unsupported: tuple[str, ...] = ()
    """Every problem found in the statements that apply, when the outcome is UNSUPPORTED."""

    def __str__(self) -> str:
        return self.reason


class Policy:
    """One policy document, parsed once (statements, patterns) so that it is cheap to evaluate
    many times. ``name`` appears in the reasons of decisions."""

    def __init__(self, document: Mapping[str, Any], name: str = "") -> None:
        self.name = name
        self.document = document
        self.problem: str | None = None
        self.variables = False
        self.statements: tuple[_Statement, ...] = ()
        if not isinstance(document, Mapping):
            self.problem = "the policy document is not a JSON object"
            return
        self.variables = document.get("Version") == VARIABLES_VERSION
        unknown = sorted(set(document) - _DOCUMENT_ELEMENTS)
        if unknown:
            self.problem = f"unknown policy element(s) {', '.join(unknown)}"
        raw = document.get("Statement")
        items = [raw] if isinstance(raw, Mapping) else raw
        if not isinstance(items, list):
            self.problem = self.problem or "the policy has no Statement list"
            return
        self.statements = tuple(
            _parse_statement(index, item, variables=self.variables)
            for index, item in enumerate(items)
        )

    def __repr__(self) -> str:
        return f"Policy(name={self.name!r}, statements={len(self.statements)})"


PolicyLike = Policy | Mapping[str, Any]


class Evaluator:
    """Decides requests against policies, knowing which condition keys the endpoint supplies.

    ``supported_keys`` are key names or patterns with ``*`` / ``?`` (``kms:EncryptionContext:*``),
    case-insensitive. A key in the set is one whose presence the endpoint models faithfully: when
    it is missing from a request context, AWS would not have it either. A condition on any other
    key, in a statement that applies, is a denial naming the key.
    """

    def __init__(self, supported_keys: Iterable[str]) -> None:
        self.supported_keys = tuple(supported_keys)
        self._supported = [_glob(key.lower()) for key in self.supported_keys]

    def supports(self, key: str) -> bool:
        """Whether conditions on ``key`` can be evaluated."""
        lowered = key.lower()
        return any(pattern.fullmatch(lowered) for pattern in self._supported)

    def evaluate(
        self,
        request: Request,
        identity_policies: Iterable[PolicyLike] = (),
        resource_policies: Iterable[PolicyLike] = (),
        *,
        key_policy: bool | None = None,
    ) -> Decision:
        """The decision AWS would make for ``request``.

        ``identity_policies`` are the caller's (none for a service principal);
        ``resource_policies`` the target's. ``key_policy`` says the resource policies are a KMS
        key policy (which must allow); ``None`` infers it from a ``kms:`` action on a key ARN.
        """
        if key_policy is None:
            key_policy = request.action.lower().startswith("kms:") and bool(
                _KMS_KEY_ARN.fullmatch(request.resource)
            )
        scope = _Scope(request, _normalize_context(request.context), self)
        identity = _policies(identity_policies, "identity")
        resource = _policies(resource_policies, "resource")
        results = [*scope.results(identity, "identity"), *scope.results(resource, "resource")]
        return _decide(request, results, key_policy=key_policy)


def evaluate(
    request: Request,
    identity_policies: Iterable[PolicyLike] = (),
    resource_policies: Iterable[PolicyLike] = (),
    *,
    supported_keys: Iterable[str],
    key_policy: bool | None = None,
) -> Decision:
    """`Evaluator.evaluate` with a one-off evaluator (build an `Evaluator` to reuse one)."""
    return Evaluator(supported_keys).evaluate(
        request, identity_policies, resource_policies, key_policy=key_policy
    )


# --- statements --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Template:
    """A string of a policy with its policy variables located: parts are literal text (where
    ``*`` and ``?`` are wildcards), ``("var", key, default)``, or a special character."""

    parts: tuple[tuple[str, str, str | None], ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(key for kind, key, _ in self.parts if kind == "var")

    def render(self, context: _Context) -> list[tuple[str, bool]] | None:
        """Pieces of (text, wildcards active), or None when a variable has no value."""
        pieces: list[tuple[str, bool]] = []
        for kind, text, default in self.parts:
            if kind == "lit":
                pieces.append((text, True))
            elif kind == "char":
                pieces.append((text, False))
            else:
                values = context.get(text.lower())
                if values is not None and len(values) == 1:
                    pieces.append((values[0], False))
                elif default is not None and not values:
                    pieces.append((default, False))
                else:
                    return None
        return pieces


def _template(text: str, *, variables: bool) -> _Template:
    if not variables or "${" not in text:
        return _Template((("lit", text, None),))
    parts: list[tuple[str, str, str | None]] = []
    position = 0
    for match in _VARIABLE.finditer(text):
        if match.start() > position:
            parts.append(("lit", text[position : match.start()], None))
        inner = match.group(1)
        body = _VARIABLE_BODY.fullmatch(inner)
        if inner in _SPECIAL_VARIABLES:
            parts.append(("char", _SPECIAL_VARIABLES[inner], None))
        elif body is not None:
            parts.append(("var", body.group(1), body.group(2)))
        else:
            parts.append(("lit", match.group(0), None))
        position = match.end()
    if position < len(text):
        parts.append(("lit", text[position:], None))
    return _Template(tuple(parts))


@dataclass(frozen=True, slots=True)
class _Pattern:
    """A Resource (or ARN condition) pattern: its six ARN segments, or the whole string."""

    text: str
    segments: tuple[_Template, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(key for segment in self.segments for key in segment.keys)


def _arn_pattern(text: str, *, variables: bool) -> _Pattern:
    segments = _split_arn(text)
    if len(segments) < 6:
        segments = [text]
    return _Pattern(text, tuple(_template(s, variables=variables) for s in segments))


def _split_arn(text: str) -> list[str]:
    """Split on the first five colons that are not inside a ``${...}`` variable."""
    parts: list[str] = []
    depth = 0
    start = 0
    for index, char in enumerate(text):
        if char == "{" and text[index - 1 : index] == "$":
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        elif char == ":" and not depth and len(parts) < 5:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


@dataclass(frozen=True, slots=True)
class _PrincipalSpec:
    entries: Mapping[str, tuple[str, ...]]
    everyone: bool


@dataclass(frozen=True, slots=True)
class _Statement:
    index: int
    sid: str | None
    effect: str
    principal: _PrincipalSpec | None
    not_principal: bool
    actions: tuple[re.Pattern[str], ...]
    not_action: bool
    resources: tuple[_Pattern, ...] | None
    not_resource: bool
    condition: tuple[tuple[str, str, tuple[str, ...]], ...]
    """(operator, key, values) in document order."""
    variables: bool
    problem: str | None


class _Malformed(ValueError):
    pass


def _parse_statement(index: int, raw: Any, *, variables: bool) -> _Statement:
    sid = raw.get("Sid") if isinstance(raw, Mapping) else None
    sid = sid if isinstance(sid, str) else None
    try:
        return _build_statement(index, sid, raw, variables=variables)
    except _Malformed as exc:
        return _Statement(
            index, sid, "", None, False, (), False, None, False, (), variables, str(exc)
        )


def _build_statement(index: int, sid: str | None, raw: Any, *, variables: bool) -> _Statement:
    if not isinstance(raw, Mapping):
        raise _Malformed("the statement is not a JSON object")
    unknown = sorted(set(raw) - _STATEMENT_ELEMENTS)
    if unknown:
        raise _Malformed(f"unknown statement element(s) {', '.join(unknown)}")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise _Malformed(f"Effect must be Allow or Deny, not {effect!r}")
    principal_key = _one_of(raw, "Principal", "NotPrincipal", required=False)
    action_key = _one_of(raw, "Action", "NotAction", required=True) or "Action"
    resource_key = _one_of(raw, "Resource", "NotResource", required=False)
    actions = tuple(_action_pattern(a) for a in _strings(raw[action_key], action_key))
    resources = None
    if resource_key is not None:
        texts = _strings(raw[resource_key], resource_key)
        resources = tuple(_arn_pattern(t, variables=variables) for t in texts)
    return _Statement(
        index=index,
        sid=sid,
        effect=effect,
        principal=_principal_spec(raw[principal_key]) if principal_key else None,
        not_principal=principal_key == "NotPrincipal",
        actions=actions,
        not_action=action_key == "NotAction",
        resources=resources,
        not_resource=resource_key == "NotResource",
        condition=_conditions(raw.get("Condition", {})),
        variables=variables,
        problem=None,
    )


def _one_of(raw: Mapping[str, Any], positive: str, negative: str, *, required: bool) -> str | None:
    if positive in raw and negative in raw:
        raise _Malformed(f"a statement cannot have both {positive} and {negative}")
    if positive in raw:
        return positive
    if negative in raw:
        return negative
    if required:
        raise _Malformed(f"the statement has neither {positive} nor {negative}")
    return None


def _strings(value: Any, element: str) -> tuple[str, ...]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) for v in values):
        raise _Malformed(
            f"{element} must be a string or a list of strings, not {value!r}"
            " (an unresolved CloudFormation intrinsic?)"
        )
    return tuple(values)


def _action_pattern(text: str) -> re.Pattern[str]:
    if text != "*" and (":" not in text or text.startswith(":")):
        raise _Malformed(f"action {text!r} is not service:action")
    return _glob(text.lower())


def _principal_spec(value: Any) -> _PrincipalSpec:
    if value == "*":
        return _PrincipalSpec({}, everyone=True)
    if not isinstance(value, Mapping) or not value:
        raise _Malformed(f"Principal must be '*' or a map, not {value!r}")
    entries: dict[str, tuple[str, ...]] = {}
    for kind, names in value.items():
        if kind not in _PRINCIPAL_TYPES:
            raise _Malformed(f"unknown principal type {kind!r}")
        entries[kind] = _strings(names, f"Principal {kind}")
    everyone = "*" in entries.get("AWS", ())
    return _PrincipalSpec(entries, everyone=everyone)


def _conditions(raw: Any) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    if not isinstance(raw, Mapping):
        raise _Malformed(f"Condition must be a map, not {raw!r}")
    found: list[tuple[str, str, tuple[str, ...]]] = []
    for operator, block in raw.items():
        if _parse_operator(operator) is None:
            raise _Malformed(f"unknown condition operator {operator!r}")
        if not isinstance(block, Mapping) or not block:
            raise _Malformed(f"condition {operator} must map keys to values, not {block!r}")
        for key, value in block.items():
            found.append((operator, key, _condition_values(operator, key, value)))
    return tuple(found)


def _condition_values(operator: str, key: str, value: Any) -> tuple[str, ...]:
    values = value if isinstance(value, list) else [value]
    rendered: list[str] = []
    for item in values:
        if isinstance(item, bool):
            rendered.append("true" if item else "false")
        elif isinstance(item, str | int | float):
            rendered.append(str(item))
        else:
            raise _Malformed(
                f"condition {operator} {key}: value {item!r} is not a string, number or boolean"
                " (an unresolved CloudFormation intrinsic?)"
            )
    return tuple(rendered)


# --- request context ---------------------------------------------------------------------------

_Context = dict[str, tuple[str, ...]]


def _normalize_context(context: Mapping[str, ContextValue]) -> _Context:
    """Lower-cased key -> the key's values as strings (a key with no values is absent)."""
    normalized: _Context = {}
    for key, value in context.items():
        if value is None:
            continue
        if isinstance(value, str | bytes | bool | int | float | datetime):
            values: tuple[str, ...] = (_scalar(value),)
        else:
            values = tuple(_scalar(v) for v in value)
        if values:
            normalized[key.lower()] = values
    return normalized


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value)


# --- matching ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _glob(text: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """``*`` any run of characters, ``?`` one character, everything else literal."""
    return _compile_pieces(((text, True),), ignore_case=ignore_case)


def _compile_pieces(pieces: Iterable[tuple[str, bool]], *, ignore_case: bool) -> re.Pattern[str]:
    regex = []
    for text, wildcards in pieces:
        if not wildcards:
            regex.append(re.escape(text))
            continue
        regex.extend(
            ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in text
        )
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile("".join(regex), flags)


def _matches_pattern(pattern: _Pattern, value: str, context: _Context) -> bool:
    """ARN matching: each of the six segments on its own (the last one may hold colons)."""
    if len(pattern.segments) == 1:
        pieces = pattern.segments[0].render(context)
        return pieces is not None and _pieces_match(pieces, value)
    values = value.split(":", 5)
    if len(values) != 6:
        return False
    for segment, part in zip(pattern.segments, values, strict=True):
        pieces = segment.render(context)
        if pieces is None or not _pieces_match(pieces, part):
            return False
    return True


def _pieces_match(pieces: list[tuple[str, bool]], value: str) -> bool:
    if len(pieces) == 1 and pieces[0][1]:
        return bool(_glob(pieces[0][0]).fullmatch(value))
    return bool(_compile_pieces(pieces, ignore_case=False).fullmatch(value))


class _PrincipalMatch(enum.IntEnum):
    NONE = 0
    ACCOUNT = 1
    """The statement names the caller's account: a delegation to its identity policies."""
    DIRECT = 2


def _principal_match(spec: _PrincipalSpec, principal: Principal) -> _PrincipalMatch:
    if spec.everyone:
        return _PrincipalMatch.DIRECT
    if principal.service is not None:
        services = spec.entries.get("Service", ())
        return _PrincipalMatch.DIRECT if principal.service in services else _PrincipalMatch.NONE
    best = _PrincipalMatch.NONE
    for name in spec.entries.get("AWS", ()):
        if name in (principal.arn, principal.session_arn):
            return _PrincipalMatch.DIRECT
        if _account_of(name) == principal.account and principal.account:
            best = _PrincipalMatch.ACCOUNT
    return best


def _account_of(name: str) -> str | None:
    if _ACCOUNT_ID.fullmatch(name):
        return name
    root = _ACCOUNT_ROOT.fullmatch(name)
    return root.group(1) if root else None


def _listed(spec: _PrincipalSpec, identity: str, principal: Principal) -> bool:
    """Whether ``identity`` (one link of the caller's chain) is named in a NotPrincipal."""
    if spec.everyone:
        return True
    if principal.service is not None:
        return identity in spec.entries.get("Service", ())
    names = spec.entries.get("AWS", ())
    root = _ACCOUNT_ROOT.fullmatch(identity)
    return identity in names or (root is not None and root.group(1) in names)


def _not_principal_applies(spec: _PrincipalSpec, principal: Principal, effect: str) -> bool:
    """A NotPrincipal statement applies to everyone not listed. A caller is checked as its whole
    chain (account, role, session), as the NotPrincipal page warns: a Deny exempts the caller
    only when every link is listed, an Allow applies only when no link is."""
    listed = [_listed(spec, identity, principal) for identity in principal.chain()]
    if effect == "Deny":
        return not all(listed)
    return not any(listed)


# --- conditions --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Operator:
    base: str
    qualifier: str | None
    if_exists: bool


_Comparator = Callable[[str, str], bool | None]
"""(request value, policy value) -> match, or None when the policy value is malformed."""


def _string_equals(value: str, wanted: str) -> bool:
    return value == wanted


def _string_equals_ignore_case(value: str, wanted: str) -> bool:
    return value.casefold() == wanted.casefold()


def _number(text: str) -> Decimal | None:
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _date(text: str) -> datetime | None:
    text = text.strip()
    epoch = _number(text)
    if epoch is not None and re.fullmatch(r"-?\d+(\.\d+)?", text):
        return datetime.fromtimestamp(float(epoch), UTC)
    if re.fullmatch(r"\d{4}-\d{2}", text):
        text += "-01"
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _ordered(parse: Callable[[str], Any], test: Callable[[Any, Any], bool]) -> _Comparator:
    def compare(value: str, wanted: str) -> bool | None:
        expected = parse(wanted)
        if expected is None:
            return None
        actual = parse(value)
        return actual is not None and bool(test(actual, expected))

    return compare


def _bool(value: str, wanted: str) -> bool | None:
    if wanted.lower() not in ("true", "false"):
        return None
    return value.lower() == wanted.lower()


def _binary(value: str, wanted: str) -> bool | None:
    try:
        expected = base64.b64decode(wanted, validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        return base64.b64decode(value, validate=True) == expected
    except (binascii.Error, ValueError):
        return False


def _ip(value: str, wanted: str) -> bool | None:
    try:
        network = ipaddress.ip_network(wanted.strip(), strict=False)
    except ValueError:
        return None
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return False
    return address.version == network.version and address in network


def _eq(a: Any, b: Any) -> bool:
    return bool(a == b)


def _lt(a: Any, b: Any) -> bool:
    return bool(a < b)


def _le(a: Any, b: Any) -> bool:
    return bool(a <= b)


def _gt(a: Any, b: Any) -> bool:
    return bool(a > b)


def _ge(a: Any, b: Any) -> bool:
    return bool(a >= b)


_ORDERINGS = {
    "Equals": _eq,
    "LessThan": _lt,
    "LessThanEquals": _le,
    "GreaterThan": _gt,
    "GreaterThanEquals": _ge,
}

# Operator -> (comparator, negated, family). Families "string" and "arn" take policy variables
# and wildcards where the operator says so; the others compare literal values.
_OPERATOR_TABLE: dict[str, tuple[_Comparator | None, bool, str]] = {
    "StringEquals": (_string_equals, False, "string"),
    "StringNotEquals": (_string_equals, True, "string"),
    "StringEqualsIgnoreCase": (_string_equals_ignore_case, False, "string"),
    "StringNotEqualsIgnoreCase": (_string_equals_ignore_case, True, "string"),
    "StringLike": (None, False, "like"),
    "StringNotLike": (None, True, "like"),
    "Bool": (_bool, False, "literal"),
    "BinaryEquals": (_binary, False, "literal"),
    "IpAddress": (_ip, False, "literal"),
    "NotIpAddress": (_ip, True, "literal"),
    "ArnEquals": (None, False, "arn"),
    "ArnLike": (None, False, "arn"),
    "ArnNotEquals": (None, True, "arn"),
    "ArnNotLike": (None, True, "arn"),
    "Null": (None, False, "null"),
}
for _name, _test in _ORDERINGS.items():
    _OPERATOR_TABLE[f"Numeric{_name}"] = (_ordered(_number, _test), False, "literal")
    _OPERATOR_TABLE[f"Date{_name}"] = (_ordered(_date, _test), False, "literal")
_OPERATOR_TABLE["NumericNotEquals"] = (_ordered(_number, _eq), True, "literal")
_OPERATOR_TABLE["DateNotEquals"] = (_ordered(_date, _eq), True, "literal")

OPERATORS: frozenset[str] = frozenset(_OPERATOR_TABLE)
"""The base condition operators; each (but Null) also takes ``IfExists`` and a set qualifier."""


def _parse_operator(name: str) -> _Operator | None:
    qualifier = None
    base = name
    for prefix in ("ForAnyValue:", "ForAllValues:"):
        if name.startswith(prefix):
            qualifier, base = prefix[:-1], name[len(prefix) :]
    if_exists = base.endswith("IfExists") and base != "IfExists"
    if if_exists:
        base = base[: -len("IfExists")]
    if base not in _OPERATOR_TABLE or (base == "Null" and (if_exists or qualifier)):
        return None
    return _Operator(base, qualifier, if_exists)


class _Unsupported(Exception):
    """Something this evaluator cannot decide; the message names it."""


class _Invalid(_Unsupported):
    """A value AWS would not have accepted: always a denial."""


class _Unknown(_Unsupported):
    """A condition whose truth the endpoint cannot know (a key it does not supply)."""


def _condition_holds(
    statement: _Statement, operator_name: str, key: str, raw: tuple[str, ...], scope: _Scope
) -> bool:
    """One (operator, key) pair of a Condition block; raises _Invalid or _Unknown."""
    operator = _parse_operator(operator_name)
    assert operator is not None  # validated when the statement was parsed
    if not scope.evaluator.supports(key):
        raise _Unknown(
            f"condition key {key!r} (in {operator_name}) is not one the local endpoint supplies"
        )
    values = scope.context.get(key.lower(), ())
    if operator.base == "Null":
        return _null_holds(raw, values, operator_name, key)
    comparator, negated, family = _OPERATOR_TABLE[operator.base]
    match = _value_matcher(
        comparator, family, _policy_values(statement, family, raw, scope), operator_name, key
    )
    present = [v for v in values if v != ""] if operator.qualifier else list(values)
    if not present:
        # A set qualifier decides an empty set by itself (ForAllValues true, ForAnyValue
        # false) and ignores IfExists, which applies per value inside its loop (the operator
        # tables of iam.cloudcopilot.io, measured against AWS; the IAM guide is silent).
        if operator.qualifier is not None:
            return operator.qualifier == "ForAllValues"
        return operator.if_exists or negated

    def item(value: str) -> bool:
        return match(value) != negated

    if operator.qualifier == "ForAllValues":
        return all(item(v) for v in present)
    if operator.qualifier == "ForAnyValue":
        return any(item(v) for v in present)
    return any(match(v) for v in present) != negated


def _null_holds(raw: tuple[str, ...], values: tuple[str, ...], operator: str, key: str) -> bool:
    wanted = {v.lower() for v in raw}
    if not wanted <= {"true", "false"}:
        raise _Invalid(f"condition {operator} {key}: values must be true or false, not {raw}")
    return ("true" if not values else "false") in wanted


_Pieces = list[tuple[str, bool]]


def _policy_values(
    statement: _Statement, family: str, raw: tuple[str, ...], scope: _Scope
) -> list[_Pieces | None]:
    """The policy's values as pieces (variables substituted where the family allows them);
    None stands for a variable with no value, which matches nothing."""
    allows_variables = statement.variables and family in ("string", "like", "arn")
    rendered: list[_Pieces | None] = []
    for value in raw:
        template = _template(value, variables=allows_variables)
        for variable in template.keys:
            scope.require(variable, "policy variable")
        rendered.append(template.render(scope.context))
    return rendered


def _value_matcher(
    comparator: _Comparator | None,
    family: str,
    wanted: list[_Pieces | None],
    operator: str,
    key: str,
) -> Callable[[str], bool]:
    """A test of one request value against every policy value (a logical OR)."""
    if family == "like":
        patterns = [_compile_pieces(p, ignore_case=False) for p in wanted if p is not None]
        return lambda value: any(p.fullmatch(value) for p in patterns)
    if family == "arn":
        arn_patterns = [_arn_pieces(p) for p in wanted if p is not None]
        return lambda value: any(_arn_like(p, value) for p in arn_patterns)
    assert comparator is not None
    texts = ["".join(text for text, _ in pieces) for pieces in wanted if pieces is not None]
    for text in texts:
        if comparator("", text) is None:
            raise _Invalid(f"condition {operator} {key}: malformed value {text!r}")
    return lambda value: any(comparator(value, text) for text in texts)


def _arn_pieces(pieces: _Pieces) -> list[re.Pattern[str]]:
    """An ARN condition value as one regex per ARN segment (or one for a non-ARN value)."""
    text = "".join(text for text, _ in pieces)
    if len(text.split(":", 5)) < 6:
        return [_compile_pieces(pieces, ignore_case=False)]
    segments: list[_Pieces] = [[]]
    for piece, wildcards in pieces:
        chunks = piece.split(":") if wildcards else [piece]
        for number, chunk in enumerate(chunks):
            if number and len(segments) < 6:
                segments.append([])
            elif number:
                segments[-1].append((":", False))
            segments[-1].append((chunk, wildcards))
    return [_compile_pieces(segment, ignore_case=False) for segment in segments]


def _arn_like(patterns: list[re.Pattern[str]], value: str) -> bool:
    if len(patterns) == 1:
        return bool(patterns[0].fullmatch(value))
    parts = value.split(":", 5)
    return len(parts) == 6 and all(
        p.fullmatch(part) for p, part in zip(patterns, parts, strict=True)
    )


# --- evaluation --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Result:
    """What one statement says about the request: it applies (``problem`` is None), or it
    might, and ``problem`` says why that cannot be known (``fatal``: AWS would refuse it)."""

    ref: StatementRef
    effect: str
    principal: _PrincipalMatch
    problem: str | None = None
    fatal: bool = False


class _Scope:
    """One request being evaluated: its normalized context and the evaluator's key set."""

    def __init__(self, request: Request, context: _Context, evaluator: Evaluator) -> None:
        self.request = request
        self.context = context
        self.evaluator = evaluator
        self.action = request.action.lower()

    def require(self, key: str, what: str) -> None:
        if not self.evaluator.supports(key):
            raise _Unknown(f"{what} ${{{key}}} is not one the local endpoint supplies")

    def results(self, policies: list[Policy], kind: PolicyKind) -> Iterator[_Result]:
        """The statements that apply to the request, and those that might."""
        for number, policy in enumerate(policies):
            name = policy.name or f"{kind} #{number}"
            if policy.problem:
                ref = StatementRef(kind, name, -1, None)
                problem = f"{kind} policy {name!r}: malformed: {policy.problem}"
                yield _Result(ref, "", _PrincipalMatch.NONE, problem, fatal=True)
            for statement in policy.statements:
                result = self._result(statement, StatementRef(kind, name, statement.index, None))
                if result is not None:
                    yield result

    def _result(self, statement: _Statement, ref: StatementRef) -> _Result | None:
        ref = StatementRef(ref.kind, ref.policy, statement.index, statement.sid)
        problem = statement.problem or _kind_problem(statement, ref.kind)
        if problem is not None:
            return _Result(ref, "", _PrincipalMatch.NONE, f"{ref}: malformed: {problem}", True)
        principal = self._principal(statement, ref.kind)
        if principal is _PrincipalMatch.NONE or not self._action(statement):
            return None
        try:
            if not self._resource(statement) or not self._conditions(statement):
                return None
        except _Unsupported as exc:
            fatal = isinstance(exc, _Invalid)
            return _Result(ref, statement.effect, principal, f"{ref}: {exc}", fatal)
        return _Result(ref, statement.effect, principal)

    def _principal(self, statement: _Statement, kind: PolicyKind) -> _PrincipalMatch:
        if kind == "identity" or statement.principal is None:
            return _PrincipalMatch.DIRECT
        principal = self.request.principal
        if statement.not_principal:
            applies = _not_principal_applies(statement.principal, principal, statement.effect)
            return _PrincipalMatch.DIRECT if applies else _PrincipalMatch.NONE
        return _principal_match(statement.principal, principal)

    def _action(self, statement: _Statement) -> bool:
        hit = any(pattern.fullmatch(self.action) for pattern in statement.actions)
        return hit != statement.not_action

    def _resource(self, statement: _Statement) -> bool:
        if statement.resources is None:
            return True  # a resource policy without Resource is about its own resource
        for pattern in statement.resources:
            for key in pattern.keys:
                self.require(key, "policy variable")
        hit = any(
            _matches_pattern(pattern, self.request.resource, self.context)
            for pattern in statement.resources
        )
        return hit != statement.not_resource

    def _conditions(self, statement: _Statement) -> bool:
        """The AND of every (operator, key) pair, in three-valued logic: one pair known false
        makes the block false whatever the unknown ones say; otherwise an unknown pair makes
        the block unknown (raised)."""
        invalid: list[str] = []
        unknown: list[str] = []
        holds = True
        for operator, key, values in statement.condition:
            try:
                holds = _condition_holds(statement, operator, key, values, self) and holds
            except _Invalid as exc:
                invalid.append(str(exc))
            except _Unknown as exc:
                unknown.append(str(exc))
        if invalid:
            raise _Invalid("; ".join(invalid + unknown))
        if unknown and holds:
            raise _Unknown("; ".join(unknown))
        return holds


def _kind_problem(statement: _Statement, kind: PolicyKind) -> str | None:
    if kind == "identity" and statement.principal is not None:
        return "an identity policy cannot have Principal or NotPrincipal"
    if kind == "identity" and statement.resources is None:
        return "an identity policy statement needs Resource or NotResource"
    if kind == "resource" and statement.principal is None:
        return "a resource policy statement needs Principal or NotPrincipal"
    return None


def _policies(policies: Iterable[PolicyLike], kind: PolicyKind) -> list[Policy]:
    found = []
    for number, policy in enumerate(policies):
        if isinstance(policy, Policy):
            found.append(policy)
        else:
            found.append(Policy(policy, name=f"{kind} #{number}"))
    return found


@dataclass(frozen=True, slots=True)
class _Allows:
    """The statements that allow, by where they are and whom they name."""

    identity: _Result | None
    direct: _Result | None
    """A resource policy statement naming the caller (or everyone)."""
    account: _Result | None
    """A resource policy statement naming the caller's account (a delegation)."""

    @classmethod
    def of(cls, results: Iterable[_Result]) -> _Allows:
        identity = direct = account = None
        for result in results:
            if result.effect != "Allow":
                continue
            if result.ref.kind == "identity":
                identity = identity or result
            elif result.principal is _PrincipalMatch.DIRECT:
                direct = direct or result
            elif result.principal is _PrincipalMatch.ACCOUNT:
                account = account or result
        return cls(identity, direct, account)


def _decide(request: Request, results: list[_Result], *, key_policy: bool) -> Decision:
    """Explicit deny, then what cannot be decided, then allow, then the implicit deny; an
    allow is returned only when it holds whatever the undecidable statements say."""
    definite = [r for r in results if r.problem is None]
    doubtful = [r for r in results if r.problem is not None]
    for result in definite:
        if result.effect == "Deny":
            reason = f"explicitly denied by {result.ref}"
            return Decision(False, Outcome.EXPLICIT_DENY, reason, result.ref)
    blocking = [r for r in doubtful if r.fatal or r.effect == "Deny"]
    if blocking:
        return _unsupported(blocking)
    decision = _allow_or_implicit(request, _Allows.of(definite), key_policy=key_policy)
    if decision.allowed or not doubtful:
        return decision
    return _unsupported(doubtful)


def _unsupported(results: list[_Result]) -> Decision:
    problems = tuple(r.problem for r in results if r.problem is not None)
    reason = f"denied: cannot evaluate {problems[0]}"
    return Decision(False, Outcome.UNSUPPORTED, reason, results[0].ref, problems)


def _allow_or_implicit(request: Request, allows: _Allows, *, key_policy: bool) -> Decision:
    principal = request.principal
    owner = request.resource_account or principal.account
    if key_policy:
        return _decide_key_policy(request, allows)
    if not principal.is_service and owner != principal.account:
        if allows.identity is not None and (allows.direct or allows.account) is not None:
            return _allow(allows.identity)
        return _implicit(
            request,
            "a cross-account request needs both an identity policy and a resource policy"
            " that allow it",
        )
    if allows.direct is not None:
        return _allow(allows.direct)
    if allows.identity is not None:
        return _allow(allows.identity)
    return _implicit(request, "no statement allows it")


def _decide_key_policy(request: Request, allows: _Allows) -> Decision:
    """A KMS key policy must allow the caller, or let the account's IAM policies allow."""
    if allows.direct is not None:
        return _allow(allows.direct)
    if allows.identity is not None and allows.account is not None:
        reason = f"allowed by {allows.identity.ref}, which {allows.account.ref} enables"
        return Decision(True, Outcome.ALLOW, reason, allows.identity.ref)
    if allows.identity is not None:
        return _implicit(
            request,
            f"{allows.identity.ref} allows it, but the key policy neither allows the caller nor"
            " lets the account's IAM policies allow it (no matching account-principal statement)",
        )
    return _implicit(request, "neither the key policy nor an identity policy allows it")


def _allow(result: _Result) -> Decision:
    return Decision(True, Outcome.ALLOW, f"allowed by {result.ref}", result.ref)


def _implicit(request: Request, why: str) -> Decision:
    reason = (
        f"implicitly denied: {request.principal} may not {request.action} on"
        f" {request.resource}: {why}"
    )
    return Decision(False, Outcome.IMPLICIT_DENY, reason)


def _arn_part(arn: str, index: int) -> str:
    parts = arn.split(":", 5)
    return parts[index] if len(parts) > index else ""


def _role_name(role_arn: str) -> str:
    return _arn_part(role_arn, 5).rsplit("/", 1)[-1]
