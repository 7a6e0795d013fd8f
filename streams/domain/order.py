"""The order aggregate's state, and ``evolve``: the one way it changes.

State is a left fold of the order's events in ``seq`` order. ``evolve`` ignores an event
it has already seen (``seq`` not above the version), so at-least-once delivery gives
effectively-once state. Statuses come from the events themselves (the writer decided
them with the transition table), so a replay never depends on today's configuration.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import Field

from streams.domain.commands import CommandEnvelope, ProviderActionRequest, RecordActionResult
from streams.domain.errors import OutOfSequence, UnknownOrder
from streams.domain.events import (
    BackorderCheckStarted,
    ChannelStatusUpdated,
    Envelope,
    Event,
    FlowStarted,
    FlowStepRecorded,
    FulfillmentOrderCreated,
    FulfillmentPicked,
    LineEvent,
    OrderAssigned,
    OrderCanceled,
    OrderConfirmed,
    OrderCreated,
    OrderEdited,
    OrderHeld,
    OrderInvoiced,
    OrderLinesBackordered,
    OrderLinesCanceled,
    OrderLinesPreordered,
    OrderLinesReleased,
    OrderLinesStatusChanged,
    OrderRefunded,
    OrderReprocessed,
    OrderSentToBilling,
    OrderSentToFulfillment,
    OrderShipped,
    OrderValidated,
    OrderValidationFailed,
    ProviderActionHeld,
    ProviderActionReleased,
    ProviderActionRequested,
    ReplacementOrdered,
    ReturnFlowStarted,
    ReturnReceived,
    ReturnRequested,
    StepResult,
)
from streams.domain.snapshot import LineSnapshot, OrderSnapshot
from streams.domain.transitions import CANCELED
from streams.domain.values import (
    ActionType,
    Address,
    ExternalRef,
    FulfillmentOrder,
    LineAssignment,
    LineQuantity,
    OrderStatus,
    Provider,
    Value,
)


class LineState(Value):
    line_id: str
    sku: str
    quantity: int
    unit_price: Decimal
    site: str | None = None
    warehouse: str | None = None
    status: OrderStatus | None = None
    """The line's own status; ``None`` while it follows the order header."""
    status_reason: str | None = None
    backordered_at: datetime | None = None
    """Set while the line waits in Backorder hold (it is "parked": order-level events pass it by)."""
    backorder_cancel_at: datetime | None = None
    """When a parked line's cancellation SLA runs out."""
    synced: bool = False
    """Sent to the fulfillment or billing provider by a line-selective sync (journey 6)."""
    preorder_until: date | None = None
    """Set while the line waits in Preorder hold for its product's launch (it is parked too)."""
    shipped_at: datetime | None = None
    """When the line left the warehouse: a return may follow, within the return window."""
    inventory_availability_date: date | None = None
    estimated_ship_date: date | None = None

    @property
    def parked(self) -> bool:
        """Waiting in Backorder or Preorder hold: order-level events pass it by."""
        return self.backordered_at is not None or self.preorder_until is not None

    @property
    def backordered(self) -> bool:
        return self.backordered_at is not None


class ReturnStatus(StrEnum):
    """A return's own status; the order's header stays where it is (Completed)."""

    REQUESTED = "Return requested"
    RECEIVED = "Return received"
    REFUNDED = "Refunded"


class ReturnState(Value):
    """A return order (RMA) inside its sales order: one writer, one timeline."""

    rma_id: str
    status: ReturnStatus
    lines: tuple[LineQuantity, ...]
    reason: str
    return_source: str
    requested_by: str = ""
    replacement: bool = False
    requested_at: datetime
    flow: str | None = None
    flow_version: int | None = None
    received_at: datetime | None = None
    warehouse: str | None = None
    site: str | None = None
    credit_note_id: str | None = None
    refunded_amount: Decimal | None = None
    replacement_order_id: str | None = None

    @property
    def open(self) -> bool:
        return self.status is not ReturnStatus.REFUNDED


class PendingAction(Value):
    """A provider action the order waits for: why it waits, and until when."""

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
    held: str | None = None
    """The paused target holding it (not sent, no timer), or None."""

    def timed_out(self, order_id: str, now: datetime) -> RecordActionResult:
        """The writer's timer: no answer by the deadline counts as this attempt failing."""
        waited = (self.deadline - self.not_before).total_seconds()
        return RecordActionResult(
            envelope=CommandEnvelope(
                command_id=f"timeout/{self.action_id}/{self.attempt}",
                order_id=order_id,
                issued_at=now,
                correlation_id=f"timer/{order_id}",
                source="writer:timer",
            ),
            action_id=self.action_id,
            success=False,
            details=f"no answer from {self.provider} within {waited:.0f}s",
            attempt=self.attempt,
        )


