"""What a provider is told of an order: the ``OrderSnapshot`` every request carries.

A connector (or DOM) needs the order as it was when asked, not the writer's bookkeeping
(pending actions, recent command ids, step outcomes): the snapshot is that part, as an
Avro record of its own (``schemas/avro/OrderSnapshot.avsc``), so a change to the writer's
state is not a change to the connectors' contract. Each line carries its own status, the
header's while it follows it, so a reader never resolves it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import Field

from streams.domain.values import Address, ExternalRef, FulfillmentOrder, OrderStatus, Value


class LineSnapshot(Value):
    line_id: str
    sku: str
    quantity: int
    unit_price: Decimal
    site: str | None = None
    warehouse: str | None = None
    status: OrderStatus
    """The line's status (the header's while the line follows it)."""
    status_reason: str
    synced: bool = False
    """Sent already by a line-selective sync (journey 6)."""
    backordered: bool = False
    """Waiting in Backorder hold."""
    preorder_until: date | None = None
    """Waiting in Preorder hold until this launch date."""
    inventory_availability_date: date | None = None
    estimated_ship_date: date | None = None

    @property
    def parked(self) -> bool:
        """Waiting in Backorder or Preorder hold (no provider ships it yet)."""
        return self.backordered or self.preorder_until is not None


class OrderSnapshot(Value):
    order_id: str
    version: int
    """The ``seq`` of the last event folded into it."""
    status: OrderStatus
    status_reason: str
    channel: str
    customer_id: str
    currency: str
    ship_to: Address
    lines: tuple[LineSnapshot, ...]
    external_refs: tuple[ExternalRef, ...] = ()
    attributes: dict[str, str] = Field(default_factory=dict)
    company: str | None = None
    invoice_customer: str | None = None
    provider_order_id: str | None = None
    tracking_number: str | None = None
    carrier: str | None = None
    invoice_id: str | None = None
    fulfillment_orders: tuple[FulfillmentOrder, ...] = ()
    """DOM's fulfillment orders, with the reservations holding their units."""

    def external_ref(self, system: str) -> str | None:
        return next((r.ref for r in self.external_refs if r.system == system), None)

    def line(self, line_id: str) -> LineSnapshot | None:
        return next((x for x in self.lines if x.line_id == line_id), None)
