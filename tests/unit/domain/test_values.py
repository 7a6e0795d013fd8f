"""``Value.assemble`` and ``updated``: pydantic's instances, without validating again."""

from __future__ import annotations

from decimal import Decimal

from streams.domain.values import Address, OrderLine


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
