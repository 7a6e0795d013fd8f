"""The order aggregate's state, and ``evolve``: the one way it changes.

State is a left fold of the order's events in ``seq`` order. ``evolve`` ignores an event
it has already seen (``seq`` not above the version), so at-least-once delivery gives
effectively-once state. Statuses come from the events themselves (the writer decided
them with the transition table), so a replay never depends on today's configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from streams.domain.errors import OutOfSequence, UnknownOrder
from streams.domain.events import (
    ChannelStatusUpdated,
    Event,
    FulfillmentPicked,
    OrderAssigned,
    OrderCanceled,
    OrderCreated,
    OrderHeld,
    OrderInvoiced,
    OrderSentToFulfillment,
    OrderShipped,
    OrderValidated,
    OrderValidationFailed,
)
from streams.domain.values import Address, ExternalRef, LineAssignment, Value


class LineState(Value):
    line_id: str
    sku: str
    quantity: int
    unit_price: Decimal
    site: str | None = None
    warehouse: str | None = None
    status: str | None = None
    """The line's own status; ``None`` while it follows the order header."""


class OrderState(Value):
    order_id: str
    version: int
    status: str
    status_reason: str
    channel: str
    customer_id: str
    currency: str
    ship_to: Address
    lines: tuple[LineState, ...]
    external_refs: tuple[ExternalRef, ...] = ()
    company: str | None = None
    invoice_customer: str | None = None
    fulfillment_provider: str | None = None
    provider_order_id: str | None = None
    tracking_number: str | None = None
    invoice_id: str | None = None
    channel_status: str | None = None
    validation_errors: tuple[str, ...] = ()
    created_by: str
    """The id of the command that created the order: a redelivered create is a no-op."""
    created_at: datetime
    updated_at: datetime

    def line_status(self, line: LineState) -> str:
        return line.status if line.status is not None else self.status

    def external_ref(self, system: str) -> str | None:
        return next((r.ref for r in self.external_refs if r.system == system), None)


def _assign_lines(
    lines: tuple[LineState, ...], assignments: tuple[LineAssignment, ...]
) -> tuple[LineState, ...]:
    by_id = {a.line_id: a for a in assignments}
    out = []
    for line in lines:
        a = by_id.get(line.line_id)
        if a is None:
            out.append(line)
        else:
            out.append(
                line.model_copy(
                    update={"site": a.site or line.site, "warehouse": a.warehouse or line.warehouse}
                )
            )
    return tuple(out)


def _assigned(state: OrderState, e: OrderAssigned) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if e.company is not None:
        changes["company"] = e.company
    if e.invoice_customer is not None:
        changes["invoice_customer"] = e.invoice_customer
    if e.lines:
        changes["lines"] = _assign_lines(state.lines, e.lines)
    return changes


_CHANGES: dict[type[Event], Callable[[OrderState, Any], dict[str, Any]]] = {
    OrderValidated: lambda s, e: {"validation_errors": ()},
    OrderValidationFailed: lambda s, e: {"validation_errors": e.reasons},
    OrderAssigned: _assigned,
    OrderSentToFulfillment: lambda s, e: {
        "fulfillment_provider": e.provider,
        "provider_order_id": e.provider_order_id,
    },
    FulfillmentPicked: lambda s, e: {},
    OrderShipped: lambda s, e: {"tracking_number": e.tracking_number},
    OrderInvoiced: lambda s, e: {"invoice_id": e.invoice_id},
    OrderCanceled: lambda s, e: {},
    OrderHeld: lambda s, e: {},
    ChannelStatusUpdated: lambda s, e: {"channel_status": e.channel_status},
}
"""What each event changes besides version and status: one small function per event type."""


def _created(e: OrderCreated) -> OrderState:
    env = e.envelope
    return OrderState(
        order_id=env.order_id,
        version=env.seq,
        status=env.status,
        status_reason=env.status_reason,
        channel=e.channel,
        customer_id=e.customer_id,
        currency=e.currency,
        ship_to=e.ship_to,
        lines=tuple(LineState(**line.model_dump()) for line in e.lines),
        external_refs=e.external_refs,
        company=e.company,
        invoice_customer=e.invoice_customer,
        created_by=env.causation_id,
        created_at=env.occurred_at,
        updated_at=env.occurred_at,
    )


def evolve(state: OrderState | None, event: Event) -> OrderState:
    """The state after ``event``. A duplicate (seq already folded) returns ``state`` as is."""
    env = event.envelope
    if state is None:
        if type(event) is not OrderCreated:
            raise UnknownOrder(env.order_id, f"cannot fold '{event.business_event}'")
        if env.seq != 1:
            raise OutOfSequence(env.order_id, 1, env.seq)
        return _created(event)
    if env.seq <= state.version:
        return state
    if env.seq != state.version + 1:
        raise OutOfSequence(env.order_id, state.version + 1, env.seq)
    changes = _CHANGES[type(event)](state, event) if type(event) is not OrderCreated else {}
    changes["version"] = env.seq
    changes["status"] = env.status
    changes["status_reason"] = env.status_reason
    changes["updated_at"] = env.occurred_at
    return state.model_copy(update=changes)


def fold(events: Iterable[Event], state: OrderState | None = None) -> OrderState | None:
    """Fold events that are already in seq order (see ``history.OrderHistories`` otherwise)."""
    for event in events:
        state = evolve(state, event)
    return state
