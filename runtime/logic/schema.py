"""A dataset's Frictionless Table Schema, checked and compiled into the parser's field rules.

`check_schema` refuses what the pipeline does not support (a `SchemaError` naming it) and what
cannot work (a key field that is not required, an unknown type); `compile_schema` turns a
checked schema into `CompiledSchema`, the `csv_parser.FieldRules` of the dataset: one check per
field, built once (per cold start), and a row check generated as straight-line code over them.

Supported (https://specs.frictionlessdata.io/table-schema/):

- field types ``string``, ``number``, ``integer``, ``boolean``, ``date``, ``datetime``, ``time``,
  ``year``; ``format`` of dates and times (``default``: ISO 8601, ``any``, or a ``strptime``
  pattern); ``decimalChar``, ``groupChar`` and ``bareNumber`` of numbers; ``trueValues`` and
  ``falseValues`` of booleans;
- constraints ``required``, ``minimum``, ``maximum``, ``exclusiveMinimum``,
  ``exclusiveMaximum``, ``minLength``, ``maxLength``, ``pattern``, ``enum``;
- the schema's ``missingValues`` and a ``primaryKey`` of one or two fields (the partition key,
  then the sort key).

Extensions (``x-`` properties, which Table Schema leaves to users): ``x-trim`` (strip the cell's
surrounding whitespace first; on the schema, for every field), ``x-case: "upper"`` of strings,
``x-ascii`` of strings (a non-ASCII value fails the type), ``x-zoneless: "utc"`` of datetimes
(a value without a zone is UTC; without it such a value fails the type), and ``x-reasons``
(the reject reason to report per rule, instead of ``<field>:<rule>``).

Stored forms: numbers and integers as DynamoDB number text (exact, at most 38 significant digits
and within DynamoDB's range: the rules ``precision`` and ``range``), datetimes as
``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC, dates as ``YYYY-MM-DD``, times as ``HH:MM:SS.ffffff``,
years as four digits, booleans as ``true`` / ``false``: fixed width, so string order is value
order. Standard library only: the construct library loads this module to check schemas at
synth.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Context, Decimal, InvalidOperation
from typing import Any, Final

__all__ = [
    "CompiledSchema",
    "SchemaError",
    "check_schema",
    "compile_schema",
    "parse_iso_datetime",
]

TYPES: Final = ("string", "number", "integer", "boolean", "date", "datetime", "time", "year")
CONSTRAINTS: Final = (
    "required",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "enum",
)
_FIELD_KEYS: Final = frozenset(
    {
        "name",
        "type",
        "format",
        "title",
        "description",
        "example",
        "constraints",
        "decimalChar",
        "groupChar",
        "bareNumber",
        "trueValues",
        "falseValues",
        "x-trim",
        "x-case",
        "x-ascii",
        "x-zoneless",
        "x-reasons",
    }
)
_SCHEMA_KEYS: Final = frozenset(
    {"fields", "primaryKey", "missingValues", "title", "description", "$schema", "x-trim"}
)
# Rules a reason can be named for besides the constraints: the cell's type, and DynamoDB's
# limits on a number (38 significant digits; magnitudes 1E-130 to 9.99E+125).
RULES: Final = ("type", *CONSTRAINTS, "precision", "range")
MAX_DIGITS: Final = 38
_MIN_EXPONENT, _MAX_EXPONENT = -130, 125
_MAX_NUMBER_TEXT = 200
_CACHE_SIZE = 65536
_EXACT = Context(prec=MAX_DIGITS + 2, Emax=999_999, Emin=-999_999)
_ORDERED = ("number", "integer", "date", "datetime", "time", "year")
_KEY_TYPES = ("string", "integer", "date", "datetime", "time", "year")


class SchemaError(ValueError):
    """A schema the pipeline cannot take, naming the field and the feature."""


# Checking the document.


def _where(field: Mapping[str, Any] | None) -> str:
    return f"field {field.get('name')!r}: " if field is not None else ""


def check_schema(schema: Mapping[str, Any]) -> None:
    """Refuse a schema with an unsupported feature or one that cannot work; see the module."""
    if not isinstance(schema, Mapping):
        raise SchemaError(f"a Table Schema is a JSON object (got {type(schema).__name__})")
    unknown = sorted(set(schema) - _SCHEMA_KEYS)
    if unknown:
        raise SchemaError(f"unsupported schema properties: {', '.join(unknown)}")
    fields = schema.get("fields")
    if not isinstance(fields, list) or not fields:
        raise SchemaError("fields must be a non-empty list")
    names: list[str] = []
    for field in fields:
        _check_field(field)
        if field["name"].lower() in (n.lower() for n in names):
            raise SchemaError(f"field {field['name']!r} appears twice (names ignore case)")
        names.append(field["name"])
    missing = schema.get("missingValues", [""])
    if not isinstance(missing, list) or not all(isinstance(v, str) for v in missing):
        raise SchemaError("missingValues must be a list of strings")
    key = schema.get("primaryKey")
    keys = [key] if isinstance(key, str) else key
    if not isinstance(keys, list) or not 1 <= len(keys) <= 2:
        raise SchemaError("primaryKey must name one or two fields (partition key, sort key)")
    by_name = {f["name"]: f for f in fields}
    for name in keys:
        if name not in by_name:
            raise SchemaError(f"primaryKey names {name!r}, which is not a field")
        field = by_name[name]
        if not (field.get("constraints") or {}).get("required"):
            raise SchemaError(f"{_where(field)}a key field must be required")
        if field.get("type", "string") not in _KEY_TYPES:
            raise SchemaError(
                f"{_where(field)}a key field must be of type {', '.join(_KEY_TYPES)} "
                f"(a {field.get('type')} has no canonical text form)"
            )
    if len(set(keys)) != len(keys):
        raise SchemaError("primaryKey names one field twice")


def _check_field(field: Any) -> None:
    if not isinstance(field, Mapping) or not isinstance(field.get("name"), str):
        raise SchemaError("every field is an object with a string name")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,63}", field["name"]):
        raise SchemaError(
            f"{_where(field)}a name is a letter, then up to 63 letters, digits or '_'"
        )
    unknown = sorted(set(field) - _FIELD_KEYS)
    if unknown:
        raise SchemaError(f"{_where(field)}unsupported properties: {', '.join(unknown)}")
    kind = field.get("type", "string")
    if kind not in TYPES:
        raise SchemaError(
            f"{_where(field)}unsupported type {kind!r} (supported: {', '.join(TYPES)})"
        )
    constraints = field.get("constraints") or {}
    unknown = sorted(set(constraints) - set(CONSTRAINTS))
    if unknown:
        raise SchemaError(f"{_where(field)}unsupported constraints: {', '.join(unknown)}")
    for bound in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if bound in constraints and kind not in _ORDERED:
            raise SchemaError(f"{_where(field)}{bound} needs an ordered type (got {kind})")
    for length in ("minLength", "maxLength"):
        if length in constraints:
            value = constraints[length]
            if kind != "string" or not isinstance(value, int) or value < 0:
                raise SchemaError(f"{_where(field)}{length} is a count of a string's characters")
    if "pattern" in constraints:
        try:
            re.compile(constraints["pattern"])
        except (re.error, TypeError) as error:
            raise SchemaError(f"{_where(field)}pattern does not compile: {error}") from None
    if "enum" in constraints and not (
        isinstance(constraints["enum"], list) and constraints["enum"]
    ):
        raise SchemaError(f"{_where(field)}enum must be a non-empty list")
    reasons = field.get("x-reasons") or {}
    unknown = sorted(set(reasons) - set(RULES))
    if unknown:
        raise SchemaError(f"{_where(field)}x-reasons names unknown rules: {', '.join(unknown)}")
    if field.get("x-case") not in (None, "upper"):
        raise SchemaError(f"{_where(field)}x-case must be 'upper'")
    if field.get("x-zoneless") not in (None, "utc"):
        raise SchemaError(f"{_where(field)}x-zoneless must be 'utc'")
    fmt = field.get("format", "default")
    if kind in ("date", "datetime", "time") and fmt not in ("default", "any"):
        if not isinstance(fmt, str) or "%" not in fmt:
            raise SchemaError(f"{_where(field)}format is 'default', 'any' or a strptime pattern")
    elif kind not in ("date", "datetime", "time") and fmt != "default":
        raise SchemaError(f"{_where(field)}unsupported format {fmt!r} for type {kind}")
    # The bounds and enum values must themselves be values of the field.
    compiled = _field_parser(field)
    for name in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if name in constraints:
            ok, _ = compiled(str(constraints[name]))
            if not ok:
                raise SchemaError(f"{_where(field)}{name} {constraints[name]!r} is not a {kind}")
    for value in constraints.get("enum", ()):
        ok, _ = compiled(str(value) if not isinstance(value, bool) else str(value).lower())
        if not ok:
            raise SchemaError(f"{_where(field)}enum value {value!r} is not a {kind}")
    if "x-reasons" in field and not all(
        isinstance(v, str) and v for v in field["x-reasons"].values()
    ):
        raise SchemaError(f"{_where(field)}x-reasons maps rules to non-empty reason names")


# Parsing one cell of a type: (True, stored text) or (False, the rule it broke).

Parse = Callable[[str], tuple[bool, Any]]

_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
_LEADING = re.compile(r"^[^0-9+\-.]+")
_TRAILING = re.compile(r"[^0-9.]+$")


def _number_text(text: str, field: Mapping[str, Any]) -> str:
    """The cell's number in plain syntax: group characters out, the decimal point a ``.``,
    and when ``bareNumber`` is false the surrounding non-numeric characters (``€``, ``%``)."""
    group = field.get("groupChar")
    if group:
        text = text.replace(group, "")
    decimal_char = field.get("decimalChar", ".")
    if decimal_char != ".":
        text = text.replace(".", "\0").replace(decimal_char, ".")
    if field.get("bareNumber", True) is False:
        text = _TRAILING.sub("", _LEADING.sub("", text))
    return text


def _number_store(value: Decimal) -> tuple[bool, str]:
    """A number's stored text, or the DynamoDB limit it breaks (``precision``, ``range``)."""
    text = str(value)
    if len(text) > MAX_DIGITS or "E" in text:
        digits = value.as_tuple().digits
        significant = len(digits)
        while significant and digits[significant - 1] == 0:
            significant -= 1
        if significant > MAX_DIGITS:
            return False, "precision"
        if not value.is_zero() and not _MIN_EXPONENT <= value.adjusted() <= _MAX_EXPONENT:
            return False, "range"
    return True, str(_EXACT.normalize(value))


