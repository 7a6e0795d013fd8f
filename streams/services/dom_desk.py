"""What DOM does for the order desk: release a canceled order's reservations, and put a
return's goods back into stock at the source that received them.

DOM holds the order's units by reservations (``FulfillmentOrder`` lines carry their ids);
a cancel releases those of the canceled lines, so inventory follows the cancel. A
received return becomes an inventory receipt at the source whose warehouse took it in.
Command ids derive from the reservation or the action and the line: a redelivered request
sends the same commands, which the inventory writer decides once.
"""

from __future__ import annotations

from streams.domain.commands import ProviderActionRequest
from streams.domain.inventory import InventoryCommand, RecordReceipt, ReleaseReservation
from streams.domain.snapshot import OrderSnapshot
from streams.domain.sourcing import DomConfig
from streams.domain.values import ActionType
from streams.services.inventory import inventory_envelope

CANCELS = frozenset({ActionType.CANCEL_ORDER, ActionType.CANCEL_LINES})
RESTOCK = ActionType.RESTOCK_RETURN
DESK_ACTIONS = CANCELS | {RESTOCK}


class CannotRestock(ValueError):
    """A return DOM cannot put back into stock; the message says why."""


def releases(request: ProviderActionRequest, order: OrderSnapshot) -> list[InventoryCommand]:
    """A release per reservation the canceled lines hold (every line for ``cancel_order``)."""
    named = request.params.get("line_ids")
    lines = set(named.split(",")) if named and request.action == ActionType.CANCEL_LINES else None
    reason = f"order {order.order_id} canceled: {request.params.get('reason', '')}".rstrip(": ")
    out: list[InventoryCommand] = []
    for fo in order.fulfillment_orders:
        for x in fo.lines:
            if x.reservation_id and (lines is None or x.line_id in lines):
                out.append(
                    ReleaseReservation(
                        envelope=inventory_envelope(
                            x.sku, fo.source, "dom", command_id=f"dom/cancel/{x.reservation_id}"
                        ),
                        reservation_id=x.reservation_id,
                        reason=reason,
                    )
                )
    return out


def restocks(
    request: ProviderActionRequest, order: OrderSnapshot, config: DomConfig
) -> list[InventoryCommand]:
    """A receipt per returned line at the source of the receiving warehouse."""
    warehouse = request.params.get("warehouse")
    source = next((s for s in config.sources if s.warehouse == warehouse or s.id == warehouse), None)
    if source is None:
        known = sorted(s.warehouse for s in config.sources)
        raise CannotRestock(f"no fulfillment source has warehouse {warehouse!r} (known: {known})")
    rma = request.params.get("rma_id", "")
    skus = {x.line_id: x.sku for x in order.lines}
    out: list[InventoryCommand] = []
    for part in filter(None, request.params.get("return_lines", "").split(",")):
        line_id, _, units = part.partition(":")
        if line_id not in skus or not units.isdigit() or int(units) < 1:
            raise CannotRestock(f"return line {part!r} names no line of {order.order_id} with units")
        out.append(
            RecordReceipt(
                envelope=inventory_envelope(
                    skus[line_id], source.id, "dom", command_id=f"dom/restock/{request.action_id}/{line_id}"
                ),
                quantity=int(units),
                reference=f"return {rma} of {order.order_id}",
            )
        )
    return out