class StepOutcome(Value):
    result: str
    attempt: int
    details: str = ""
    at: datetime


class OrderState(Value):
    order_id: str
    version: int
    status: OrderStatus
    status_reason: str
    channel: str
    customer_id: str
    currency: str
    ship_to: Address
    lines: tuple[LineState, ...]
    external_refs: tuple[ExternalRef, ...] = ()
    attributes: dict[str, str] = Field(default_factory=dict)
    company: str | None = None
    invoice_customer: str | None = None
    flow: str | None = None
    flow_version: int | None = None
    steps: dict[str, StepOutcome] = Field(default_factory=dict)
    """The latest result of each step that ran."""
    pending_actions: tuple[PendingAction, ...] = ()
    settled_actions: tuple[str, ...] = ()
    """Ids of the actions whose step has ended: a late answer to one is ignored, an answer to
    an id in neither list is refused."""
    recent_commands: tuple[str, ...] = ()
    """Ids of the last ``RECENT_COMMANDS`` commands from outside the writer (connectors, API,
    jobs) that changed the order: the same command delivered again is a no-op, whichever
    connector instance sent it."""
    failed_step: str | None = None
    """The step a reprocess restarts from."""
    billing_provider: Provider | None = None
    fulfillment_provider: Provider | None = None
    provider_order_id: str | None = None
    tracking_number: str | None = None
    carrier: str | None = None
    invoice_id: str | None = None
    channel_status: str | None = None
    validation_errors: tuple[str, ...] = ()
    fulfillment_orders: tuple[FulfillmentOrder, ...] = ()
    shipped_by: Provider | None = None
    invoiced_by: Provider | None = None
    returns: tuple[ReturnState, ...] = ()
    is_manual: bool = False
    sales_origin: str | None = None
    customer_reference: str | None = None
    cloned_from: str | None = None
    replacement_for: str | None = None
    awaiting_confirmation: bool = False
    """Made in F&O and not confirmed there yet: no flow runs."""
    created_by: str
    """The id of the command that created the order: a redelivered create is a no-op."""
    created_at: datetime
    updated_at: datetime

    def line_status(self, line: LineState) -> OrderStatus:
        return line.status if line.status is not None else self.status

    def line_status_reason(self, line: LineState) -> str:
        return line.status_reason if line.status is not None and line.status_reason else self.status_reason

    def line(self, line_id: str) -> LineState | None:
        return next((line for line in self.lines if line.line_id == line_id), None)

    @property
    def lines_have_statuses(self) -> bool:
        """Once a line moves on its own (backorder, line cancel), every order-level event is
        applied line by line and the header follows its lines (see ``domain.lines``).
        A loop, not ``any()`` over a generator: every decision asks."""
        for line in self.lines:  # noqa: SIM110 (see above)
            if line.status is not None:
                return True
        return False

    @property
    def parked_lines(self) -> tuple[LineState, ...]:
        return tuple(line for line in self.lines if line.parked)

    def return_(self, rma_id: str) -> ReturnState | None:
        return next((r for r in self.returns if r.rma_id == rma_id), None)

    def external_ref(self, system: str) -> str | None:
        return next((r.ref for r in self.external_refs if r.system == system), None)

    def pending(self, action_id: str) -> PendingAction | None:
        return next((p for p in self.pending_actions if p.action_id == action_id), None)

    @property
    def live_actions(self) -> tuple[PendingAction, ...]:
        """The pending actions that were sent and run a timer (not held by a pause)."""
        return tuple(p for p in self.pending_actions if p.held is None)

    def has_decided(self, command_id: str) -> bool:
        return command_id in self.recent_commands or command_id == self.created_by

    def snapshot(self) -> OrderSnapshot:
        """The order as a provider is told of it (``snapshot``): each line with its status.

        Every request carries one, so it is assembled from the state's own values (already
        of the snapshot's field types) rather than dumped and validated again: that was 7%
        of the writer's time in bench.journeys."""
        lines = tuple(
            LineSnapshot.completed(
                {
                    **{name: getattr(x, name) for name in _LINE_SNAPSHOT},
                    "status": self.line_status(x),
                    "status_reason": self.line_status_reason(x),
                    "backordered": x.backordered,
                }
            )
            for x in self.lines
        )
        header = {name: getattr(self, name) for name in _ORDER_SNAPSHOT}
        header["attributes"] = dict(self.attributes)  # not shared with the state
        return OrderSnapshot.completed({**header, "lines": lines})

    @property
    def waiting_on(self) -> str | None:
        """Why the order waits, in words an operator can act on."""
        if not self.pending_actions:
            return None
        return "; ".join(
            f"{p.provider} {p.action} (step {p.step}, attempt {p.attempt}/{p.max_attempts}, "
            f"deadline {p.deadline:%H:%M:%S})"
            for p in self.pending_actions
        )


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
            update: dict[str, Any] = {"site": a.site or line.site, "warehouse": a.warehouse or line.warehouse}
            if a.inventory_availability_date or a.estimated_ship_date:
                update["inventory_availability_date"] = a.inventory_availability_date
                update["estimated_ship_date"] = a.estimated_ship_date
            out.append(line.updated(update))
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


