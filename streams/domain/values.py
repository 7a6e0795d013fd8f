"""Value objects shared by commands, events and state."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

V = TypeVar("V", bound="Value")

_set = object.__setattr__
_new = object.__new__
_slots = BaseModel.__dict__
_set_fields_set = _slots["__pydantic_fields_set__"].__set__
_set_extra = _slots["__pydantic_extra__"].__set__
_set_private = _slots["__pydantic_private__"].__set__
"""BaseModel's slots, set through their descriptors: a third cheaper than ``object.__setattr__``
(four per model, several models per event read or folded)."""


class Value(BaseModel):
    """Immutable, strict about unknown fields: a typo in a payload is an error, not a loss."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def assemble(cls: type[V], fields: dict[str, Any], fields_set: set[str] | None = None) -> V:
        """An instance from values the core made itself, already of the fields' types (a
        validated command's, a fold's), without validating them again: what
        ``model_construct`` and ``model_copy`` do, without their per-field walk and copies,
        which cost more than the rest of a fold or a decision. ``fields`` names every field
        (``dict`` is kept, not copied); ``fields_set`` is pydantic's (default: all of them)."""
        value = _new(cls)
        _set(value, "__dict__", fields)
        _set_fields_set(value, set(fields) if fields_set is None else fields_set)
        _set_extra(value, None)
        _set_private(value, None)
        return value

    @classmethod
    def completed(cls: type[V], given: dict[str, Any]) -> V:
        """``cls(**given)`` from values the core made itself, already of the fields' types,
        the others at their defaults, without validating (see ``assemble``): a fold's new
        order and lines."""
        fields: dict[str, Any] = {}
        if not given.keys() <= cls.model_fields.keys():
            raise TypeError(f"{cls.__name__} has no {sorted(given.keys() - cls.model_fields.keys())}")
        for name, default, factory in _defaults(cls):
            if name in given:
                fields[name] = given[name]
            elif factory is not None:
                fields[name] = factory()
            elif default is _REQUIRED:
                raise TypeError(f"{cls.__name__} needs {name}")
            else:
                fields[name] = default
        return cls.assemble(fields, set(given))

    def updated(self: V, changes: dict[str, Any]) -> V:
        """``model_copy(update=changes)``, the fast way (see ``assemble``)."""
        return self.assemble({**self.__dict__, **changes}, self.__pydantic_fields_set__ | changes.keys())


_REQUIRED = object()
_DEFAULTS: dict[type[Value], tuple[tuple[str, Any, Any], ...]] = {}


def _defaults(cls: type[Value]) -> tuple[tuple[str, Any, Any], ...]:
    """Each field's name, default (``_REQUIRED``: none) and default factory, in order."""
    found = _DEFAULTS.get(cls)
    if found is None:
        found = _DEFAULTS[cls] = tuple(
            (name, _REQUIRED if f.is_required() else f.default, f.default_factory)
            for name, f in cls.model_fields.items()
        )
    return found


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


class ProviderRole(StrEnum):
    """A flow step's provider named by its role in the order: the engine resolves it per
    order (a return's refund goes to the channel, its restock to the shipper)."""

    CHANNEL = "$channel"
    SHIPPER = "$shipper"
    INVOICER = "$invoicer"


class ActionType(StrEnum):
    """What a step does; the values are the flow files' ``action:`` strings."""

    VALIDATE_HEADER = "validate_header"
    VALIDATE_LINES = "validate_lines"
    ASSIGN_DATA = "assign_data"
    SEND_TO_FULFILLMENT_OPTIMIZATION = "send_to_fulfillment_optimization"
    SEND_TO_FULFILLMENT = "send_to_fulfillment"
    SEND_TO_BILLING = "send_to_billing"
    UPDATE_CHANNEL_STATUS = "update_channel_status"
    CANCEL_ORDER = "cancel_order"
    CANCEL_LINES = "cancel_lines"
    CREATE_RETURN = "create_return"
    RESTOCK_RETURN = "restock_return"
    ISSUE_CREDIT_NOTE = "issue_credit_note"
    REFUND_PAYMENT = "refund_payment"
    CREATE_REPLACEMENT = "create_replacement"
    """Run by the order writer itself: a return's replacement order (no provider)."""
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
    status: OrderStatus
    status_reason: str


class FulfillmentOrderLine(Value):
    """The part of an order line one source ships, and the inventory reservation that holds it."""

    line_id: str
    sku: str
    quantity: int
    reservation_id: str | None = None


class FulfillmentOrder(Value):
    """What one source ships for the order (IOM: one fulfillment order per source)."""

    fulfillment_order_id: str
    source: str
    warehouse: str
    site: str | None = None
    strategy: str
    lines: tuple[FulfillmentOrderLine, ...]


class LineQuantity(Value):
    """Units of one order line: a new quantity in an edit, the units of a return."""

    line_id: str
    quantity: int


class LineLaunch(Value):
    """A preorder line and its product's launch date: it may not ship before."""

    line_id: str
    launch_date: date