def _number_parser(field: Mapping[str, Any], *, integer: bool) -> Parse:
    """The cell's value as a `Decimal` (its limits are checked when it is stored)."""
    plain = field.get("groupChar") is None and field.get("decimalChar", ".") == "."
    bare = field.get("bareNumber", True) is not False
    syntax = (_INTEGER if integer else _NUMBER).fullmatch
    longest = 10**6 if integer else _MAX_NUMBER_TEXT

    def parse(text: str) -> tuple[bool, Any]:
        if not (plain and bare):
            text = _number_text(text, field)
        if len(text) > longest or syntax(text) is None:
            return False, "type"
        try:
            return True, Decimal(text)
        except InvalidOperation:
            return False, "range"

    return parse


_ISO_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]+))?)?"
    r"(?:([Zz])|([+-])([0-9]{2})(?::?([0-9]{2}))?)?)?",
    re.ASCII,
).fullmatch
_ISO_TIME = re.compile(
    r"([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]+))?)?", re.ASCII
).fullmatch
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", re.ASCII).fullmatch


def _micros(fraction: str | None) -> int | None:
    """Microseconds of a fraction, or None when digits beyond the microsecond are not zeros
    (cutting them could merge two instants)."""
    if fraction is None:
        return 0
    if len(fraction) > 6:
        if fraction[6:].strip("0"):
            return None
        fraction = fraction[:6]
    return int(fraction.ljust(6, "0"))


