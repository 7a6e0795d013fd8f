"""What an order's shipment does to inventory: the units DOM reserved leave their source. Pure.

DOM holds each sourced line's units by a reservation (``FulfillmentOrderLine.reservation_id``).
When a fulfillment provider reports the order shipped, the lines the shipment reached
(the order fold decides which: ``shipped_at`` set) consume their reservations and lower
on hand at their source: one ``RecordShipment`` per reservation. The order writer sends
them through its outbox, in the transaction that appends ``OrderShipped``.

Command ids derive from the shipment event and the reservation, so the writer deciding
the same shipment again (an aborted transaction, a redelivery) sends the same commands,
which the inventory writer decides once. A line canceled before it shipped released its
reservation through DOM (``services/dom_desk.py``) and is never reached by a shipment.
Orders DOM never sourced hold no reservations and move no inventory.
"""

from __future__ import annotations

from streams.domain.events import OrderShipped
from streams.domain.inventory import InventoryCommandEnvelope, RecordShipment
from streams.domain.order import OrderState

ISSUED_BY = "order-writer"


def shipment_command_id(shipment_event_id: str, reservation_id: str) -> str:
    """One command per (shipment, reservation): a shipment decided again is the same command."""
    return f"shipment/{shipment_event_id}/{reservation_id}"


def newly_shipped(before: OrderState | None, after: OrderState) -> set[str]:
    """The lines that left the warehouse between ``before`` and ``after``."""
    earlier = {x.line_id for x in before.lines if x.shipped_at is not None} if before is not None else set()
    return {x.line_id for x in after.lines if x.shipped_at is not None and x.line_id not in earlier}


def consumed_reservations(
    before: OrderState | None, after: OrderState, shipped: OrderShipped
) -> list[RecordShipment]:
    """A ``RecordShipment`` per reservation of the lines ``shipped`` reached (``after`` is
    the order with it folded), at the reservation's source, for its units."""
    lines = newly_shipped(before, after)
    env = shipped.envelope
    reference = f"{env.order_id} shipment {shipped.shipment_id or env.event_id} ({shipped.provider})"
    out: list[RecordShipment] = []
    for fo in after.fulfillment_orders:
        for x in fo.lines:
            if x.reservation_id is None or x.line_id not in lines:
                continue
            command_id = shipment_command_id(env.event_id, x.reservation_id)
            out.append(
                RecordShipment(
                    envelope=InventoryCommandEnvelope(
                        command_id=command_id,
                        sku=x.sku,
                        source=fo.source,
                        issued_at=env.occurred_at,
                        correlation_id=env.correlation_id,
                        issued_by=ISSUED_BY,
                    ),
                    quantity=x.quantity,
                    reservation_id=x.reservation_id,
                    reference=reference,
                )
            )
    return out
