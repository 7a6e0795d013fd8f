"""Policy conditions: the operators, AND/OR groups, what a condition may say, and the
flat field names a condition can read from an order and its lines."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import yaml
from given import SHIP_TO, create_order, given, line
from pydantic import TypeAdapter, ValidationError

from streams.domain.order import OrderState
from streams.domain.policies import AllOf, AnyOf, Condition, Rule, header_fields, holds, line_fields
from streams.domain.values import ExternalRef

RULE: TypeAdapter[Rule] = TypeAdapter(Rule)


def rule(data: dict[str, Any]) -> Rule:
    """A rule as a flow file writes it."""
    return RULE.validate_python(data)


def order(**overrides: Any) -> OrderState:
    """A BigCommerce order to the US (two lines, 19.00 in total) as the writer folded it."""
    payload: dict[str, Any] = {
        "ship_to": SHIP_TO.model_copy(update={"country": "US", "postal_code": "98101"}),
        "lines": (line("L1", quantity=2, unit_price="4.50"), line("L2", sku="SKU-MUG", unit_price="10.00")),
        "attributes": {"fulfillment": "fno", "gift": "yes"},
        "external_refs": (ExternalRef(system="bigcommerce", ref="118"),),
    }
    payload.update(overrides)
    state = given(create_order("bc-118", **payload)).state
    assert state is not None
    return state


# -- operators ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actual", "op", "expected", "holds_"),
    [
        # eq / ne compare numbers as numbers...
        (3, "eq", "3.0", True),
        (Decimal("10.00"), "eq", 10, True),
        ("0042", "eq", 42, True),
        (3, "eq", 4, False),
        (3, "ne", 4, True),
        (Decimal("10.00"), "ne", "10", False),
        # ...and everything else as text, case and all
        ("US", "eq", "US", True),
        ("US", "eq", "us", False),
        ("US", "ne", "CA", True),
        ("US", "ne", "US", False),
        (None, "eq", "US", False),
        (None, "ne", "US", True),
        # orderings hold on numbers only, numbers in text included
        (5, "gt", 4, True),
        (5, "gt", 5, False),
        (5, "ge", 5, True),
        (4, "ge", 5, False),
        (Decimal("9.99"), "lt", 10, True),
        (10, "lt", 10, False),
        (10, "le", 10, True),
        (11, "le", 10, False),
        ("9", "lt", "10", True),  # numerically, not "9" > "10" as text
        ("12.5", "gt", 12, True),
        # an ordering on something that is not a number never holds
        ("abc", "gt", 1, False),
        ("abc", "le", 1, False),
        (5, "lt", "ten", False),
        (None, "gt", 0, False),
        (None, "le", 0, False),
        # in: one of a list
        ("US", "in", ["US", "CA"], True),
        ("DE", "in", ["US", "CA"], False),
        (2, "in", [1, 2, 3], True),
        ("2", "in", [1, 2, 3], True),
        # has_data / has_no_data: missing and empty are no data; zero is data
        ("x", "has_data", None, True),
        (0, "has_data", None, True),
        ("", "has_data", None, False),
        (None, "has_data", None, False),
        ("", "has_no_data", None, True),
        (None, "has_no_data", None, True),
        ("x", "has_no_data", None, False),
    ],
)
def test_operator(actual: Any, op: str, expected: Any, holds_: bool) -> None:
    condition = Condition(field="f", op=op, value=expected)  # type: ignore[arg-type]
    assert holds(condition, {"f": actual}) is holds_


def test_a_field_the_order_does_not_have_has_no_data() -> None:
    fields = header_fields(order())
    assert holds(Condition(field="attributes.no-such-key", op="has_no_data"), fields)
    assert not holds(Condition(field="no_such_field", op="eq", value="x"), fields)


# -- groups -------------------------------------------------------------------------------------


def test_all_needs_every_rule_and_any_needs_one() -> None:
    us, ca = (
        {"field": "ship_to.country", "op": "eq", "value": "US"},
        {"field": "ship_to.country", "op": "eq", "value": "CA"},
    )
    fno = {"field": "attributes.fulfillment", "op": "eq", "value": "fno"}
    fields = header_fields(order())

    assert holds(rule({"all": [us, fno]}), fields)
    assert not holds(rule({"all": [ca, fno]}), fields)
    assert holds(rule({"any": [ca, fno]}), fields)
    assert not holds(rule({"any": [ca, {"field": "currency", "op": "eq", "value": "EUR"}]}), fields)


def test_groups_nest() -> None:
    # bigcommerce AND (US with F&O fulfilment OR Canada) AND under 1,000
    nested = rule(
        yaml.safe_load(
            """
            all:
              - {field: channel, op: eq, value: bigcommerce}
              - any:
                  - all:
                      - {field: ship_to.country, op: eq, value: US}
                      - {field: attributes.fulfillment, op: eq, value: fno}
                  - {field: ship_to.country, op: eq, value: CA}
              - {field: total_amount, op: lt, value: 1000}
            """
        )
    )
    assert isinstance(nested, AllOf) and isinstance(nested.all[1], AnyOf)

    assert holds(nested, header_fields(order()))
    assert holds(
        nested, header_fields(order(ship_to=SHIP_TO.model_copy(update={"country": "CA"}), attributes={}))
    )
    assert not holds(nested, header_fields(order(attributes={"fulfillment": "flexe"})))
    assert not holds(nested, header_fields(order(lines=(line("L1", quantity=200, unit_price="5.00"),))))


# -- what a condition may say ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"field": "company", "op": "has_data", "value": "USMF"}, "'has_data' takes no value"),
        ({"field": "company", "op": "has_no_data", "value": ""}, "'has_no_data' takes no value"),
        ({"field": "ship_to.country", "op": "in", "value": "US"}, "'in' needs a non-empty list of values"),
        ({"field": "ship_to.country", "op": "in", "value": []}, "'in' needs a non-empty list of values"),
        ({"field": "ship_to.country", "op": "in"}, "'in' needs a non-empty list of values"),
        ({"field": "ship_to.country", "op": "eq"}, "'eq' needs a value"),
        ({"field": "quantity", "op": "gt"}, "'gt' needs a value"),
        ({"field": "ship_to.country", "op": "like", "value": "U%"}, "Input should be 'eq', 'ne'"),
        (
            {"field": "ship_to.country", "op": "eq", "value": "US", "severity": "x"},
            "Extra inputs are not permitted",
        ),
    ],
)
def test_a_condition_that_does_not_fit_its_operator_is_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Condition.model_validate(data)


def test_empty_groups_are_refused() -> None:
    with pytest.raises(ValidationError, match="at least 1 item"):
        rule({"all": []})
    with pytest.raises(ValidationError, match="at least 1 item"):
        rule({"any": []})


def test_a_value_of_zero_or_false_is_a_value() -> None:
    assert Condition(field="quantity", op="gt", value=0).value == 0
    assert Condition(field="attributes.gift", op="eq", value=False).value is False


# -- field names ----------------------------------------------------------------------------------


def test_header_fields_flatten_the_address_attributes_and_external_refs() -> None:
    fields = header_fields(order())

    assert fields["ship_to.country"] == "US"
    assert fields["ship_to.postal_code"] == "98101"
    assert fields["ship_to.line2"] is None
    assert fields["attributes.fulfillment"] == "fno"
    assert fields["attributes.gift"] == "yes"
    assert fields["external_ref.bigcommerce"] == "118"
    assert "external_ref.fno" not in fields
    assert fields["total_amount"] == Decimal("19.00")  # 2 x 4.50 + 1 x 10.00
    assert fields["line_count"] == 2
    assert (fields["channel"], fields["customer_id"], fields["currency"]) == ("bigcommerce", "cust-1", "USD")
    assert (fields["company"], fields["invoice_customer"]) == (None, None)
    assert (fields["status"], fields["status_reason"]) == ("New", "Created")


def test_line_fields_add_the_line_to_its_order_header() -> None:
    state = order()
    second = state.lines[1]

    fields = line_fields(state, second)

    assert fields["line_id"] == "L2"
    assert fields["sku"] == "SKU-MUG"
    assert (fields["quantity"], fields["unit_price"]) == (1, Decimal("10.00"))
    assert (fields["site"], fields["warehouse"]) == (None, None)
    assert fields["line_status"] == "New"  # a line without its own status follows the header
    assert fields["ship_to.country"] == "US"
    assert fields["total_amount"] == Decimal("19.00")


# -- defects found and fixed (kept as regression tests) --


@pytest.mark.parametrize(
    ("actual", "op", "expected", "holds_"),
    [("NaN", "gt", 5, False), ("NaN", "le", 5, False), ("nan", "eq", "nan", True)],
)
def test_text_that_reads_nan_is_compared_like_any_other_text(
    actual: str, op: str, expected: Any, holds_: bool
) -> None:
    condition = Condition(field="attributes.points", op=op, value=expected)  # type: ignore[arg-type]
    assert holds(condition, {"attributes.points": actual}) is holds_


def test_in_a_list_of_numbers_agrees_with_eq() -> None:
    state = order(lines=(line("L1", unit_price="19.90"),))
    fields = line_fields(state, state.lines[0])
    assert holds(Condition(field="unit_price", op="eq", value=19.90), fields)
    assert holds(Condition(field="unit_price", op="in", value=[19.90, 29.90]), fields)
