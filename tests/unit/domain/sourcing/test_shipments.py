"""Inventory follows the order: a shipped line consumes the reservation DOM made for it
and lowers on hand at its source; a line canceled before it shipped releases its
reservation and is never shipped. Given a journey-6 order DOM sourced and the inventory
holding its reservations, when the order ships (or a line is canceled), then the
inventory commands it causes, decided by the inventory aggregate, move the units."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from dom_stand_in import StockedProviders
from journey_driver import Journey, journey_6_engine

from streams.domain.commands import CancelOrderLines, ProviderActionRequest, RecordPicked, RecordShipped
from streams.domain.events import OrderShipped
from streams.domain.inventory import (
    InventoryCommand,
    InventoryCommandEnvelope,
    InventoryShipped,
    InventoryState,
    RecordShipment,
    ReleaseReservation,
    ReservationReleased,
    ReserveInventory,
    SetOnHand,
    decide_inventory,
    evolve_inventory,
)
from streams.domain.order import OrderState, fold
from streams.domain.shipments import consumed_reservations, shipment_command_id
from streams.domain.values import OrderLine
from streams.services.dom_desk import releases

ORDER = "ORD-6"
ON_HAND = 5
AT = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
Stock = dict[str, InventoryState]


def _journey() -> Journey:
    stock = {("TEE", "SEA-DC"): ON_HAND, ("MUG", "DEN-DC"): ON_HAND}
    return Journey(engine=journey_6_engine(), providers=StockedProviders(stock=stock))


def _order(j: Journey) -> OrderState:
    created = j.order(6, ORDER)
    lines = tuple(
        OrderLine(line_id=str(i), sku=s, quantity=2, unit_price=Decimal("9"))
        for i, s in enumerate(("TEE", "MUG"), 1)
    )
    ship_to = created.ship_to.model_copy(update={"city": "Seattle", "postal_code": "98101"})
    return j.run(created.model_copy(update={"lines": lines, "ship_to": ship_to}))


def _decide(stock: Stock, commands: Iterable[InventoryCommand]) -> list[object]:
    events: list[object] = []
    for command in commands:
        key = command.envelope.key
        for event in decide_inventory(command, stock.get(key)):
            stock[key] = evolve_inventory(stock.get(key), event)
            events.append(event)
    return events


def _env(sku: str, source: str, command_id: str) -> InventoryCommandEnvelope:
    return InventoryCommandEnvelope(
        command_id=command_id, sku=sku, source=source, issued_at=AT, correlation_id="c", issued_by="tests"
    )


def given_reserved(order: OrderState) -> Stock:
    """The inventory as DOM left it: on hand counted, each fulfillment order line reserved."""
    stock: Stock = {}
    commands: list[InventoryCommand] = []
    for fo in order.fulfillment_orders:
        for x in fo.lines:
            assert x.reservation_id is not None
            commands.append(SetOnHand(envelope=_env(x.sku, fo.source, f"count/{x.sku}"), quantity=ON_HAND))
            reserve = ReserveInventory(
                envelope=_env(x.sku, fo.source, f"dom/{x.reservation_id}"),
                reservation_id=x.reservation_id,
                order_id=order.order_id,
                line_id=x.line_id,
                quantity=x.quantity,
            )
            commands.append(reserve)
    _decide(stock, commands)
    return stock


def when_shipped(j: Journey) -> tuple[OrderShipped, list[RecordShipment]]:
    """The order writer's shipment and the inventory commands its outbox sends."""
    at = next(n for n, e in enumerate(j.events) if isinstance(e, OrderShipped))
    shipped = j.events[at]
    assert isinstance(shipped, OrderShipped)
    after = fold(j.events[: at + 1])
    assert after is not None
    return shipped, consumed_reservations(fold(j.events[:at]), after, shipped)


def _levels(stock: Stock) -> dict[str, tuple[int, int, int]]:
    return {k: (s.on_hand, s.reserved, s.available) for k, s in sorted(stock.items())}