def _stamp(moment: datetime) -> str:
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}Z"
    )


def parse_iso_datetime(raw: str, *, zoneless_utc: bool) -> tuple[bool, str]:
    """An ISO 8601 datetime (the default format) as its stored UTC form, or the rule it
    breaks (``type``, ``precision``)."""
    match = _ISO_DATETIME(raw)
    if match is None:
        return False, "type"
    year, month, day, hour, minute, second, fraction, zone, sign, off_h, off_m = match.groups()
    if zone is None and sign is None and not zoneless_utc:
        return False, "type"
    micros = _micros(fraction)
    if micros is None:
        return False, "precision"
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            micros,
        )
        if sign is not None:
            offset_hours, offset_minutes = int(off_h), int(off_m or 0)
            if offset_hours > 23 or offset_minutes > 59:
                return False, "type"
            offset = timedelta(hours=offset_hours, minutes=offset_minutes)
            moment = moment - offset if sign == "+" else moment + offset
    except (ValueError, OverflowError):
        return False, "type"
    return True, _stamp(moment)


_valid_dates: dict[str, bool] = {}


def _date_ok(text: str) -> bool:
    known = _valid_dates.get(text)
    if known is None:
        try:
            datetime(int(text[0:4]), int(text[5:7]), int(text[8:10]))
            known = True
        except ValueError:
            known = False
        if len(_valid_dates) < 100_000:
            _valid_dates[text] = known
    return known