_FINAL = {result.value: result.final for result in StepResult}
"""Whether each step result ends its step, by its text (an enum call per step result costs)."""


def _step_recorded(state: OrderState, e: FlowStepRecorded) -> dict[str, Any]:
    outcome = StepOutcome(result=e.result, attempt=e.attempt, details=e.details, at=e.envelope.occurred_at)
    changes: dict[str, Any] = {"steps": {**state.steps, e.step: outcome}}
    final = _FINAL.get(e.result)
    if final is None:
        final = StepResult(e.result).final  # not a result: refused here, as ever
    if final:  # the step no longer waits for anyone
        ended = tuple(p.action_id for p in state.pending_actions if p.step == e.step)
        changes["pending_actions"] = tuple(p for p in state.pending_actions if p.step != e.step)
        changes["settled_actions"] = (*state.settled_actions, *ended)
    if e.result == "failed" and is_flow_step(e.step):
        changes["failed_step"] = e.step
    elif state.failed_step == e.step:
        changes["failed_step"] = None
    return changes


_PENDING_FIELDS = tuple(name for name in PendingAction.model_fields if name != "held")
"""What a pending action takes from its request (``model_fields`` is a property)."""


def _action_requested(state: OrderState, e: ProviderActionRequested) -> dict[str, Any]:
    pending = PendingAction(**{name: getattr(e, name) for name in _PENDING_FIELDS})
    others = tuple(p for p in state.pending_actions if p.step != e.step)
    return {"pending_actions": (*others, pending)}


def _held(state: OrderState, e: ProviderActionHeld | ProviderActionReleased) -> dict[str, Any]:
    def changed(p: PendingAction) -> PendingAction:
        if isinstance(e, ProviderActionHeld):
            return p.updated({"held": e.target})
        return p.updated({"held": None, "not_before": e.not_before, "deadline": e.deadline})

    return {
        "pending_actions": tuple(
            changed(p) if p.action_id == e.action_id else p for p in state.pending_actions
        )
    }


def _synced(state: OrderState, provider: str) -> dict[str, Any]:
    """A line-selective sync names its lines in the request (``params["lines"]``); the
    request is still pending when its success is folded."""
    named: set[str] = set()
    for p in state.pending_actions:
        if p.provider == provider and p.params.get("lines"):
            named.update(p.params["lines"].split(","))
    if not named:
        return {}
    return {"lines": tuple(x.updated({"synced": True}) if x.line_id in named else x for x in state.lines)}


_UNPARKED = {"backordered_at": None, "backorder_cancel_at": None, "preorder_until": None}


def _parking(e: LineEvent, line_id: str) -> dict[str, Any]:
    """What a line-level event does to a line's Backorder or Preorder hold."""
    if isinstance(e, OrderLinesBackordered):
        return {
            "backordered_at": e.envelope.occurred_at,
            "backorder_cancel_at": e.cancel_at,
            "preorder_until": None,
        }
    if isinstance(e, OrderLinesPreordered):
        return {"preorder_until": next(x.launch_date for x in e.launches if x.line_id == line_id)}
    if isinstance(e, OrderLinesReleased | OrderLinesCanceled):
        return _UNPARKED
    return {}