def test_a_shipped_line_consumes_its_reservation_and_lowers_on_hand_at_its_source() -> None:
    j = _journey()
    order = _order(j)
    stock = given_reserved(order)
    assert _levels(stock) == {"MUG@DEN-DC": (5, 2, 3), "TEE@SEA-DC": (5, 2, 3)}

    shipped, commands = when_shipped(j)
    events = _decide(stock, commands)

    held = {x.reservation_id: fo.source for fo in order.fulfillment_orders for x in fo.lines}
    assert sorted((c.envelope.source, c.reservation_id, c.quantity) for c in commands) == sorted(
        (source, rid, 2) for rid, source in held.items()
    )
    assert all(
        c.envelope.command_id == shipment_command_id(shipped.envelope.event_id, c.reservation_id or "")
        for c in commands
    )
    assert [(type(e), getattr(e, "consumed", None)) for e in events] == [(InventoryShipped, 2)] * 2
    assert _levels(stock) == {"MUG@DEN-DC": (3, 0, 3), "TEE@SEA-DC": (3, 0, 3)}
    assert all(not s.reservations for s in stock.values())


def test_a_shipment_decided_again_is_the_same_commands_and_moves_the_units_once() -> None:
    j = _journey()
    stock = given_reserved(_order(j))

    _, first = when_shipped(j)
    _, again = when_shipped(j)  # the writer deciding the shipment again after an aborted transaction
    _decide(stock, first)
    assert again == first and _decide(stock, again) == []
    assert _levels(stock) == {"MUG@DEN-DC": (3, 0, 3), "TEE@SEA-DC": (3, 0, 3)}


def test_a_line_canceled_before_shipping_releases_its_reservation_and_is_never_shipped() -> None:
    j = Journey(
        engine=journey_6_engine(),
        providers=StockedProviders(
            stock={("TEE", "SEA-DC"): ON_HAND, ("MUG", "DEN-DC"): ON_HAND},
            later=frozenset({("fno", "send_to_billing")}),  # sourced and sent, not shipped yet
        ),
    )
    order = _order(j)
    stock = given_reserved(order)
    cancel = CancelOrderLines(envelope=j.factory.envelope(ORDER), line_ids=("2",), reason="customer")
    canceled = j.run(cancel)

    request = ProviderActionRequest(
        action_id="act-cancel",
        order_id=ORDER,
        provider="dom",
        action="cancel_lines",
        step="cancel-at-dom",
        attempt=1,
        params={"line_ids": "2", "reason": "customer"},
        not_before=AT,
        deadline=AT + timedelta(seconds=60),
        correlation_id="c",
        order=canceled.snapshot(),
    )
    released = _decide(stock, releases(request, canceled))

    assert [(type(e), e.envelope.key) for e in released] == [(ReservationReleased, "MUG@DEN-DC")]  # type: ignore[attr-defined]
    assert _levels(stock) == {"MUG@DEN-DC": (5, 0, 5), "TEE@SEA-DC": (5, 2, 3)}
    assert all(isinstance(c, ReleaseReservation) for c in releases(request, canceled))

    j.run(
        RecordPicked(envelope=j.factory.envelope(ORDER), provider="fno", picking_id="PL-1"),
        RecordShipped(envelope=j.factory.envelope(ORDER), provider="fno", shipment_id="SH-1"),
    )
    _, commands = when_shipped(j)
    assert [(c.envelope.key, c.quantity) for c in commands] == [("TEE@SEA-DC", 2)]
    _decide(stock, commands)
    assert _levels(stock) == {"MUG@DEN-DC": (5, 0, 5), "TEE@SEA-DC": (3, 0, 3)}


def test_an_order_dom_never_sourced_moves_no_inventory() -> None:
    j = Journey()
    j.run(j.order(1))
    _, commands = when_shipped(j)
    assert commands == []
