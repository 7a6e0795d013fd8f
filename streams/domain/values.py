"""Value objects shared by commands, events and state."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict


class Value(BaseModel):
    """Immutable, strict about unknown fields: a typo in a payload is an error, not a loss."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Address(Value):
    name: str
    line1: str
    line2: str | None = None
    city: str
    state: str | None = None
    postal_code: str
    country: str
    phone: str | None = None
    email: str | None = None


class OrderLine(Value):
    line_id: str
    sku: str
    quantity: int
    unit_price: Decimal
    site: str | None = None
    warehouse: str | None = None


class LineAssignment(Value):
    line_id: str
    site: str | None = None
    warehouse: str | None = None


class ExternalRef(Value):
    """An id the order has in another system, e.g. ``bigcommerce`` / ``118``."""

    system: str
    ref: str


class LineStatusChange(Value):
    """A line's status after a line-level event: recorded, so a replay never needs the table."""

    line_id: str
    status: str
    status_reason: str


class FulfillmentOrderLine(Value):
    """The part of an order line one source ships, and the inventory reservation that holds it."""

    line_id: str
    sku: str
    quantity: int
    reservation_id: str | None = None
