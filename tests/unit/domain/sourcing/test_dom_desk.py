"""DOM's part of the order desk: a cancel releases exactly the canceled lines'
reservations (inventory follows the cancel), a return is restocked at the source of the
warehouse that received it, with ids that make a redelivered request the same commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from dom_stand_in import StockedProviders, demo_config
from journey_driver import Journey, shipped_engine

from streams.domain.commands import ProviderActionRequest
from streams.domain.inventory import RecordReceipt, ReleaseReservation
from streams.domain.order import OrderState
from streams.domain.values import OrderLine
from streams.services.dom_desk import CannotRestock, releases, restocks

AT = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def _sourced() -> OrderState:
    stock = {("TEE", "SEA-DC"): 5, ("MUG", "DEN-DC"): 5}
    j = Journey(
        engine=shipped_engine(),
        providers=StockedProviders(stock=stock, later=frozenset({("fno", "send_to_billing")})),
    )
    created = j.order(6, "ORD-6")
    lines = tuple(
        OrderLine(line_id=str(i), sku=s, quantity=2, unit_price=Decimal("9"))
        for i, s in enumerate(("TEE", "MUG"), 1)
    )
    ship_to = created.ship_to.model_copy(update={"city": "Seattle", "postal_code": "98101"})
    return j.run(created.model_copy(update={"lines": lines, "ship_to": ship_to}))


def _request(order: OrderState, action: str, **params: str) -> ProviderActionRequest:
    return ProviderActionRequest(
        action_id="act-1",
        order_id=order.order_id,
        provider="dom",
        action=action,
        step="cancel-at-dom/9",
        attempt=1,
        params=params,
        not_before=AT,
        deadline=AT + timedelta(seconds=60),
        correlation_id="c",
        order=order.snapshot(),
    )


def test_a_line_cancel_releases_only_that_lines_reservation() -> None:
    order = _sourced()
    held = {x.line_id: (fo.source, x.reservation_id) for fo in order.fulfillment_orders for x in fo.lines}

    commands = releases(_request(order, "cancel_lines", line_ids="2", reason="customer"), order)

    assert [(type(c), c.envelope.source, getattr(c, "reservation_id", None)) for c in commands] == [
        (ReleaseReservation, held["2"][0], held["2"][1])
    ]
    assert commands[0].envelope.command_id == f"dom/cancel/{held['2'][1]}"


def test_an_order_cancel_releases_every_reservation() -> None:
    order = _sourced()
    commands = releases(_request(order, "cancel_order", reason="customer"), order)
    assert len(commands) == 2 and all(isinstance(c, ReleaseReservation) for c in commands)


def test_a_received_return_is_restocked_at_the_source_of_the_receiving_warehouse() -> None:
    order = _sourced()
    request = _request(order, "restock_return", rma_id="RMA-1", return_lines="1:2,2:1", warehouse="12")

    commands = restocks(request, order, demo_config())

    assert [
        (c.envelope.sku, c.envelope.source, c.quantity) for c in commands if isinstance(c, RecordReceipt)
    ] == [
        ("TEE", "DEN-DC", 2),
        ("MUG", "DEN-DC", 1),
    ]
    assert [c.envelope.command_id for c in commands] == ["dom/restock/act-1/1", "dom/restock/act-1/2"]


def test_a_return_to_a_warehouse_no_source_has_cannot_be_restocked() -> None:
    order = _sourced()
    with pytest.raises(CannotRestock, match="no fulfillment source has warehouse '99'"):
        restocks(_request(order, "restock_return", return_lines="1:1", warehouse="99"), order, demo_config())
