"""Sigma rules for CloudTrail, compiled with pySigma into per-event DuckDB conditions.

A Sigma rule (``logsource: {product: aws, service: cloudtrail}``) becomes an
:class:`~trailguard.detect.detection.EventDetection` whose ``where`` is a DuckDB
boolean expression over the ``events`` view, exactly like a built-in detection.

The pieces:

* :data:`FIELDS` - the field mapping, declared once from
  :data:`trailguard.formats.schema.CLOUDTRAIL`: top-level columns become quoted
  identifiers, members of the ``userIdentity`` struct become struct access
  (``"userIdentity"."sessionContext"."sessionIssuer"."userName"``), and members of
  the JSON text columns (``requestParameters.bucketName``, any depth) become
  ``json_extract_string`` calls.  Any other field is a compile error naming it.
* :class:`DuckDBBackend` - a pySigma :class:`~sigma.conversion.base.TextQueryBackend`
  that writes that SQL.  Every value reaches the SQL text only as an escaped string
  literal or a validated number, never as raw text.
* :func:`load_sigma_file` / :func:`compile_sigma` - one rule at a time, so a broken
  rule is reported as a :class:`~trailguard.errors.RuleError` (file, document line,
  rule title and id) and the others in the same file still load.

Semantics worth knowing:

* String matches are case-insensitive (Sigma's default); ``|cased`` makes them exact.
  ``|re`` is case-sensitive unless ``|i``, and matches anywhere in the value (RE2).
* A missing field never matches a value, and ``not`` of such a match is true: every
  negation is taken over ``coalesce(..., false)``, so SQL's NULL logic cannot hide
  events from ``selection and not filter``.
* ``|cidr`` compares addresses numerically (IPv4 and IPv6, exact, no extension
  needed): the value is parsed into a fixed-width digit string in SQL and compared
  with the network's first and last address.  Text that is not an IP address never
  matches.
* Keyword (unbound value) searches, correlation rules, filters and placeholders
  (``|expand``) are rejected with a clear error.
"""

from __future__ import annotations

import copy
import ipaddress
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Final

import duckdb
import pyarrow as pa
import yaml
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.state import ConversionState
from sigma.exceptions import (
    SigmaCollectionError,
    SigmaError,
    SigmaFeatureNotSupportedByBackendError,
    SigmaRuleLocation,
)
from sigma.rule import SigmaRule
from sigma.rule.attributes import SigmaLevel
from sigma.rule.base import SigmaYAMLLoader, check_alias_expansion
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaFieldReference,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SigmaTimestampPart,
    SpecialChars,
    TimestampPart,
)

from trailguard.detect.detection import DetectionMeta, EventDetection
from trailguard.detect.windows import literal, quote
from trailguard.errors import RuleError
from trailguard.formats.schema import CLOUDTRAIL, CLOUDTRAIL_JSON_FIELDS, POS

__all__ = [
    "FIELDS",
    "DuckDBBackend",
    "SqlField",
    "UnknownFieldError",
    "cidr_sql",
    "compile_sigma",
    "load_sigma_file",
    "resolve_field",
]

# --- SQL text helpers ---------------------------------------------------------------------


def _lit(text: str) -> str:
    """A DuckDB string literal of ``text`` (standard SQL: only ``'`` needs escaping)."""
    if "\x00" in text:
        raise SigmaFeatureNotSupportedByBackendError("values may not contain NUL characters")
    return literal(text)


