"""Order events: what happened, immutable, in the order of the order's ``seq``.

Each class mirrors one ``schemas/avro/events/*.avsc`` file (a test keeps them equal).
``business_event`` is the name the transition table knows the event by, ``topic`` the
logical topic it goes to; adding an event is adding its class here and its ``.avsc``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import Field

from streams.domain.values import (
    ActionType,
    Address,
    ExternalRef,
    FulfillmentOrderLine,
    LineAssignment,
    LineLaunch,
    LineQuantity,
    LineStatusChange,
    OrderLine,
    OrderStatus,
    Provider,
    Value,
)


class Envelope(Value):
    event_id: str
    order_id: str
    seq: int
    occurred_at: datetime
    correlation_id: str
    causation_id: str
    source: str
    status: OrderStatus
    status_reason: str


class Event(Value):
    """An order event. Each concrete one is declared here once: its fields (mirrored by its
    ``.avsc``, a test keeps them equal), ``business_event`` (the name the transition table
    knows it by) and ``topic`` (its logical topic); ``EVENT_TYPES`` and the topic registry
    are derived from these classes."""

    business_event: ClassVar[str]
    topic: ClassVar[str]
    envelope: Envelope

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "topic" in cls.__dict__:  # a concrete event, not a base such as LineEvent
            _DECLARED.append(cls)


_DECLARED: list[type[Event]] = []


class OrderCreated(Event):
    business_event: ClassVar[str] = "New order"
    topic: ClassVar[str] = "order.created"
    channel: str
    customer_id: str
    currency: str
    ship_to: Address
    lines: tuple[OrderLine, ...]
    external_refs: tuple[ExternalRef, ...] = ()
    attributes: dict[str, str] = Field(default_factory=dict)
    company: str | None = None
    invoice_customer: str | None = None
    is_manual: bool = False
    sales_origin: str | None = None
    customer_reference: str | None = None
    cloned_from: str | None = None
    replacement_for: str | None = None
    awaiting_confirmation: bool = False


class OrderConfirmed(Event):
    """Confirmed where it was made (F&O's second step): the order's flow starts now."""

    business_event: ClassVar[str] = "Order confirmed"
    topic: ClassVar[str] = "order.confirmed"
    confirmed_by: str = ""


class OrderValidated(Event):
    business_event: ClassVar[str] = "Order validation succeeded"
    topic: ClassVar[str] = "order.validated"
    policy: str


class OrderValidationFailed(Event):
    business_event: ClassVar[str] = "Order validation failed"
    topic: ClassVar[str] = "order.validation-failed"
    policy: str
    reasons: tuple[str, ...]


class OrderAssigned(Event):
    business_event: ClassVar[str] = "Order data assigned"
    topic: ClassVar[str] = "order.assigned"
    company: str | None = None
    invoice_customer: str | None = None
    lines: tuple[LineAssignment, ...] = ()
    policy: str


class OrderSentToFulfillment(Event):
    business_event: ClassVar[str] = "Order sent to fulfillment"
    topic: ClassVar[str] = "order.sent-to-fulfillment"
    provider: Provider
    provider_order_id: str | None = None


class FulfillmentPicked(Event):
    business_event: ClassVar[str] = "Order picked"
    topic: ClassVar[str] = "fulfillment.picked"
    provider: Provider
    picking_id: str | None = None


class OrderShipped(Event):
    business_event: ClassVar[str] = "Order shipped"
    topic: ClassVar[str] = "order.shipped"
    provider: Provider
    shipment_id: str | None = None
    carrier: str | None = None
    tracking_number: str | None = None


class OrderInvoiced(Event):
    business_event: ClassVar[str] = "Order invoiced"
    topic: ClassVar[str] = "order.invoiced"
    provider: Provider
    invoice_id: str
    amount: Decimal | None = None


class OrderCanceled(Event):
    business_event: ClassVar[str] = "Order canceled"
    topic: ClassVar[str] = "order.canceled"
    reason: str
    requested_by: str = ""


class OrderHeld(Event):
    business_event: ClassVar[str] = "Order put on hold"
    topic: ClassVar[str] = "order.held"
    reason: str


class ChannelStatusUpdated(Event):
    business_event: ClassVar[str] = "Channel status updated"
    topic: ClassVar[str] = "channel.status-updated"
    channel: str
    channel_status: str


class OrderSentToBilling(Event):
    business_event: ClassVar[str] = "Order sent to billing"
    topic: ClassVar[str] = "order.sent-to-billing"
    provider: Provider
    provider_order_id: str | None = None


class FlowStarted(Event):
    business_event: ClassVar[str] = "Flow started"
    topic: ClassVar[str] = "order.flow-started"
    flow: str
    flow_version: int


class StepResult(StrEnum):
    """How a step ended (``retrying``: not yet). Later steps wait for "<step> succeeded" or
    "<step> failed"; ``canceled`` (an order that completed or was canceled around an open
    step) and ``skipped`` trigger nothing."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RETRYING = "retrying"
    SKIPPED = "skipped"
    CANCELED = "canceled"

    @property
    def final(self) -> bool:
        return self is not StepResult.RETRYING


class FlowStepRecorded(Event):
    """A step's result; later steps wait for it as "<step> <result>"."""

    business_event: ClassVar[str] = "Flow step recorded"
    topic: ClassVar[str] = "order.step-recorded"
    flow: str
    flow_version: int
    step: str
    result: str
    details: str = ""
    attempt: int = 1


class ProviderActionRequested(Event):
    business_event: ClassVar[str] = "Provider action requested"
    topic: ClassVar[str] = "order.action-requested"
    action_id: str
    step: str
    provider: Provider
    action: ActionType
    attempt: int
    max_attempts: int
    critical: bool
    params: dict[str, str] = Field(default_factory=dict)
    not_before: datetime
    deadline: datetime


class ProviderActionHeld(Event):
    """A paused target holds the step's request: not sent, no timer (see ``control``)."""

    business_event: ClassVar[str] = "Provider action held"
    topic: ClassVar[str] = "order.action-held"
    action_id: str
    step: str
    provider: Provider
    target: str


class ProviderActionReleased(Event):
    """The target was resumed: the held request goes out now, its deadline counted from now."""

    business_event: ClassVar[str] = "Provider action released"
    topic: ClassVar[str] = "order.action-released"
    action_id: str
    step: str
    provider: Provider
    not_before: datetime
    deadline: datetime


class OrderReprocessed(Event):
    business_event: ClassVar[str] = "Order reprocessed"
    topic: ClassVar[str] = "order.reprocessed"
    step: str
    reason: str = ""


class FulfillmentOrderCreated(Event):
    """DOM chose ``source`` for these lines (or parts of lines): one fulfillment order per
    source, its units held by inventory reservations."""

    business_event: ClassVar[str] = "Fulfillment order created"
    topic: ClassVar[str] = "fulfillment.order-created"
    fulfillment_order_id: str
    source: str
    warehouse: str
    site: str | None = None
    strategy: str
    lines: tuple[FulfillmentOrderLine, ...]


class LineEvent(Event):
    """An event that moves lines, not the header: it records each line's status after it,
    and the header's (in the envelope) follows when all its open lines agree."""

    lines: tuple[LineStatusChange, ...]


class OrderLinesBackordered(LineEvent):
    """No source has these lines' units: they wait in Backorder hold for the backorder job."""

    business_event: ClassVar[str] = "Order lines backordered"
    topic: ClassVar[str] = "order.lines-backordered"
    cancel_at: datetime | None = None
    """When the cancellation SLA ends (None: never)."""


class OrderLinesReleased(LineEvent):
    """The backorder job found and reserved the units: the lines go on to fulfillment."""

    business_event: ClassVar[str] = "Backorder released"
    topic: ClassVar[str] = "order.lines-released"


class OrderLinesCanceled(LineEvent):
    business_event: ClassVar[str] = "Order lines canceled"
    topic: ClassVar[str] = "order.lines-canceled"
    reason: str
    requested_by: str = ""


class OrderLinesPreordered(LineEvent):
    """Lines of preorder products wait in Preorder hold until their launch date."""

    business_event: ClassVar[str] = "Order lines preordered"
    topic: ClassVar[str] = "order.lines-preordered"
    launches: tuple[LineLaunch, ...]


class OrderLinesStatusChanged(LineEvent):
    """What an order-level event (``cause``) did to each line, once lines have statuses of
    their own (like IOM's "raise lines and aggregated order events")."""

    business_event: ClassVar[str] = "Order lines status changed"
    topic: ClassVar[str] = "order.lines-status-changed"
    cause: str


class BackorderCheckStarted(Event):
    """The backorder job asks DOM to source the held lines again (a flow step reacts)."""

    business_event: ClassVar[str] = "Backorder check started"
    topic: ClassVar[str] = "order.backorder-check-started"
    line_ids: tuple[str, ...]
    job_run: str = ""


class OrderEdited(Event):
    """An edit before fulfillment, with who made it and why; the flow validates it again."""

    business_event: ClassVar[str] = "Order edited"
    topic: ClassVar[str] = "order.edited"
    editor: str
    reason: str
    quantities: tuple[LineQuantity, ...] = ()
    added_lines: tuple[OrderLine, ...] = ()
    removed_lines: tuple[str, ...] = ()
    ship_to: Address | None = None


class ReturnRequested(Event):
    """A return (RMA) against shipped lines; the order's header status does not move."""

    business_event: ClassVar[str] = "Return requested"
    topic: ClassVar[str] = "return.requested"
    rma_id: str
    lines: tuple[LineQuantity, ...]
    reason: str
    return_source: str = "api"
    requested_by: str = ""
    replacement: bool = False


class ReturnFlowStarted(Event):
    """The return runs in this return flow version to its end."""

    business_event: ClassVar[str] = "Return flow started"
    topic: ClassVar[str] = "return.flow-started"
    rma_id: str
    flow: str
    flow_version: int


class ReturnReceived(Event):
    """The returned goods arrived at ``warehouse``: they go back into stock there."""

    business_event: ClassVar[str] = "Return received"
    topic: ClassVar[str] = "return.received"
    rma_id: str
    provider: Provider
    warehouse: str | None = None
    site: str | None = None


class OrderRefunded(Event):
    """The billing provider credited a return (its credit note)."""

    business_event: ClassVar[str] = "Order refunded"
    topic: ClassVar[str] = "order.refunded"
    rma_id: str
    provider: Provider
    credit_note_id: str | None = None
    amount: Decimal | None = None


class ReplacementOrdered(Event):
    """A replacement order for a return's goods was created (its id links it both ways)."""

    business_event: ClassVar[str] = "Replacement ordered"
    topic: ClassVar[str] = "order.replacement-ordered"
    rma_id: str
    replacement_order_id: str


EVENT_TYPES: tuple[type[Event], ...] = tuple(_DECLARED)
"""Every order event, in the order declared above."""