def _lines_moved(state: OrderState, e: LineEvent) -> dict[str, Any]:
    changes = {c.line_id: c for c in e.lines}
    lines = []
    for line in state.lines:
        change = changes.get(line.line_id)
        if change is None:
            lines.append(line)
        else:
            update = {"status": change.status, "status_reason": change.status_reason}
            lines.append(line.updated({**update, **_parking(e, line.line_id)}))
    return {"lines": tuple(lines)}


def _shipped(state: OrderState, e: OrderShipped) -> dict[str, Any]:
    """The lines a shipment reached (as ``domain.lines`` moves them) are shipped from now."""
    reached = [x for x in state.lines if not x.parked and state.line_status(x) != CANCELED]
    if any(x.synced for x in reached):
        reached = [x for x in reached if x.synced]
    ids = {x.line_id for x in reached if x.shipped_at is None}
    at = e.envelope.occurred_at
    return {
        "tracking_number": e.tracking_number,
        "carrier": e.carrier,
        "shipped_by": e.provider,
        "lines": tuple(x.updated({"shipped_at": at}) if x.line_id in ids else x for x in state.lines),
    }


def _edited(state: OrderState, e: OrderEdited) -> dict[str, Any]:
    quantities = {q.line_id: q.quantity for q in e.quantities}
    removed = set(e.removed_lines)
    lines = [
        x.updated({"quantity": quantities[x.line_id]}) if x.line_id in quantities else x
        for x in state.lines
        if x.line_id not in removed
    ]
    lines += [LineState.completed(x.__dict__) for x in e.added_lines]
    changes: dict[str, Any] = {"lines": tuple(lines)}
    if e.ship_to is not None:
        changes["ship_to"] = e.ship_to
    return changes


def _return_requested(state: OrderState, e: ReturnRequested) -> dict[str, Any]:
    opened = ReturnState(
        rma_id=e.rma_id,
        status=ReturnStatus.REQUESTED,
        lines=e.lines,
        reason=e.reason,
        return_source=e.return_source,
        requested_by=e.requested_by,
        replacement=e.replacement,
        requested_at=e.envelope.occurred_at,
    )
    return {"returns": (*state.returns, opened)}


def _return_changed(rma_id: str, **update: Any) -> Callable[[OrderState], dict[str, Any]]:
    def change(state: OrderState) -> dict[str, Any]:
        return {"returns": tuple(r.updated(update) if r.rma_id == rma_id else r for r in state.returns)}

    return change


def _return_received(state: OrderState, e: ReturnReceived) -> dict[str, Any]:
    update = {"status": ReturnStatus.RECEIVED, "received_at": e.envelope.occurred_at}
    return _return_changed(e.rma_id, **update, warehouse=e.warehouse, site=e.site)(state)


def _refunded(state: OrderState, e: OrderRefunded) -> dict[str, Any]:
    update = {
        "status": ReturnStatus.REFUNDED,
        "credit_note_id": e.credit_note_id,
        "refunded_amount": e.amount,
    }
    return _return_changed(e.rma_id, **update)(state)


def _fulfillment_order(state: OrderState, e: FulfillmentOrderCreated) -> dict[str, Any]:
    fo = FulfillmentOrder(**{name: getattr(e, name) for name in FulfillmentOrder.model_fields})
    return {"fulfillment_orders": (*state.fulfillment_orders, fo)}


