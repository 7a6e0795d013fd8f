"""Value objects shared by commands, events and state."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Value(BaseModel):
    """Immutable, strict about unknown fields: a typo in a payload is an error, not a loss."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class OrderStatus(StrEnum):
    """The product's order (and line) statuses, a closed set; the values are the wire
    strings. The reasons are not: they are the table's configuration."""

    NEW = "New"
    IN_PROGRESS = "In progress"
    ON_HOLD = "On hold"
    FULFILLMENT_IN_PROGRESS = "Fulfillment in progress"
    COMPLETED = "Completed"
    CANCELED = "Canceled"


class Provider(StrEnum):
    """The systems the OMS acts through: each has a connector and a request topic
    (``provider.<name>.requests``); ``dom`` is the internal sourcing saga. The values are
    the wire strings (flow files, Avro records, topic names)."""

    BIGCOMMERCE = "bigcommerce"
    FNO = "fno"
    FLEXE = "flexe"
    SAP = "sap"
    DOM = "dom"


class ActionType(StrEnum):
    """What a step does; the values are the flow files' ``action:`` strings."""

    VALIDATE_HEADER = "validate_header"
    VALIDATE_LINES = "validate_lines"
    ASSIGN_DATA = "assign_data"
    SEND_TO_FULFILLMENT_OPTIMIZATION = "send_to_fulfillment_optimization"
    SEND_TO_FULFILLMENT = "send_to_fulfillment"
    SEND_TO_BILLING = "send_to_billing"
    UPDATE_CHANNEL_STATUS = "update_channel_status"
    CUSTOM = "custom"


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
    status: OrderStatus
    status_reason: str


class FulfillmentOrderLine(Value):
    """The part of an order line one source ships, and the inventory reservation that holds it."""

    line_id: str
    sku: str
    quantity: int
    reservation_id: str | None = None
