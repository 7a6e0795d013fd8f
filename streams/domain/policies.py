"""Policies as data: conditions over order and line fields, and what to set when they hold.

Like the product's policies: conditions in AND/OR groups (``all`` / ``any``, nested) with
the operators eq, ne, gt, ge, lt, le, in, has_data and has_no_data; validation policies
that are *critical* (the flow stops) or *information* (noted, the flow goes on); and
assignment policies whose actions set values (company, invoice customer, site, warehouse
for e-commerce orders that arrive without them). Everything here is pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import Field, model_validator

from streams.domain.order import LineState, OrderState
from streams.domain.values import LineAssignment, Value

Operator = Literal["eq", "ne", "gt", "ge", "lt", "le", "in", "has_data", "has_no_data"]


class Condition(Value):
    field: str
    op: Operator
    value: Any = None

    @model_validator(mode="after")
    def _value_fits_operator(self) -> Condition:
        if self.op in ("has_data", "has_no_data"):
            if self.value is not None:
                raise ValueError(f"'{self.op}' takes no value")
        elif self.op == "in":
            if not isinstance(self.value, list | tuple) or not self.value:
                raise ValueError("'in' needs a non-empty list of values")
        elif self.value is None:
            raise ValueError(f"'{self.op}' needs a value")
        return self


class AllOf(Value):
    all: tuple[Rule, ...] = Field(min_length=1)


class AnyOf(Value):
    any: tuple[Rule, ...] = Field(min_length=1)


Rule = Condition | AllOf | AnyOf
AllOf.model_rebuild()
AnyOf.model_rebuild()


_DIGIT = re.compile(r"\d")
"""A decimal digit, as ``Decimal`` reads them (any Unicode ``Nd``, as ``\\d`` matches)."""


def _number(value: Any) -> Decimal | None:
    """The value as a finite number, or None: text such as "NaN" stays text. Text without a
    digit is no finite number: said without raising (most fields compared are words)."""
    if value is None or isinstance(value, bool):
        return None
    if type(value) is int:
        return Decimal(value)  # exact, as Decimal(str(value)) is
    if type(value) is Decimal:
        return value if value.is_finite() else None  # its text reads back as itself
    text = str(value)
    if _DIGIT.search(text) is None:
        return None
    try:
        number = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _compare(actual: Any, op: Operator, expected: Any) -> bool:
    if op == "has_data":
        return actual not in (None, "", ())
    if op == "has_no_data":
        return actual in (None, "", ())
    if op == "in":
        return any(_equal(actual, v) for v in expected)
    if op == "eq":
        return _equal(actual, expected)
    if op == "ne":
        return not _equal(actual, expected)
    a, e = _number(actual), _number(expected)
    if a is None or e is None:
        return False  # an ordering on something that is not a number never holds
    if op == "gt":
        return a > e
    if op == "ge":
        return a >= e
    if op == "lt":
        return a < e
    return a <= e


def _equal(actual: Any, expected: Any) -> bool:
    """Numbers compare as numbers (19.9 == "19.90"), anything else as text. The same text
    is equal either way (the same number, or the same text): said without reading numbers."""
    text = str(actual)
    if text == str(expected):
        return True
    a, e = _number(actual), _number(expected)
    return a is not None and e is not None and a == e


def holds(rule: Rule, fields: Mapping[str, Any]) -> bool:
    if isinstance(rule, AllOf):
        return all(holds(r, fields) for r in rule.all)
    if isinstance(rule, AnyOf):
        return any(holds(r, fields) for r in rule.any)
    return _compare(fields.get(rule.field), rule.op, rule.value)


def header_fields(state: OrderState) -> dict[str, Any]:
    """The order header as flat field names: ``company``, ``ship_to.country``,
    ``attributes.<key>``, ``external_ref.<system>``, ``total_amount``..."""
    fields: dict[str, Any] = {
        "order_id": state.order_id,
        "channel": state.channel,
        "customer_id": state.customer_id,
        "currency": state.currency,
        "company": state.company,
        "invoice_customer": state.invoice_customer,
        "status": state.status,
        "status_reason": state.status_reason,
        "line_count": len(state.lines),
        "is_manual": state.is_manual,
        "sales_origin": state.sales_origin,
        "customer_reference": state.customer_reference,
        "shipped_by": state.shipped_by,
        "invoiced_by": state.invoiced_by,
        "total_amount": sum((line.unit_price * line.quantity for line in state.lines), Decimal(0)),
    }
    for name, value in state.ship_to.__dict__.items():  # its fields: model_dump's, uncopied
        fields[f"ship_to.{name}"] = value
    for key, value in state.attributes.items():
        fields[f"attributes.{key}"] = value
    for ref in state.external_refs:
        fields[f"external_ref.{ref.system}"] = ref.ref
    return fields


def line_fields(
    state: OrderState, line: LineState, header: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A line's fields (``sku``, ``quantity``, ``site``...) beside its order's header fields
    (``header``: ``header_fields(state)`` made once for all the lines)."""
    fields = dict(header) if header is not None else header_fields(state)
    fields.update(
        {
            "line_id": line.line_id,
            "sku": line.sku,
            "quantity": line.quantity,
            "unit_price": line.unit_price,
            "site": line.site,
            "warehouse": line.warehouse,
            "line_status": state.line_status(line),
        }
    )
    return fields


