"""The slice of OData that the F&O (v4) and SAP (v2) simulators share.

- ``$filter``: comparisons (``eq ne gt ge lt le``) joined by ``and``/``or``/``not`` and
  parentheses; string, number, boolean, null and date-time literals; typed literals such
  as F&O's enum syntax ``Microsoft.Dynamics.DataEntities.SalesStatus'Backorder'`` and
  v2's ``datetime'2024-01-01T00:00:00'``; the functions ``contains``, ``startswith``,
  ``endswith`` (v4) and ``substringof`` (v2). F&O's wildcard ``eq '*x*'`` (contains) and
  its case-insensitive string comparison are options [FO-ODATA "Filter details"].
- entity keys: ``('4711')`` and ``(dataAreaId='usmf',SalesOrderNumber='000123')``.
- v2 JSON dates: ``/Date(ms)/`` and ``/Date(ms+0000)/`` (provider-apis.md section 4.1).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

Record = Mapping[str, Any]
Predicate = Callable[[Record], bool]

COMPARISONS: Final = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})
FUNCTIONS: Final = frozenset({"contains", "startswith", "endswith", "substringof", "tolower", "toupper"})

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<typed>[A-Za-z_][\w.]*'(?:[^']|'')*')
  | (?P<string>'(?:[^']|'')*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[mMdDfFlL]?)
  | (?P<name>[A-Za-z_$][\w]*)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)


class FilterError(ValueError):
    """The ``$filter`` (or key, or query option) cannot be understood."""


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


@dataclass(frozen=True)
class Literal:
    value: Any
    type_name: str = ""


@dataclass(frozen=True)
class Field:
    name: str


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Compare:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class Logical:
    op: str
    parts: tuple[Any, ...]


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise FilterError(f"Syntax error at position {pos} in '{text}'.")
        kind = match.lastgroup or ""
        if kind != "ws":
            out.append(_Token(kind, match.group()))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise FilterError(f"Unexpected end of the expression '{self.text}'.")
        self.pos += 1
        return token

    def keyword(self, *words: str) -> str | None:
        token = self.peek()
        if token is not None and token.kind == "name" and token.text.lower() in words:
            self.pos += 1
            return token.text.lower()
        return None

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text:
            raise FilterError(f"'{text}' expected instead of '{token.text}' in '{self.text}'.")

    def parse(self) -> Any:
        node = self.or_expr()
        if self.peek() is not None:
            raise FilterError(f"Syntax error at '{self.take().text}' in '{self.text}'.")
        return node

    def or_expr(self) -> Any:
        parts = [self.and_expr()]
        while self.keyword("or"):
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else Logical("or", tuple(parts))

    def and_expr(self) -> Any:
        parts = [self.not_expr()]
        while self.keyword("and"):
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else Logical("and", tuple(parts))

    def not_expr(self) -> Any:
        if self.keyword("not"):
            return Logical("not", (self.not_expr(),))
        return self.comparison()

    def comparison(self) -> Any:
        left = self.primary()
        op = self.keyword(*COMPARISONS)
        if op is None:
            return left
        return Compare(op, left, self.primary())

    def primary(self) -> Any:
        token = self.take()
        if token.text == "(":
            node = self.or_expr()
            self.expect(")")
            return node
        if token.kind == "string":
            return Literal(token.text[1:-1].replace("''", "'"))
        if token.kind == "typed":
            type_name, _, rest = token.text.partition("'")
            return Literal(_typed_value(type_name, rest[:-1].replace("''", "'")), type_name)
        if token.kind == "datetime":
            return Literal(_parse_datetime(token.text))
        if token.kind == "number":
            return Literal(_parse_number(token.text))
        if token.kind == "name":
            lowered = token.text.lower()
            if lowered in ("true", "false"):
                return Literal(lowered == "true")
            if lowered == "null":
                return Literal(None)
            nxt = self.peek()
            if nxt is not None and nxt.text == "(" and lowered in FUNCTIONS:
                self.take()
                args = [self.or_expr()]
                while self.peek() is not None and self.peek() == _Token("punct", ","):
                    self.take()
                    args.append(self.or_expr())
                self.expect(")")
                return Call(lowered, tuple(args))
            return Field(token.text)
        raise FilterError(f"Syntax error at '{token.text}' in '{self.text}'.")


def _parse_number(text: str) -> Decimal:
    try:
        return Decimal(text.rstrip("mMdDfFlL"))
    except InvalidOperation as exc:
        raise FilterError(f"'{text}' is not a number.") from exc


def _parse_datetime(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise FilterError(f"'{text}' is not a date-time.") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _typed_value(type_name: str, raw: str) -> Any:
    lowered = type_name.lower()
    if lowered in ("datetime", "datetimeoffset"):
        return _parse_datetime(raw)
    if lowered in ("guid", "x", "binary"):
        return raw
    return raw  # an enum literal: the symbol is the value (enums travel as symbol strings)


def compile_filter(
    text: str,
    fields: Collection[str],
    *,
    entity: str,
    wildcards: bool = False,
    case_insensitive: bool = False,
) -> Predicate:
    """A predicate for ``$filter=text`` over records with ``fields``; FilterError if bad."""
    tree = _Parser(text).parse()
    _check_fields(tree, fields, entity)

    def predicate(record: Record) -> bool:
        return bool(_evaluate(tree, record, wildcards, case_insensitive))

    return predicate


def _check_fields(node: Any, fields: Collection[str], entity: str) -> None:
    if isinstance(node, Field):
        if node.name not in fields:
            raise FilterError(f"Could not find a property named '{node.name}' on type '{entity}'.")
    elif isinstance(node, Compare):
        _check_fields(node.left, fields, entity)
        _check_fields(node.right, fields, entity)
    elif isinstance(node, Logical | Call):
        for part in node.parts if isinstance(node, Logical) else node.args:
            _check_fields(part, fields, entity)


def _evaluate(node: Any, record: Record, wildcards: bool, fold: bool) -> Any:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Field):
        return record.get(node.name)
    if isinstance(node, Logical):
        values = [_evaluate(p, record, wildcards, fold) for p in node.parts]
        if node.op == "not":
            return not values[0]
        return all(values) if node.op == "and" else any(values)
    if isinstance(node, Call):
        return _call(node, [_evaluate(a, record, wildcards, fold) for a in node.args], fold)
    assert isinstance(node, Compare)
    left = _evaluate(node.left, record, wildcards, fold)
    right = _evaluate(node.right, record, wildcards, fold)
    if wildcards and node.op in ("eq", "ne") and isinstance(right, str) and "*" in right:
        pattern = ".*".join(re.escape(p) for p in right.split("*"))
        hit = re.fullmatch(pattern, str(left or ""), re.IGNORECASE if fold else 0) is not None
        return hit if node.op == "eq" else not hit
    return _compare(node.op, left, right, fold)


def _call(node: Call, args: list[Any], fold: bool) -> Any:
    texts = ["" if a is None else str(a) for a in args]
    if fold:
        texts = [t.lower() for t in texts]
    if node.name == "tolower":
        return texts[0].lower()
    if node.name == "toupper":
        return texts[0].upper()
    if len(texts) != 2:
        raise FilterError(f"{node.name} takes two arguments.")
    if node.name == "contains":
        return texts[1] in texts[0]
    if node.name == "substringof":
        return texts[0] in texts[1]
    if node.name == "startswith":
        return texts[0].startswith(texts[1])
    return texts[0].endswith(texts[1])


def _comparable(left: Any, right: Any) -> tuple[Any, Any] | None:
    if left is None or right is None:
        return None
    numeric = (int, float, Decimal)
    if (isinstance(left, numeric) and not isinstance(left, bool)) or isinstance(right, Decimal):
        try:
            return Decimal(str(left)), Decimal(str(right))
        except InvalidOperation:
            return None
    if isinstance(left, datetime | date) or isinstance(right, datetime):
        try:
            return _as_datetime(left), _as_datetime(right)
        except (TypeError, ValueError):
            return None
    if isinstance(left, bool) or isinstance(right, bool):
        return (left, right) if isinstance(left, bool) and isinstance(right, bool) else None
    return str(left), str(right)


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        return _parse_datetime(value)
    raise TypeError(value)


def _compare(op: str, left: Any, right: Any, fold: bool) -> bool:
    if left is None or right is None:
        same = left is None and right is None
        return same if op in ("eq", "ge", "le") else (not same if op == "ne" else False)
    pair = _comparable(left, right)
    if pair is None:
        return op == "ne"
    a, b = pair
    if fold and isinstance(a, str):
        a, b = a.lower(), str(b).lower()
    if op == "eq":
        return bool(a == b)
    if op == "ne":
        return bool(a != b)
    if op == "gt":
        return bool(a > b)
    if op == "ge":
        return bool(a >= b)
    if op == "lt":
        return bool(a < b)
    return bool(a <= b)


_KEY_PART = re.compile(r"\s*(?:(?P<name>\w+)\s*=\s*)?(?P<value>'(?:[^']|'')*'|[^,']+)\s*(?:,|$)")


def parse_key(text: str) -> dict[str, str]:
    """``'4711'`` -> ``{"": "4711"}``; ``a='x',b='y'`` -> ``{"a": "x", "b": "y"}``."""
    out: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        match = _KEY_PART.match(text, pos)
        if match is None or match.end() == pos:
            raise FilterError(f"Bad key predicate '({text})'.")
        value = match.group("value").strip()
        if value.startswith("'"):
            value = value[1:-1].replace("''", "'")
        out[match.group("name") or ""] = value
        pos = match.end()
    if not out:
        raise FilterError("An empty key predicate.")
    return out


def query_int(query: Mapping[str, str], name: str) -> int | None:
    """A non-negative integer query option such as ``$top`` (None when absent)."""
    raw = query.get(name)
    if raw is None:
        return None
    if not raw.isdigit():
        raise FilterError(f"The value '{raw}' of the query option {name} is not a non-negative integer.")
    return int(raw)


def v2_date(value: datetime | date) -> str:
    """``/Date(ms)/``: Edm.DateTime of OData v2 JSON (midnight UTC for a date)."""
    return f"/Date({_epoch_ms(value)})/"


def v2_datetimeoffset(value: datetime) -> str:
    """``/Date(ms+0000)/``: Edm.DateTimeOffset of OData v2 JSON."""
    return f"/Date({_epoch_ms(value)}+0000)/"


def _epoch_ms(value: datetime | date) -> int:
    return int(_as_datetime(value).timestamp() * 1000)


def select_fields(record: Mapping[str, Any], select: str | None) -> dict[str, Any]:
    """``$select=a,b``: keep those fields (and OData annotations)."""
    if not select:
        return dict(record)
    wanted = {s.strip() for s in select.split(",") if s.strip()}
    return {k: v for k, v in record.items() if k in wanted or k.startswith(("@", "__"))}
