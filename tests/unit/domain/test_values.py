"""``Value.assemble``, ``completed`` and ``updated``: pydantic's instances, without validating again."""

from __future__ import annotations

from decimal import Decimal

import pytest

from streams.domain.order import LineState, OrderState
from streams.domain.values import Address, OrderLine, OrderStatus


def test_updated_is_model_copy_with_an_update() -> None:
    line = OrderLine(line_id="1", sku="TEE", quantity=2, unit_price=Decimal("9.90"))
    fast, slow = line.updated({"quantity": 3}), line.model_copy(update={"quantity": 3})
    assert fast == slow
    assert fast.__pydantic_fields_set__ == slow.__pydantic_fields_set__
    assert fast.model_dump() == slow.model_dump()
    assert line.quantity == 2  # the original is untouched


def test_assemble_builds_what_validation_builds_from_the_same_values() -> None:
    fields = {"name": "Ann", "line1": "1 Main St", "city": "Springfield", "postal_code": "1", "country": "US"}
    validated = Address(**fields)
    assembled = Address.assemble({**validated.__dict__})
    assert assembled == validated
    assert assembled.model_dump_json() == validated.model_dump_json()
    assert assembled.__pydantic_fields_set__ == set(validated.__dict__)


def test_completed_is_construction_with_the_defaults() -> None:
    line = OrderLine(line_id="1", sku="TEE", quantity=2, unit_price=Decimal("9.90"))
    fast, slow = LineState.completed(line.__dict__), LineState(**line.model_dump())
    assert fast == slow
    assert list(fast.__dict__) == list(slow.__dict__)
    assert fast.__pydantic_fields_set__ == slow.__pydantic_fields_set__
    assert fast.model_dump_json() == slow.model_dump_json()


def test_completed_gives_each_instance_its_own_default_containers() -> None:
    given = {
        "order_id": "O1",
        "version": 1,
        "status": OrderStatus.NEW,
        "status_reason": "",
        "channel": "c",
        "customer_id": "C",
        "currency": "USD",
        "lines": (),
        "created_by": "x",
        "ship_to": Address(name="A", line1="1", city="S", postal_code="1", country="US"),
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    }
    validated = OrderState(**given)
    given["created_at"] = given["updated_at"] = validated.created_at
    one, two = OrderState.completed(given), OrderState.completed(given)
    assert one == validated
    assert one.steps is not two.steps and one.attributes is not two.attributes


def test_completed_refuses_a_field_the_model_lacks_or_a_missing_required_one() -> None:
    with pytest.raises(TypeError, match="no"):
        LineState.completed(
            {"line_id": "1", "sku": "T", "quantity": 1, "unit_price": Decimal(1), "colour": "red"}
        )
    with pytest.raises(TypeError, match="needs"):
        LineState.completed({"line_id": "1", "sku": "T", "quantity": 1})