class ValidationRule(Value):
    require: Rule
    message: str
    when: Rule | None = None
    """Only check records for which this holds (a filter on the rule)."""
    severity: Literal["critical", "information"] = "critical"


class ValidationPolicy(Value):
    name: str
    scope: Literal["header", "lines"]
    rules: tuple[ValidationRule, ...] = Field(min_length=1)


class ValidationResult(Value):
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.errors


def validate(policy: ValidationPolicy, state: OrderState) -> ValidationResult:
    """Critical failures become errors, information failures warnings; messages name the line."""
    records: list[tuple[str, dict[str, Any]]]
    if policy.scope == "header":
        records = [("", header_fields(state))]
    else:
        header = header_fields(state)
        records = [(f"line {line.line_id}: ", line_fields(state, line, header)) for line in state.lines]
    errors: list[str] = []
    warnings: list[str] = []
    for prefix, fields in records:
        for rule in policy.rules:
            if rule.when is not None and not holds(rule.when, fields):
                continue
            if not holds(rule.require, fields):
                (errors if rule.severity == "critical" else warnings).append(prefix + rule.message)
    return ValidationResult(errors=tuple(errors), warnings=tuple(warnings))


HEADER_TARGETS = frozenset({"company", "invoice_customer"})
LINE_TARGETS = frozenset({"site", "warehouse"})


class Assignment(Value):
    set: dict[str, str] = Field(min_length=1)
    when: Rule | None = None


class AssignmentPolicy(Value):
    """Fills in what an order arrives without; values already there are never overwritten."""

    name: str
    header: tuple[Assignment, ...] = ()
    lines: tuple[Assignment, ...] = ()

    @model_validator(mode="after")
    def _known_targets(self) -> AssignmentPolicy:
        for scope, rules, known in (
            ("header", self.header, HEADER_TARGETS),
            ("lines", self.lines, LINE_TARGETS),
        ):
            for rule in rules:
                unknown = set(rule.set) - known
                if unknown:
                    raise ValueError(
                        f"{scope} assignment cannot set {sorted(unknown)}; it sets {sorted(known)}"
                    )
        return self


class AssignmentResult(Value):
    company: str | None = None
    invoice_customer: str | None = None
    lines: tuple[LineAssignment, ...] = ()


def assign(policy: AssignmentPolicy, state: OrderState) -> AssignmentResult:
    """First matching rule wins, per field."""
    header = header_fields(state)
    header_values: dict[str, str] = {}
    for rule in policy.header:
        if rule.when is None or holds(rule.when, header):
            for name, value in rule.set.items():
                if header.get(name) in (None, "") and name not in header_values:
                    header_values[name] = value
    lines = []
    for line in state.lines:
        fields = line_fields(state, line, header)
        values: dict[str, str] = {}
        for rule in policy.lines:
            if rule.when is None or holds(rule.when, fields):
                for name, value in rule.set.items():
                    if fields.get(name) in (None, "") and name not in values:
                        values[name] = value
        if values:
            lines.append(LineAssignment(line_id=line.line_id, **values))
    return AssignmentResult(**header_values, lines=tuple(lines))
