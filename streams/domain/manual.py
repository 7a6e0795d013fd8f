"""Orders entered by a person: manual orders and clones (IOM's manual order entry). Pure.

A manual order is a ``CreateOrder`` marked ``is_manual`` with its sales origin and the
customer's own order reference; it needs a channel and attributes a flow takes, like any
order, and runs through the same flows. A clone is a new order with the lines, customer
and address of another (``cloned_from`` names it), without the original's provider ids.
"""

from __future__ import annotations

from streams.domain.commands import CommandEnvelope, CreateOrder
from streams.domain.order import OrderState
from streams.domain.transitions import CANCELED
from streams.domain.values import OrderLine


def clone(state: OrderState, envelope: CommandEnvelope, customer_reference: str | None = None) -> CreateOrder:
    """``state`` again, as the order ``envelope`` names: its lines as they stand now (those
    canceled left out, unless all were: a canceled order is cloned whole), warehouses left
    for the flow to assign again."""
    kept = [x for x in state.lines if state.line_status(x) != CANCELED] or list(state.lines)
    lines = tuple(
        OrderLine(line_id=x.line_id, sku=x.sku, quantity=x.quantity, unit_price=x.unit_price, site=x.site)
        for x in kept
    )
    return CreateOrder(
        envelope=envelope,
        channel=state.channel,
        customer_id=state.customer_id,
        currency=state.currency,
        ship_to=state.ship_to,
        lines=lines
        or tuple(
            OrderLine(line_id=x.line_id, sku=x.sku, quantity=x.quantity, unit_price=x.unit_price)
            for x in state.lines
        ),
        attributes=state.attributes,
        company=state.company,
        invoice_customer=state.invoice_customer,
        is_manual=True,
        sales_origin=state.sales_origin,
        customer_reference=customer_reference or state.customer_reference,
        cloned_from=state.order_id,
    )