_CHANGES: dict[type[Event], Callable[[OrderState, Any], dict[str, Any]]] = {
    OrderValidated: lambda s, e: {"validation_errors": ()},
    OrderValidationFailed: lambda s, e: {"validation_errors": e.reasons},
    OrderAssigned: _assigned,
    OrderSentToFulfillment: lambda s, e: {
        "fulfillment_provider": e.provider,
        "provider_order_id": e.provider_order_id,
        **_synced(s, e.provider),
    },
    FulfillmentPicked: lambda s, e: {},
    OrderShipped: _shipped,
    OrderInvoiced: lambda s, e: {"invoice_id": e.invoice_id, "invoiced_by": e.provider},
    OrderCanceled: lambda s, e: {},
    OrderHeld: lambda s, e: {},
    ChannelStatusUpdated: lambda s, e: {"channel_status": e.channel_status},
    OrderSentToBilling: lambda s, e: {"billing_provider": e.provider, **_synced(s, e.provider)},
    FlowStarted: lambda s, e: {"flow": e.flow, "flow_version": e.flow_version},
    FlowStepRecorded: _step_recorded,
    ProviderActionRequested: _action_requested,
    OrderReprocessed: lambda s, e: {},
    FulfillmentOrderCreated: _fulfillment_order,
    OrderLinesBackordered: _lines_moved,
    OrderLinesReleased: _lines_moved,
    OrderLinesCanceled: _lines_moved,
    OrderLinesStatusChanged: _lines_moved,
    BackorderCheckStarted: lambda s, e: {},
    OrderLinesPreordered: _lines_moved,
    OrderConfirmed: lambda s, e: {"awaiting_confirmation": False},
    OrderEdited: _edited,
    ReturnRequested: _return_requested,
    ReturnFlowStarted: lambda s, e: _return_changed(e.rma_id, flow=e.flow, flow_version=e.flow_version)(s),
    ReturnReceived: _return_received,
    OrderRefunded: _refunded,
    ReplacementOrdered: lambda s, e: _return_changed(e.rma_id, replacement_order_id=e.replacement_order_id)(
        s
    ),
    ProviderActionHeld: _held,
    ProviderActionReleased: _held,
}
"""What each event changes besides version and status: one small function per event type."""


def _created(e: OrderCreated) -> OrderState:
    env = e.envelope
    given = dict(
        order_id=env.order_id,
        version=env.seq,
        status=env.status,
        status_reason=env.status_reason,
        channel=e.channel,
        customer_id=e.customer_id,
        currency=e.currency,
        ship_to=e.ship_to,
        lines=tuple(LineState.completed(line.__dict__) for line in e.lines),
        external_refs=e.external_refs,
        attributes=dict(e.attributes),  # the state's own, as validation made it
        company=e.company,
        invoice_customer=e.invoice_customer,
        is_manual=e.is_manual,
        sales_origin=e.sales_origin,
        customer_reference=e.customer_reference,
        cloned_from=e.cloned_from,
        replacement_for=e.replacement_for,
        awaiting_confirmation=e.awaiting_confirmation,
        created_by=env.causation_id,
        created_at=env.occurred_at,
        updated_at=env.occurred_at,
    )
    return OrderState.completed(given)


_FLOW_STEP = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def is_flow_step(step_id: str) -> bool:
    """Whether ``step_id`` names a step of the order's flow, which a reprocess can restart
    from; the engine's own steps (``cancel-at-fno/7``) and a return's steps
    (``RMA-1:issue-credit-note``) are not."""
    return _FLOW_STEP.match(step_id) is not None


def return_step(rma_id: str, step_id: str) -> str:
    """The id a return flow's step runs under for one return: ``RMA-1:issue-credit-note``."""
    return f"{rma_id}:{step_id}"


_LINE_SNAPSHOT = tuple(
    n for n in LineSnapshot.model_fields if n not in {"status", "status_reason", "backordered"}
)
_ORDER_SNAPSHOT = tuple(n for n in OrderSnapshot.model_fields if n != "lines")


def order_of(request: ProviderActionRequest) -> OrderSnapshot:
    """The order a provider request carries. A request written before the snapshot record
    (the first version of ``ProviderActionRequest``) carries the writer's state as JSON:
    still read, so requests in flight across an upgrade are answered."""
    if request.order is not None:
        return request.order
    return OrderState.model_validate_json(request.order_json).snapshot()


def return_of_step(step_id: str) -> str | None:
    """The return a step runs for (None: an order step)."""
    rma, sep, _ = step_id.rpartition(":")
    return rma if sep else None


RECENT_COMMANDS = 32
INTERNAL_SOURCES = ("flow:", "writer:")
"""Commands the writer issues itself (flow reactions, timers): never redelivered, not recorded."""


def _recent(state: OrderState, env: Envelope) -> tuple[str, ...]:
    recent = state.recent_commands
    if env.source.startswith(INTERNAL_SOURCES) or (recent and recent[-1] == env.causation_id):
        return recent
    return (*recent[-(RECENT_COMMANDS - 1) :], env.causation_id)


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
    changes["recent_commands"] = _recent(state, env)
    changes["status"] = env.status
    changes["status_reason"] = env.status_reason
    changes["updated_at"] = env.occurred_at
    return state.updated(changes)


def fold(events: Iterable[Event], state: OrderState | None = None) -> OrderState | None:
    """Fold events that are already in seq order (see ``history.OrderHistories`` otherwise)."""
    for event in events:
        state = evolve(state, event)
    return state
