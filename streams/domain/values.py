"""Value objects shared by commands, events and state."""

from __future__ import annotations

from datetime import date
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
    inventory_availability_date: date | None = None
    """ATP: when the line's units are (or will be) available at a source."""
    estimated_ship_date: date | None = None


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


class LineQuantity(Value):
    """Units of one order line: a new quantity in an edit, the units of a return."""

    line_id: str
    quantity: int


class LineLaunch(Value):
    """A preorder line and its product's launch date: it may not ship before."""

    line_id: str
    launch_date: date