def _canonical_fast(raw: str) -> str | None:
    """The machine-written forms ``...THH:MM:SS.ffffffZ`` / ``...THH:MM:SSZ`` without a regex;
    None when the value is not in one of those exact shapes (the full grammar decides)."""
    size = len(raw)
    if size == 27:
        if raw[19] != "." or not raw[20:26].isdigit():
            return None
    elif size != 20:
        return None
    if (
        raw[-1] != "Z"
        or raw[10] != "T"
        or raw[4] != "-"
        or raw[7] != "-"
        or raw[13] != ":"
        or raw[16] != ":"
        or not raw.isascii()
    ):
        return None
    digits = raw[0:4] + raw[5:7] + raw[8:10] + raw[11:13] + raw[14:16] + raw[17:19]
    if not digits.isdigit() or raw[11:13] > "23" or raw[14:16] > "59" or raw[17:19] > "59":
        return None
    if not _date_ok(raw[0:10]):
        return None
    return raw if size == 27 else raw[:19] + ".000000Z"


def _temporal_parser(field: Mapping[str, Any]) -> Parse:
    kind = field.get("type")
    fmt = field.get("format", "default")
    zoneless = field.get("x-zoneless") == "utc"
    if fmt not in ("default", "any"):

        def by_pattern(raw: str) -> tuple[bool, str]:
            try:
                moment = datetime.strptime(raw, fmt)
            except ValueError:
                return False, "type"
            if kind == "date":
                return True, moment.date().isoformat()
            if kind == "time":
                return True, moment.time().strftime("%H:%M:%S.%f")
            if moment.tzinfo is not None:
                moment = (moment - moment.utcoffset()).replace(tzinfo=None)  # type: ignore[operator]
            elif not zoneless:
                return False, "type"
            return True, _stamp(moment)

        return by_pattern
    if kind == "datetime":

        def iso_datetime(raw: str) -> tuple[bool, str]:
            fast = _canonical_fast(raw)
            if fast is not None:
                return True, fast
            return parse_iso_datetime(raw, zoneless_utc=zoneless)

        return iso_datetime
    if kind == "date":

        def iso_date(raw: str) -> tuple[bool, str]:
            if _ISO_DATE(raw) is None:
                return False, "type"
            try:
                return True, date.fromisoformat(raw).isoformat()
            except ValueError:
                return False, "type"

        return iso_date

    def iso_time(raw: str) -> tuple[bool, str]:
        match = _ISO_TIME(raw)
        if match is None:
            return False, "type"
        hour, minute, second, fraction = match.groups()
        micros = _micros(fraction)
        if micros is None:
            return False, "precision"
        try:
            value = time(int(hour), int(minute), int(second or 0), micros)
        except ValueError:
            return False, "type"
        return True, value.strftime("%H:%M:%S.%f")

    return iso_time


def _field_parser(field: Mapping[str, Any]) -> Parse:
    """The type's parse of one (already trimmed) cell."""
    kind = field.get("type", "string")
    if kind in ("number", "integer"):
        return _number_parser(field, integer=kind == "integer")
    if kind in ("date", "datetime", "time"):
        return _temporal_parser(field)
    if kind == "year":
        return lambda raw: (True, raw) if re.fullmatch(r"[0-9]{4}", raw) else (False, "type")
    if kind == "boolean":
        true_values = set(field.get("trueValues", ["true", "True", "TRUE", "1"]))
        false_values = set(field.get("falseValues", ["false", "False", "FALSE", "0"]))

        def boolean(raw: str) -> tuple[bool, str]:
            if raw in true_values:
                return True, "true"
            if raw in false_values:
                return True, "false"
            return False, "type"

        return boolean
    ascii_only = bool(field.get("x-ascii"))
    upper = field.get("x-case") == "upper"

    def string(raw: str) -> tuple[bool, str]:
        if ascii_only and not raw.isascii():
            return False, "type"
        return True, raw.upper() if upper else raw

    return string


