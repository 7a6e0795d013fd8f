"""Validation policies (critical errors, information warnings, per-line messages, `when`
filters) and assignment policies (first matching rule wins, nothing is overwritten)."""

from __future__ import annotations

from typing import Any

import pytest
from given import SHIP_TO, create_order, given, line
from pydantic import ValidationError

from streams.domain.order import OrderState
from streams.domain.policies import (
    AssignmentPolicy,
    AssignmentResult,
    ValidationPolicy,
    ValidationResult,
    assign,
    validate,
)
from streams.domain.values import LineAssignment, OrderLine


def order(*lines: OrderLine | str, country: str = "US", **overrides: Any) -> OrderState:
    ship_to = SHIP_TO.model_copy(update={"country": country})
    state = given(create_order("bc-118", lines or ("L1",), ship_to=ship_to, **overrides)).state
    assert state is not None
    return state


def header_policy(*rules: dict[str, Any]) -> ValidationPolicy:
    return ValidationPolicy.model_validate({"name": "header", "scope": "header", "rules": rules})


def lines_policy(*rules: dict[str, Any]) -> ValidationPolicy:
    return ValidationPolicy.model_validate({"name": "lines", "scope": "lines", "rules": rules})


def assignment(**body: Any) -> AssignmentPolicy:
    return AssignmentPolicy.model_validate({"name": "assign", **body})


US = {"field": "ship_to.country", "op": "eq", "value": "US"}
CA = {"field": "ship_to.country", "op": "eq", "value": "CA"}

# -- validation ----------------------------------------------------------------------------------


def test_a_critical_rule_that_fails_is_an_error_and_the_order_does_not_pass() -> None:
    policy = header_policy(
        {
            "require": {"field": "ship_to.country", "op": "in", "value": ["US", "CA"]},
            "message": "US and Canada only",
        }
    )

    assert validate(policy, order(country="US")) == ValidationResult()
    verdict = validate(policy, order(country="DE"))
    assert verdict == ValidationResult(errors=("US and Canada only",))
    assert not verdict.passed


def test_an_information_rule_that_fails_is_a_warning_and_the_order_passes() -> None:
    policy = header_policy(
        {
            "require": {"field": "total_amount", "op": "le", "value": 100},
            "message": "big order",
            "severity": "information",
        }
    )

    verdict = validate(policy, order(line("L1", quantity=30, unit_price="5.00")))

    assert verdict == ValidationResult(warnings=("big order",))
    assert verdict.passed


def test_errors_and_warnings_keep_the_order_of_the_rules() -> None:
    policy = header_policy(
        {"require": {"field": "company", "op": "has_data"}, "message": "no company"},
        {
            "require": {"field": "currency", "op": "eq", "value": "EUR"},
            "message": "not EUR",
            "severity": "information",
        },
        {"require": {"field": "invoice_customer", "op": "has_data"}, "message": "no invoice customer"},
        {"require": {"field": "customer_id", "op": "has_data"}, "message": "never shown"},
    )

    verdict = validate(policy, order())

    assert verdict.errors == ("no company", "no invoice customer")
    assert verdict.warnings == ("not EUR",)


def test_line_messages_name_the_line() -> None:
    policy = lines_policy(
        {"require": {"field": "quantity", "op": "gt", "value": 0}, "message": "quantity must be positive"},
        {
            "require": {"field": "quantity", "op": "le", "value": 50},
            "message": "large quantity",
            "severity": "information",
        },
    )
    state = order(line("L1"), line("L2", quantity=0), line("L3", quantity=80), line("L4", quantity=-1))

    verdict = validate(policy, state)

    assert verdict.errors == ("line L2: quantity must be positive", "line L4: quantity must be positive")
    assert verdict.warnings == ("line L3: large quantity",)


def test_when_limits_a_rule_to_the_records_it_names() -> None:
    # only mugs must ship from a warehouse; only US orders must have a postal code
    lines = lines_policy(
        {
            "when": {"field": "sku", "op": "eq", "value": "SKU-MUG"},
            "require": {"field": "warehouse", "op": "has_data"},
            "message": "mugs need a warehouse",
        }
    )
    header = header_policy(
        {
            "when": US,
            "require": {"field": "ship_to.postal_code", "op": "eq", "value": "98101"},
            "message": "Seattle only",
        }
    )

    state = order(line("L1", sku="SKU-MUG"), line("L2", sku="SKU-CAP"))
    assert validate(lines, state).errors == ("line L1: mugs need a warehouse",)
    assert validate(header, order(country="US")).errors == ("Seattle only",)
    assert validate(header, order(country="GB")).passed  # the rule does not apply