def _num(value: int | float) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SigmaFeatureNotSupportedByBackendError(f"{value!r} is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise SigmaFeatureNotSupportedByBackendError(f"number {value!r} is not finite")
    return repr(value) if isinstance(value, float) else str(int(value))


# --- the field mapping --------------------------------------------------------------------


class UnknownFieldError(SigmaError):
    """A Sigma field that is not in the normalised CloudTrail schema."""


@dataclass(frozen=True, slots=True)
class SqlField:
    """How one Sigma field reads in DuckDB: its value, its Arrow type, its presence."""

    name: str
    sql: str
    type: pa.DataType
    exists_sql: str

    @property
    def is_struct(self) -> bool:
        return bool(pa.types.is_struct(self.type))

    @property
    def is_string(self) -> bool:
        return bool(pa.types.is_string(self.type))

    @property
    def is_timestamp(self) -> bool:
        return bool(pa.types.is_timestamp(self.type))

    @property
    def is_numeric(self) -> bool:
        return bool(pa.types.is_integer(self.type) or pa.types.is_floating(self.type))


def _columns(schema: pa.Schema) -> dict[str, tuple[str, str, pa.DataType]]:
    """Every column and struct member: lower-cased dotted name -> (name, sql, type)."""
    out: dict[str, tuple[str, str, pa.DataType]] = {}

    def walk(names: tuple[str, ...], typ: pa.DataType) -> None:
        dotted = ".".join(names)
        out[dotted.lower()] = (dotted, ".".join(quote(n) for n in names), typ)
        if pa.types.is_struct(typ):
            for i in range(typ.num_fields):
                child = typ.field(i)
                walk((*names, child.name), child.type)

    for f in schema:
        if f.name != POS:  # where a row came from is not an event field
            walk((f.name,), f.type)
    return out


#: Sigma field (lower-cased) -> (field name, DuckDB expression, Arrow type), from the schema.
FIELDS: Final = _columns(CLOUDTRAIL)
#: JSON text columns whose members are addressed as ``column.member.member``.
JSON_COLUMNS: Final = {name.lower(): name for name in CLOUDTRAIL_JSON_FIELDS}
_BAD_KEY: Final = re.compile(r'["\\\x00-\x1f\x7f]')


def _json_path(segments: Sequence[str], field: str) -> str:
    path = "$"
    for seg in segments:
        if not seg or _BAD_KEY.search(seg):
            raise UnknownFieldError(
                f"field {field!r}: member name {seg!r} is empty or holds a quote, "
                "backslash or control character"
            )
        # an all-digit member is an array index: resources.0.ARN
        path += f"[{int(seg)}]" if seg.isascii() and seg.isdigit() else f'."{seg}"'
    return path


def resolve_field(name: str) -> SqlField:
    """The DuckDB reading of Sigma field ``name``; :class:`UnknownFieldError` if there is none."""
    if not isinstance(name, str) or not name:
        raise UnknownFieldError(f"field name {name!r} is not a non-empty string")
    known = FIELDS.get(name.lower())
    if known is not None:
        canonical, sql, typ = known
        return SqlField(canonical, sql, typ, f"{sql} IS NOT NULL")
    root, _, rest = name.partition(".")
    column = JSON_COLUMNS.get(root.lower())
    if column is not None and rest:
        # try(): a malformed JSON text reads as "no such member" instead of failing the batch
        path = _lit(_json_path(rest.split("."), name))
        col = quote(column)
        return SqlField(
            name,
            f"try(json_extract_string({col}, {path}))",
            pa.string(),
            f"coalesce(try(json_exists({col}, {path})), false)",
        )
    raise UnknownFieldError(
        f"unknown field {name!r}: not a CloudTrail field, a userIdentity member, or a "
        f"member of {', '.join(CLOUDTRAIL_JSON_FIELDS)}"
    )


# --- CIDR matching without the inet extension -----------------------------------------------

_OCTET: Final = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_V4_RE: Final = rf"({_OCTET}\.){{3}}{_OCTET}"


def _let(value: str, name: str, body: str) -> str:
    """``body`` with ``name`` bound to ``value`` (evaluated once), as a DuckDB lambda."""
    return f"list_transform([{value}], lambda {name}: {body})[1]"


def _v4_canon(x: str) -> str:
    """An IPv4 address as 12 decimal digits (octets zero-padded to 3), else NULL.

    Comparing these strings compares the addresses.
    """
    return _let(
        x,
        "a",
        f"CASE WHEN regexp_full_match(a, '{_V4_RE}') THEN array_to_string("
        "list_transform(string_split(a, '.'), lambda o: lpad(o, 3, '0')), '') END",
    )


def _v6_canon(x: str) -> str:
    """An IPv6 address as 32 hex digits, else NULL.

    '::' is expanded to the missing zero groups and every group padded to 4 digits.
    Embedded IPv4 (``::ffff:1.2.3.4``) and zone ids (``%eth0``) do not parse.
    """
    left = "CASE WHEN h[1] = '' THEN [] ELSE string_split(h[1], ':') END"
    right = "CASE WHEN h[2] = '' THEN [] ELSE string_split(h[2], ':') END"
    filled = (
        "CASE WHEN len(l) + len(r) <= 7 THEN "
        "list_concat(l, list_transform(range(8 - len(l) - len(r)), lambda i: '0'), r) END"
    )
    groups = (
        "CASE WHEN contains(a, '::') THEN "
        + _let("string_split(a, '::')", "h", _let(left, "l", _let(right, "r", filled)))
        + " ELSE string_split(a, ':') END"
    )
    digits = (
        "CASE WHEN len(g) = 8 AND "
        "list_bool_and(list_transform(g, lambda p: length(p) BETWEEN 1 AND 4)) "
        "THEN array_to_string(list_transform(g, lambda p: lpad(p, 4, '0')), '') END"
    )
    return _let(
        f"lower({x})",
        "a",
        "CASE WHEN regexp_full_match(a, '[0-9a-f:]{2,39}') AND NOT contains(a, ':::') "
        "AND length(a) - length(replace(a, '::', '')) <= 2 THEN "
        + _let(groups, "g", digits)
        + " END",
    )


def _v4_key(addr: ipaddress.IPv4Address) -> str:
    return "".join(f"{int(o):03d}" for o in str(addr).split("."))


def cidr_sql(value: str, networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> str:
    """True when the text ``value`` (SQL) is an address inside any of ``networks``."""
    v4 = [
        f"c BETWEEN {_lit(_v4_key(n.network_address))} AND {_lit(_v4_key(n.broadcast_address))}"
        for n in networks
        if isinstance(n, ipaddress.IPv4Network)
    ]
    v6 = [
        f"c BETWEEN '{int(n.network_address):032x}' AND '{int(n.broadcast_address):032x}'"
        for n in networks
        if isinstance(n, ipaddress.IPv6Network)
    ]
    parts = []
    if v4:
        parts.append(_let(_v4_canon(value), "c", " OR ".join(v4)))
    if v6:
        parts.append(_let(_v6_canon(value), "c", " OR ".join(v6)))
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


# --- the backend ----------------------------------------------------------------------------

_LIKE_ESCAPE: Final = "'\\'"
_COMPARE: Final = {
    CompareOperators.LT: "<",
    CompareOperators.LTE: "<=",
    CompareOperators.GT: ">",
    CompareOperators.GTE: ">=",
    CompareOperators.NEQ: "<>",
}
_TIMESTAMP_PARTS: Final = {
    TimestampPart.MINUTE: "minute",
    TimestampPart.HOUR: "hour",
    TimestampPart.DAY: "day",
    TimestampPart.WEEK: "week",
    TimestampPart.MONTH: "month",
    TimestampPart.YEAR: "year",
}


def _unsupported(what: str) -> SigmaFeatureNotSupportedByBackendError:
    return SigmaFeatureNotSupportedByBackendError(what)


def _string_parts(value: SigmaString) -> list[str | SpecialChars]:
    """The parts of a Sigma string, adjacent plain parts merged; placeholders rejected."""
    parts: list[str | SpecialChars] = []
    for part in value.s:
        if isinstance(part, Placeholder):
            raise _unsupported(
                f"placeholder %{part.name}% (|expand) needs a processing pipeline; "
                "write the values out"
            )
        if isinstance(part, str) and parts and isinstance(parts[-1], str):
            parts[-1] += part
        elif not (isinstance(part, str) and part == ""):
            parts.append(part)
    return parts


def _like_pattern(parts: Sequence[str | SpecialChars]) -> str:
    out = []
    for part in parts:
        if part is SpecialChars.WILDCARD_MULTI:
            out.append("%")
        elif part is SpecialChars.WILDCARD_SINGLE:
            out.append("_")
        else:
            out.append(str(part).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_"))
    return "".join(out)


class DuckDBBackend(TextQueryBackend):
    """pySigma backend writing DuckDB conditions over the normalised CloudTrail schema."""

    name: ClassVar[str] = "trailguard DuckDB (CloudTrail)"
    formats: ClassVar[dict[str, str]] = {"default": "DuckDB boolean expression"}
    requires_pipeline: ClassVar[bool] = False

    group_expression: ClassVar[str] = "({expr})"
    or_token: ClassVar[str] = "OR"
    and_token: ClassVar[str] = "AND"
    not_token: ClassVar[str] = "NOT"
    eq_token: ClassVar[str] = " = "
    str_quote: ClassVar[str] = "'"
    # OR-lists of plain strings of one field become one IN (...)
    convert_or_as_in: ClassVar[bool] = True
    convert_and_as_in: ClassVar[bool] = False

    # -- fields

    def escape_and_quote_field(self, field_name: str) -> str:
        return resolve_field(field_name).sql

    @staticmethod
    def _text(field: SqlField) -> str:
        """The field as text, for string matching."""
        if field.is_struct:
            raise _unsupported(
                f"field {field.name!r} is a struct: match one of its members "
                f"(e.g. {field.name}.arn), or use |exists / null"
            )
        return field.sql if field.is_string else f"CAST({field.sql} AS VARCHAR)"

    @staticmethod
    def _number(field: SqlField) -> str:
        """The field as a number, for numeric matching (text that is no number: NULL)."""
        if field.is_numeric:
            return field.sql
        if field.is_struct or field.is_timestamp:
            hint = " (use |minute, |hour, |day, |week, |month, |year)" if field.is_timestamp else ""
            raise _unsupported(f"field {field.name!r} cannot be compared with a number{hint}")
        return f"TRY_CAST({field.sql} AS DOUBLE)"

    # -- boolean structure

    def convert_condition_not(self, cond: ConditionNOT, state: ConversionState) -> str:
        arg = cond.args[0]
        if arg is None:
            raise _unsupported("empty negation")
        # Sigma: a missing field does not match, so its negation does; SQL's NOT NULL is NULL
        return f"NOT coalesce({self.convert_condition(arg, state)}, false)"

    def decide_convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> bool:
        if not isinstance(cond, ConditionOR) or len(cond.args) < 2:
            return False
        args = cond.args
        if not all(isinstance(a, ConditionFieldEqualsValueExpression) for a in args):
            return False
        fields = {a.field for a in args if isinstance(a, ConditionFieldEqualsValueExpression)}
        if len(fields) != 1:
            return False
        values = [a.value for a in args if isinstance(a, ConditionFieldEqualsValueExpression)]
        if all(isinstance(v, SigmaCIDRExpression) for v in values):
            return True
        return all(
            type(v) is SigmaString and not v.contains_special() and not v.contains_placeholder()
            for v in values
        )

    def convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> str:
        items = [a for a in cond.args if isinstance(a, ConditionFieldEqualsValueExpression)]
        field = resolve_field(items[0].field)
        values = [a.value for a in items]
        if all(isinstance(v, SigmaCIDRExpression) for v in values):
            return cidr_sql(
                self._text(field), [v.network for v in values if isinstance(v, SigmaCIDRExpression)]
            )
        texts = []
        for v in values:
            assert isinstance(v, SigmaString)
            plain = "".join(str(p) for p in _string_parts(v))
            texts.append(f"lower({_lit(plain)})")
        return f"lower({self._text(field)}) IN ({', '.join(texts)})"

    # -- values bound to a field

    def _string_match(self, cond: ConditionFieldEqualsValueExpression, cased: bool) -> str:
        value = cond.value
        assert isinstance(value, SigmaString)
        parts = _string_parts(value)
        text = self._text(resolve_field(cond.field))
        field = text if cased else f"lower({text})"

        def lit(s: str) -> str:
            return _lit(s) if cased else f"lower({_lit(s)})"

        multi = SpecialChars.WILDCARD_MULTI
        if not any(isinstance(p, SpecialChars) for p in parts):
            return f"{field} = {lit(''.join(str(p) for p in parts))}"
        if len(parts) == 2 and isinstance(parts[0], str) and parts[1] is multi:
            return f"starts_with({field}, {lit(parts[0])})"
        if len(parts) == 2 and parts[0] is multi and isinstance(parts[1], str):
            return f"ends_with({field}, {lit(parts[1])})"
        if (
            len(parts) == 3
            and parts[0] is multi
            and parts[2] is multi
            and isinstance(parts[1], str)
        ):
            return f"contains({field}, {lit(parts[1])})"
        return f"{field} LIKE {lit(_like_pattern(parts))} ESCAPE {_LIKE_ESCAPE}"

    def convert_condition_field_eq_val_str(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        return self._string_match(cond, cased=False)

    def convert_condition_field_eq_val_str_case_sensitive(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        return self._string_match(cond, cased=True)

    def convert_condition_field_eq_val_num(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        assert isinstance(cond.value, SigmaNumber)
        return f"{self._number(resolve_field(cond.field))} = {_num(cond.value.number)}"

    def convert_condition_field_eq_val_bool(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        assert isinstance(cond.value, SigmaBool)
        field = resolve_field(cond.field)
        word = "true" if cond.value.boolean else "false"
        if pa.types.is_boolean(field.type):
            return f"{field.sql} = {word}"
        return f"lower({self._text(field)}) = '{word}'"

    def convert_condition_field_eq_val_re(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        value = cond.value
        assert isinstance(value, SigmaRegularExpression)
        if value.regexp.contains_placeholder():
            raise _unsupported("placeholders in regular expressions are not supported")
        flags = "".join(sorted(SigmaRegularExpression.sigma_to_re_flag[f] for f in value.flags))
        pattern = (f"(?{flags})" if flags else "") + value.regexp.to_plain(regex=True)
        return f"regexp_matches({self._text(resolve_field(cond.field))}, {_lit(pattern)})"

    def convert_condition_field_eq_val_cidr(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        assert isinstance(cond.value, SigmaCIDRExpression)
        return cidr_sql(self._text(resolve_field(cond.field)), [cond.value.network])

    def convert_condition_field_compare_op_val(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        value = cond.value
        assert isinstance(value, SigmaCompareExpression)
        field = resolve_field(cond.field)
        if isinstance(value.number, SigmaTimestampPart):
            left = self._timestamp_part(field, value.number.timestamp_part)
        else:
            left = self._number(field)
        return f"{left} {_COMPARE[value.op]} {_num(value.number.number)}"

    @staticmethod
    def _timestamp_part(field: SqlField, part: TimestampPart) -> str:
        if field.is_timestamp:
            ts = field.sql
        elif field.is_string:
            ts = f"TRY_CAST({field.sql} AS TIMESTAMPTZ)"
        else:
            raise _unsupported(f"field {field.name!r} is not a time")
        # in UTC, whatever the connection's time zone
        return f"date_part('{_TIMESTAMP_PARTS[part]}', timezone('UTC', {ts}))"

    def convert_condition_field_eq_val_timestamp_part(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        value = cond.value
        assert isinstance(value, SigmaTimestampPart)
        part = self._timestamp_part(resolve_field(cond.field), value.timestamp_part)
        return f"{part} = {_num(value.number)}"

    def convert_condition_field_eq_field(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        value = cond.value
        assert isinstance(value, SigmaFieldReference)
        left = f"lower({self._text(resolve_field(cond.field))})"
        right = f"lower({self._text(resolve_field(value.field))})"
        if value.starts_with and value.ends_with:
            return f"contains({left}, {right})"
        if value.starts_with:  # the referenced value is at the start: field startswith ref
            return f"starts_with({left}, {right})"
        if value.ends_with:
            return f"ends_with({left}, {right})"
        return f"{left} = {right}"

    def convert_condition_field_eq_val_null(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        return f"{resolve_field(cond.field).sql} IS NULL"

    def convert_condition_field_eq_val_exists(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        assert isinstance(cond.value, SigmaExists)
        exists = resolve_field(cond.field).exists_sql
        return exists if cond.value.exists else f"NOT ({exists})"

    def convert_condition_field_exists(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        return resolve_field(cond.field).exists_sql

    def convert_condition_field_not_exists(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        return f"NOT ({resolve_field(cond.field).exists_sql})"

    def convert_condition_field_eq_query_expr(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        raise _unsupported("raw query expressions are not supported")

    # -- values bound to no field (keywords)

    def convert_condition_val(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        raise _unsupported(
            f"keyword search (a value with no field: {cond.value!s}) is not supported; "
            "name the field, e.g. eventName: <value>"
        )

    def finalize_query_default(
        self, rule: SigmaRule, query: Any, index: int, state: ConversionState
    ) -> Any:
        return query


# --- metadata -------------------------------------------------------------------------------

SEVERITY: Final = {
    SigmaLevel.INFORMATIONAL: 1.0,
    SigmaLevel.LOW: 2.0,
    SigmaLevel.MEDIUM: 5.0,
    SigmaLevel.HIGH: 8.0,
    SigmaLevel.CRITICAL: 9.0,
}
DEFAULT_SEVERITY: Final = 5.0
#: ATT&CK tactics (tag names) that give a finding type its threat purpose.
TACTICS: Final = frozenset(
    {
        "reconnaissance",
        "resource_development",
        "initial_access",
        "execution",
        "persistence",
        "privilege_escalation",
        "defense_evasion",
        "stealth",
        "credential_access",
        "discovery",
        "lateral_movement",
        "collection",
        "command_and_control",
        "exfiltration",
        "impact",
    }
)
_TECHNIQUE: Final = re.compile(r"^t\d{4}(\.\d{3})?$", re.IGNORECASE)
_WORD: Final = re.compile(r"[A-Za-z0-9]+")
_ID_CHARS: Final = re.compile(r"[^a-z0-9_.\-]+")
MAX_FAMILY: Final = 60


def _camel(words: str) -> str:
    return "".join(w[0].upper() + w[1:] for w in _WORD.findall(words))


def _template(text: str) -> str:
    """Literal text as a str.format template."""
    return text.replace("{", "{{").replace("}", "}}")


def finding_type_of(rule: SigmaRule) -> str:
    """The rule's ``finding_type`` attribute, else ``<Purpose>:IAMUser/Sigma.<Title>``."""
    custom = rule.custom_attributes.get("finding_type")
    if custom is not None:
        if not isinstance(custom, str):
            raise RuleError("", f"finding_type {custom!r} is not a string")
        return custom
    purpose = "Policy"
    for tag in rule.tags:
        tactic = tag.name.lower().replace("-", "_")  # SigmaHQ now writes attack.defense-evasion
        if tag.namespace.lower() == "attack" and tactic in TACTICS:
            purpose = _camel(tactic.replace("_", " "))
            break
    family = _camel(rule.title)[:MAX_FAMILY] or "Rule"
    return f"{purpose}:IAMUser/Sigma.{family}"


def meta_of(rule: SigmaRule, source: str, fallback_id: str) -> DetectionMeta:
    """The detection metadata of a parsed Sigma rule."""
    rule_id = f"sigma-{str(rule.id).lower()}" if rule.id is not None else fallback_id
    mitre = tuple(
        dict.fromkeys(
            tag.name.upper()
            for tag in rule.tags
            if tag.namespace.lower() == "attack" and _TECHNIQUE.match(tag.name)
        )
    )
    return DetectionMeta(
        id=rule_id,
        finding_type=finding_type_of(rule),
        severity=SEVERITY.get(rule.level, DEFAULT_SEVERITY) if rule.level else DEFAULT_SEVERITY,
        title=_template(rule.title),
        description=_template(str(rule.description or rule.title)),
        log_type="cloudtrail",
        resource_type="AccessKey",
        mitre=mitre,
        false_positives=tuple(str(fp) for fp in rule.falsepositives),
        references=tuple(str(r) for r in rule.references),
        source=source,
    )


# --- loading --------------------------------------------------------------------------------

_DOC_START: Final = re.compile(r"^---(?=\s|$)")
_NO_CONTENT: Final = re.compile(r"^\s*(#.*|%.*)?$")


def _documents(text: str) -> Iterator[tuple[int, str]]:
    """The YAML documents of ``text`` as (first line, 1-based; text), split at ``---``.

    Splitting before parsing keeps one broken document from hiding the others.
    """
    lines = text.splitlines(keepends=True)
    start = 1
    chunk: list[str] = []
    for number, line in enumerate(lines, start=1):
        if _DOC_START.match(line) and any(not _NO_CONTENT.match(c) for c in chunk):
            yield start, "".join(chunk)
            start, chunk = number, []
        elif _DOC_START.match(line) and not chunk:
            start = number
        chunk.append(line)
    if any(not _NO_CONTENT.match(c) for c in chunk):
        yield start, "".join(chunk)


def _label(doc: dict[str, Any], line: int) -> str:
    title, rid = doc.get("title"), doc.get("id")
    parts = [f"rule {title!r}" if isinstance(title, str) and title else "rule"]
    if rid:
        parts.append(f"(id {rid})")
    parts.append(f"at line {line}")
    return " ".join(parts)


def _message(exc: BaseException) -> str:
    if isinstance(exc, SigmaError) and exc.args:
        return str(exc.args[0])
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _yaml_message(exc: yaml.YAMLError, first_line: int) -> str:
    """A YAML error with line numbers of the file, not of the document."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return f"document at line {first_line}: invalid YAML: {exc}"

    def at(mark: Any) -> str:
        return f"line {first_line + mark.line}" if mark is not None else f"line {first_line}"

    text = f"invalid YAML at {at(exc.problem_mark)}: {exc.problem or 'syntax error'}"
    if exc.context:
        text += f" ({exc.context} at {at(exc.context_mark)})"
    return f"document at line {first_line}: {text}"


def _deep_merge(dest: dict[str, Any], src: dict[str, Any]) -> dict[str, Any]:
    for key, value in src.items():
        if isinstance(value, dict) and isinstance(dest.get(key), dict):
            dest[key] = _deep_merge(dest[key], value)
        else:
            dest[key] = copy.deepcopy(value)
    return dest


def _check_logsource(rule: SigmaRule) -> None:
    ls = rule.logsource
    product = (ls.product or "").lower()
    service = (ls.service or "").lower()
    if product != "aws" or service != "cloudtrail":
        raise _unsupported(
            f"unsupported logsource (product {ls.product!r}, service {ls.service!r}, "
            f"category {ls.category!r}): only product: aws, service: cloudtrail"
        )


class _Compiler:
    """Compiles the rules of one source, checking each condition on an empty batch."""

    def __init__(self, source: str, stem: str) -> None:
        self.source = source
        self.stem = _ID_CHARS.sub("_", stem.lower()).strip("_.-") or "rule"
        self.backend = DuckDBBackend()
        self.con = duckdb.connect(config={"threads": 1})
        self.con.register("events", CLOUDTRAIL.empty_table())

    def close(self) -> None:
        self.con.close()

    def where(self, rule: SigmaRule) -> str:
        _check_logsource(rule)
        queries = [q for q in self.backend.convert_rule(rule) if q]
        if not queries:
            raise _unsupported("the condition compiled to nothing")
        if not all(isinstance(q, str) for q in queries):
            raise _unsupported("the condition did not compile to SQL text")
        where = queries[0] if len(queries) == 1 else " OR ".join(f"({q})" for q in queries)
        try:  # catches what only DuckDB knows (RE2 syntax, types) at load time, not per batch
            self.con.execute(f"SELECT count(*) FROM events WHERE {where}").fetchall()  # noqa: S608
        except duckdb.Error as exc:
            raise _unsupported(f"compiled condition rejected by DuckDB: {exc}") from exc
        return where

    def run(self, text: str) -> tuple[list[EventDetection], list[RuleError]]:
        detections: list[EventDetection] = []
        errors: list[RuleError] = []
        pending: list[tuple[int, dict[str, Any]]] = []
        global_rule: dict[str, Any] = {}
        previous: dict[str, Any] = {}
        for line, chunk in _documents(text):
            try:
                doc = yaml.load(chunk, Loader=SigmaYAMLLoader)
            except yaml.YAMLError as exc:
                errors.append(RuleError(self.source, _yaml_message(exc, line)))
                continue
            if doc is None:
                continue
            if not isinstance(doc, dict):
                errors.append(RuleError(self.source, f"document at line {line} is not a mapping"))
                continue
            try:
                check_alias_expansion(doc, SigmaCollectionError)
            except SigmaError as exc:
                errors.append(RuleError(self.source, f"{_label(doc, line)}: {_message(exc)}"))
                continue
            action = doc.get("action")
            if action == "global":
                global_rule = {k: v for k, v in doc.items() if k != "action"}
                previous = global_rule
                continue
            if action == "reset":
                global_rule = {}
                continue
            if action == "repeat":
                merged = _deep_merge(
                    copy.deepcopy(previous), {k: v for k, v in doc.items() if k != "action"}
                )
            elif action is None:
                if "correlation" in doc:
                    errors.append(
                        RuleError(
                            self.source,
                            f"{_label(doc, line)}: correlation rules are not supported "
                            "(use a windowed detection)",
                        )
                    )
                    continue
                if "filter" in doc:
                    errors.append(
                        RuleError(
                            self.source, f"{_label(doc, line)}: Sigma filters are not supported"
                        )
                    )
                    continue
                merged = _deep_merge(copy.deepcopy(doc), global_rule)
            else:
                errors.append(
                    RuleError(self.source, f"document at line {line}: unknown action {action!r}")
                )
                continue
            previous = merged
            pending.append((line, merged))

        no_id = sum(1 for _, d in pending if not d.get("id"))
        for n, (line, doc) in enumerate(pending, start=1):
            fallback = f"sigma-{self.stem}" if no_id <= 1 else f"sigma-{self.stem}-{n}"
            try:
                detections.append(self.compile(doc, line, fallback))
            except RuleError as exc:
                errors.append(RuleError(self.source, f"{_label(doc, line)}: {exc.reason}"))
            except Exception as exc:  # a hostile rule may break pySigma in any way
                errors.append(RuleError(self.source, f"{_label(doc, line)}: {_message(exc)}"))
        return detections, errors

    def compile(self, doc: dict[str, Any], line: int, fallback_id: str) -> EventDetection:
        location = SigmaRuleLocation(Path(self.source), line=line)
        rule = SigmaRule.from_dict(doc, collect_errors=True, source=location)
        if rule.errors:
            raise RuleError(self.source, "; ".join(_message(e) for e in rule.errors))
        if not isinstance(rule.title, str) or not rule.title.strip():
            raise RuleError(self.source, "the rule has no title")
        where = self.where(rule)
        meta = meta_of(rule, self.source, fallback_id)
        try:
            meta.validate(self.source)
        except RuleError as exc:
            raise RuleError(self.source, f"invalid metadata: {exc.reason}") from exc
        return EventDetection(meta=meta, where=where)


def _compile_text(text: str, source: str) -> tuple[list[EventDetection], list[RuleError]]:
    compiler = _Compiler(source, Path(source).stem)
    try:
        return compiler.run(text)
    finally:
        compiler.close()


def compile_sigma(text: str, source: str) -> list[EventDetection]:
    """Compile every rule of a Sigma YAML text; the first problem raises :class:`RuleError`."""
    detections, errors = _compile_text(text, source)
    if errors:
        raise errors[0]
    return detections


def load_sigma_file(path: str | Path) -> tuple[list[EventDetection], list[RuleError]]:
    """The detections of a Sigma file, and a :class:`RuleError` for each rule that failed."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [RuleError(str(p), f"cannot be read: {exc}")]
    return _compile_text(text, str(p))