# One field's whole check, then the row's.


def _bound_value(parse: Parse, value: Any) -> Any:
    """A bound or enum value of the schema in the field's own domain (what `parse` gives)."""
    ok, parsed = parse(str(value) if not isinstance(value, bool) else str(value).lower())
    assert ok, value
    return parsed


class _FieldCode:
    """One field's check as source lines, with the names they use.

    The same lines serve the field's standalone check (`CompiledSchema.field_check`, and the
    per-file cache of a key string) and the row check, where every field's lines are inlined
    one after the other: a failing rule returns its reason, a passing field leaves its
    stored text (None for a missing optional value) in ``v<index>``.
    """

    def __init__(
        self, index: int, field: Mapping[str, Any], *, missing: frozenset[str], trim: bool
    ) -> None:
        self.index = index
        self.name: str = field["name"]
        self.namespace: dict[str, Any] = {}
        constraints = field.get("constraints") or {}
        reasons = {rule: f"{self.name}:{rule}" for rule in RULES} | dict(
            field.get("x-reasons") or {}
        )
        kind = field.get("type", "string")
        parse = _field_parser(field)
        lines: list[str] = []
        out = f"v{index}"

        def name(suffix: str, value: Any) -> str:
            key = f"{suffix}{index}"
            self.namespace[key] = value
            return key

        def fail(rule: str) -> str:
            return f"return {name('R_' + rule + '_', reasons[rule])}"

        lines.append("raw = {cell}")
        if trim:
            lines.append("raw = raw.strip()")
        empty = "not raw" if missing == frozenset({""}) else f"raw in {name('MISSING', missing)}"
        lines.append(f"if {empty}:")
        if constraints.get("required"):
            lines.append(f"    {fail('required')}")
        else:
            lines.append(f"    {out} = None")
        lines.append("else:")
        body: list[str] = []
        value = "raw"
        if kind == "string":
            if field.get("x-ascii"):
                body += ["if not raw.isascii():", f"    {fail('type')}"]
            if field.get("x-case") == "upper":
                body.append("raw = raw.upper()")
            if "minLength" in constraints:
                body += [
                    f"if len(raw) < {int(constraints['minLength'])}:",
                    f"    {fail('minLength')}",
                ]
            if "maxLength" in constraints:
                body += [
                    f"if len(raw) > {int(constraints['maxLength'])}:",
                    f"    {fail('maxLength')}",
                ]
            if "pattern" in constraints:
                match = name("PATTERN", re.compile(constraints["pattern"]).fullmatch)
                body += [f"if {match}(raw) is None:", f"    {fail('pattern')}"]
        elif kind in ("number", "integer"):
            if (
                field.get("groupChar") is not None
                or field.get("decimalChar", ".") != "."
                or (field.get("bareNumber", True) is False)
            ):
                plain = name("PLAIN", lambda text, f=field: _number_text(text, f))
                body.append(f"raw = {plain}(raw)")
            if kind == "number":
                syntax = name("SYNTAX", _NUMBER.fullmatch)
                body += [
                    f"if len(raw) > {_MAX_NUMBER_TEXT} or {syntax}(raw) is None:",
                    f"    {fail('type')}",
                ]
            else:
                # Plain digits (the common case) need no regex; a sign goes through it. The
                # stored form is canonical: no sign for zero or a positive, no leading zeros.
                syntax = name("SYNTAX", _INTEGER.fullmatch)
                body += [
                    "if raw.isdigit() and raw.isascii():",
                    "    digits = raw.lstrip('0') or '0'",
                    f"elif {syntax}(raw) is None:",
                    f"    {fail('type')}",
                    "else:",
                    "    digits = raw.lstrip('+-').lstrip('0') or '0'",
                    "    if raw[0] == '-' and digits != '0':",
                    "        digits = '-' + digits",
                ]
            if "pattern" in constraints:
                match = name("PATTERN", re.compile(constraints["pattern"]).fullmatch)
                body += [f"if {match}(raw) is None:", f"    {fail('pattern')}"]
            if kind == "number":
                self.namespace["Decimal"] = Decimal
                self.namespace["InvalidOperation"] = InvalidOperation
                body += [
                    "try:",
                    "    number = Decimal(raw)",
                    "except InvalidOperation:",
                    f"    {fail('range')}",
                ]
            else:
                body += [
                    f"if len(digits) - (digits[0] == '-') > {MAX_DIGITS}:",
                    f"    {fail('range')}",
                ]
                if any(
                    c in constraints
                    for c in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "enum")
                ):
                    body.append("number = int(digits)")
            value = "number"
        else:
            parsed = name("PARSE", parse)
            limits = name("LIMITS", {r: reasons[r] for r in ("type", "precision", "range")})
            body += [
                f"ok, parsed = {parsed}(raw)",
                "if not ok:",
                f"    return {limits}[parsed]",
            ]
            if "pattern" in constraints:
                match = name("PATTERN", re.compile(constraints["pattern"]).fullmatch)
                body += [f"if {match}(raw) is None:", f"    {fail('pattern')}"]
            value = "parsed"
        domain: Callable[[Any], Any] = int if kind == "integer" else (lambda v: v)
        for rule, symbol in (
            ("minimum", ">="),
            ("maximum", "<="),
            ("exclusiveMinimum", ">"),
            ("exclusiveMaximum", "<"),
        ):
            if rule in constraints:
                bound = name(f"BOUND_{rule}_", domain(_bound_value(parse, constraints[rule])))
                body += [f"if not {value} {symbol} {bound}:", f"    {fail(rule)}"]
        if "enum" in constraints:
            allowed = name(
                "ENUM", frozenset(domain(_bound_value(parse, v)) for v in constraints["enum"])
            )
            body += [f"if {value} not in {allowed}:", f"    {fail('enum')}"]
        if kind == "number":
            store = name("STORE", _number_store)
            normalize = name("NORMALIZE", _EXACT.normalize)
            limits = name("LIMITS", {r: reasons[r] for r in ("precision", "range")})
            body += [
                f"if len(raw) <= {MAX_DIGITS} and 'e' not in raw and 'E' not in raw:",
                "    # Plain notation this short has at most 38 digits, its exponent in range.",
                f"    {out} = str({normalize}(number))",
                "else:",
                f"    ok, {out} = {store}(number)",
                "    if not ok:",
                f"        return {limits}[{out}]",
            ]
        elif kind == "integer":
            body.append(f"{out} = digits")
        else:
            body.append(f"{out} = {value}")
        lines += [f"    {line}" for line in body]
        self.lines = lines

    def inline(self, cell: str) -> list[str]:
        """The lines with the cell expression filled in."""
        return [line.replace("{cell}", cell) for line in self.lines]

    def function(self) -> Callable[[str], tuple[bool, str | None]]:
        """The field's standalone check: (True, stored text or None) or (False, reason)."""
        source = ["def field(cell):"]
        for line in self.inline("cell"):
            stripped = line.lstrip()
            if stripped.startswith("return "):
                indent = line[: len(line) - len(stripped)]
                stripped = f"return (False, {stripped.removeprefix('return ')})"
                source.append(f"    {indent}{stripped}")
            else:
                source.append(f"    {line}")
        source.append(f"    return (True, v{self.index})")
        namespace = dict(self.namespace)
        exec("\n".join(source), namespace)  # noqa: S102 - source built here from the schema
        checked: Callable[[str], tuple[bool, str | None]] = namespace["field"]
        return checked