def test_a_line_rule_can_read_the_header() -> None:
    policy = lines_policy(
        {
            "when": {"field": "channel", "op": "eq", "value": "bigcommerce"},
            "require": {"field": "quantity", "op": "le", "value": 5},
            "message": "web orders take at most 5",
        }
    )

    assert validate(policy, order(line("A", quantity=6))).errors == ("line A: web orders take at most 5",)
    assert validate(policy, order(line("A", quantity=6), channel="fno")).passed


def test_a_validation_policy_needs_a_scope_and_a_rule() -> None:
    with pytest.raises(ValidationError, match="at least 1 item"):
        ValidationPolicy(name="empty", scope="header", rules=())
    with pytest.raises(ValidationError, match="'header' or 'lines'"):
        ValidationPolicy.model_validate(
            {"name": "p", "scope": "order", "rules": [{"require": US, "message": "m"}]}
        )
    with pytest.raises(ValidationError, match="'critical' or 'information'"):
        header_policy({"require": US, "message": "m", "severity": "warning"})


# -- assignment -----------------------------------------------------------------------------------


def test_the_first_matching_rule_wins_for_each_field() -> None:
    policy = assignment(
        header=[
            {"when": CA, "set": {"company": "CAMF"}},
            {"when": US, "set": {"company": "USMF"}},
            {"set": {"company": "FALLBACK", "invoice_customer": "DEFAULT"}},
        ]
    )

    # US: the second rule gives the company, the catch-all still fills what nobody set
    assert assign(policy, order(country="US")) == AssignmentResult(company="USMF", invoice_customer="DEFAULT")
    assert assign(policy, order(country="GB")) == AssignmentResult(
        company="FALLBACK", invoice_customer="DEFAULT"
    )


def test_values_already_there_are_never_overwritten() -> None:
    policy = assignment(
        header=[{"when": US, "set": {"company": "USMF", "invoice_customer": "US-001"}}],
        lines=[{"when": US, "set": {"site": "1", "warehouse": "11"}}],
    )
    preset = OrderLine(line_id="L2", sku="SKU-2", quantity=1, unit_price="1.00", site="9")  # type: ignore[arg-type]
    done = OrderLine(line_id="L3", sku="SKU-3", quantity=1, unit_price="1.00", site="9", warehouse="99")  # type: ignore[arg-type]

    found = assign(policy, order(line("L1"), preset, done, company="DAT"))

    assert found == AssignmentResult(
        company=None,
        invoice_customer="US-001",
        lines=(
            LineAssignment(line_id="L1", site="1", warehouse="11"),
            LineAssignment(line_id="L2", warehouse="11"),
        ),
    )


def test_line_rules_can_pick_by_line() -> None:
    policy = assignment(
        lines=[
            {"when": {"field": "sku", "op": "eq", "value": "SKU-BIG"}, "set": {"warehouse": "BULK"}},
            {"when": {"field": "quantity", "op": "gt", "value": 10}, "set": {"warehouse": "BULK"}},
            {"set": {"site": "1", "warehouse": "11"}},
        ]
    )

    found = assign(policy, order(line("a", sku="SKU-BIG"), line("b", quantity=12), line("c")))

    assert found.lines == (
        LineAssignment(line_id="a", site="1", warehouse="BULK"),
        LineAssignment(line_id="b", site="1", warehouse="BULK"),
        LineAssignment(line_id="c", site="1", warehouse="11"),
    )


def test_nothing_matches_nothing_is_assigned() -> None:
    policy = assignment(
        header=[{"when": CA, "set": {"company": "CAMF"}}], lines=[{"when": CA, "set": {"site": "2"}}]
    )

    assert assign(policy, order(country="US")) == AssignmentResult()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"header": [{"set": {"site": "1"}}]},
            r"header assignment cannot set \['site'\]; it sets \['company', 'invoice_customer'\]",
        ),
        (
            {"lines": [{"set": {"company": "USMF"}}]},
            r"lines assignment cannot set \['company'\]; it sets \['site', 'warehouse'\]",
        ),
        ({"lines": [{"set": {"warehouse": "11", "unit_price": "0"}}]}, r"cannot set \['unit_price'\]"),
        ({"header": [{"set": {}}]}, "at least 1 item"),
    ],
)
def test_an_assignment_policy_refuses_what_it_cannot_set(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        assignment(**body)