@dataclass(frozen=True)
class Dialect:
    """The CSV dialect of a dataset's files."""

    delimiter: str = ","


class CompiledSchema:
    """A checked schema as the parser's `FieldRules`: the header it needs, one check per row.

    A row is the stored values in key order, then the other fields in the schema's order (a
    missing optional value is None): the parser decides duplicates on the first two.
    """

    def __init__(self, schema: Mapping[str, Any], dialect: Dialect | None = None) -> None:
        check_schema(schema)
        self.schema = schema
        self.dialect = dialect or Dialect()
        fields: Sequence[Mapping[str, Any]] = schema["fields"]
        key = schema["primaryKey"]
        self.key_fields: tuple[str, ...] = (key,) if isinstance(key, str) else tuple(key)
        self.field_names: tuple[str, ...] = tuple(f["name"] for f in fields)
        order = [*self.key_fields, *(n for n in self.field_names if n not in self.key_fields)]
        self.row_fields: tuple[str, ...] = tuple(order)
        types = {f["name"]: f.get("type", "string") for f in fields}
        self.row_types: tuple[str, ...] = tuple(types[name] for name in order)
        """Each row position's Table Schema type."""
        missing = frozenset(schema.get("missingValues", [""]))
        trim_all = bool(schema.get("x-trim"))
        self._code = [
            _FieldCode(i, f, missing=missing, trim=bool(f.get("x-trim", trim_all)))
            for i, f in enumerate(fields)
        ]
        self.field_check = {code.name: code.function() for code in self._code}
        """Each field's standalone check, by name: (True, stored text or None) or
        (False, reason)."""
        # A key string repeats across a file (a few symbols, many rows): cached per file.
        self._cached = {
            f["name"]
            for f in fields
            if f.get("type", "string") == "string" and f["name"] in self.key_fields
        }

    @property
    def delimiter(self) -> str:
        """The cell delimiter of the dataset's files."""
        return self.dialect.delimiter

    @property
    def key_width(self) -> int:
        """How many leading values of a row are its key."""
        return len(self.key_fields)

    def header(self, cells: list[str]) -> Any:
        # Here, not at the top: the construct library loads this module alone to check schemas.
        from runtime.logic.csv_parser import FileReason, Header, HeaderError  # noqa: PLC0415

        names = [cell.strip().lower() for cell in cells]
        wanted = {name.lower(): name for name in self.field_names}
        positions: dict[str, int] = {}
        extra: list[str] = []
        for index, name in enumerate(names):
            if name in wanted:
                if name in positions:
                    raise HeaderError(
                        FileReason.DUPLICATE_COLUMN,
                        f"column {name!r} appears twice",
                        names=names,
                        extra_columns=extra,
                    )
                positions[name] = index
            else:
                extra.append(name)
        absent = [name.lower() for name in self.field_names if name.lower() not in positions]
        if absent:
            raise HeaderError(
                FileReason.MISSING_COLUMN,
                "missing column(s): " + ", ".join(absent),
                names=names,
                extra_columns=extra,
            )
        return Header(
            tuple(names),
            tuple(positions[name.lower()] for name in self.field_names),
            tuple(extra),
        )

    def row_check(self, header: Any) -> Callable[[list[str]], Any]:
        """The row check of this header, generated as one function: each field's lines in the
        schema's order, then the row in key order."""
        namespace: dict[str, Any] = {}
        lines = ["def check(cells):"]
        for code, position in zip(self._code, header.positions, strict=True):
            namespace.update(code.namespace)
            i = code.index
            if code.name in self._cached:
                cache: dict[str, tuple[bool, str | None]] = {}
                namespace[f"get{i}"] = cache.get
                namespace[f"cache{i}"] = cache
                namespace[f"field{i}"] = self.field_check[code.name]
                lines += [
                    f"    cell = cells[{position}]",
                    f"    found = get{i}(cell)",
                    "    if found is None:",
                    f"        found = field{i}(cell)",
                    f"        if len(cache{i}) < {_CACHE_SIZE}:",
                    f"            cache{i}[cell] = found",
                    "    if not found[0]:",
                    "        return found[1]",
                    f"    v{i} = found[1]",
                ]
            else:
                lines += [f"    {line}" for line in code.inline(f"cells[{position}]")]
        index = {code.name: code.index for code in self._code}
        lines.append(f"    return ({', '.join(f'v{index[n]}' for n in self.row_fields)},)")
        exec("\n".join(lines), namespace)  # noqa: S102 - source built here from the schema
        row_check: Callable[[list[str]], Any] = namespace["check"]
        return row_check


def compile_schema(schema: Mapping[str, Any], *, delimiter: str = ",") -> CompiledSchema:
    """Check ``schema`` and compile it (see `CompiledSchema`)."""
    return CompiledSchema(schema, Dialect(delimiter=delimiter))
