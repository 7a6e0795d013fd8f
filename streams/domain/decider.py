"""Deciders: ``decide(command, state) -> events``, pure and deterministic.

Event ids derive from the command id and the event's index, ``seq`` continues the
order's version, and ``occurred_at`` is the command's ``issued_at``: deciding the same
command on the same state twice yields byte-identical events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from streams.domain import cancellation, edits, returns
from streams.domain.atp import LinePromise
from streams.domain.backorders import BackorderSettings, launched
from streams.domain.commands import (
    AssignOrderData,
    CancelOrder,
    CancelOrderLines,
    CheckBackorders,
    Command,
    ConfirmOrder,
    CreateOrder,
    EditOrder,
    HoldOrder,
    HoldPreorderLines,
    HoldProviderAction,
    RecordActionResult,
    RecordChannelStatus,
    RecordInvoiced,
    RecordPicked,
    RecordReplacement,
    RecordReturnReceived,
    RecordSentToBilling,
    RecordSentToFulfillment,
    RecordShipped,
    RecordStepResult,
    RecordValidation,
    ReleaseProviderAction,
    ReprocessOrder,
    RequestProviderAction,
    RequestReturn,
    StartFlow,
    StartReturnFlow,
)
from streams.domain.errors import DomainError, UnknownOrder
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
from streams.domain.flows import SYNC_ACTIONS, runs_on_terminal
from streams.domain.ids import event_id
from streams.domain.lines import apply_to_lines
from streams.domain.order import LineState, OrderState, PendingAction, ReturnStatus, evolve, return_of_step
from streams.domain.order_handling import DEFAULT_HANDLING, OrderHandling
from streams.domain.sourcing import FulfillmentPlan
from streams.domain.transitions import CANCELED, DEFAULT_TRANSITIONS, ON_HOLD, TERMINAL, TransitionTable
from streams.domain.values import FulfillmentOrderLine, LineAssignment, OrderStatus


def _make(
    cls: type[Event],
    command: Command,
    state: OrderState | None,
    index: int,
    after: tuple[str, str],
    **payload: Any,
) -> Event:
    """The ``index``-th event ``command`` causes, with the order's (status, reason) ``after`` it."""
    cmd = command.envelope
    # Every value is of its field's type already (the validated command's, the table's):
    # assembled, not validated again. The event itself is validated (its payload's types
    # may differ from the command's).
    envelope = Envelope.assemble(
        {
            "event_id": event_id(cmd.command_id, index),
            "order_id": cmd.order_id,
            "seq": (state.version if state else 0) + 1,
            "occurred_at": cmd.issued_at,
            "correlation_id": cmd.correlation_id,
            "causation_id": cmd.command_id,
            "source": cmd.source,
            "status": after[0] if type(after[0]) is OrderStatus else OrderStatus(after[0]),
            "status_reason": after[1],
        }
    )
    return cls(envelope=envelope, **payload)


def _event(
    cls: type[Event],
    command: Command,
    state: OrderState | None,
    table: TransitionTable,
    index: int = 0,
    event_reason: str | None = None,
    **payload: Any,
) -> Event:
    """The ``index``-th event ``command`` causes, ``state`` being the order just before it;
    the transition table moves the header."""
    after = table.apply(
        command.envelope.order_id,
        cls.business_event,
        state.status if state else None,
        state.status_reason if state else None,
        event_reason,
    )
    return _make(cls, command, state, index, after, **payload)


def _events(
    cls: type[Event],
    command: Command,
    state: OrderState | None,
    table: TransitionTable,
    index: int = 0,
    event_reason: str | None = None,
    **payload: Any,
) -> list[Event]:
    """Like ``_event``; once lines have statuses of their own, the table moves each line
    and a second event records what happened to them (see ``domain.lines``)."""
    if state is None or not state.lines_have_statuses or not table.has_rows(cls.business_event):
        return [_event(cls, command, state, table, index, event_reason, **payload)]
    outcome = apply_to_lines(state, cls.business_event, table, event_reason)
    first = _make(cls, command, state, index, outcome.header, **payload)
    if not outcome.changes:
        return [first]
    lines = _make(
        OrderLinesStatusChanged,
        command,
        evolve(state, first),
        index + 1,
        outcome.header,
        lines=tuple(outcome.changes),
        cause=cls.business_event,
    )
    return [first, lines]


def _line_event(
    cls: type[LineEvent],
    command: Command,
    state: OrderState,
    table: TransitionTable,
    line_ids: Iterable[str],
    index: int = 0,
    event_reason: str | None = None,
    **payload: Any,
) -> list[Event]:
    """A line-level event for the named lines the table lets it move; none if it moves none."""
    outcome = apply_to_lines(
        state,
        cls.business_event,
        table,
        event_reason,
        only=line_ids,
        parks=cls is OrderLinesBackordered,
        unparks=cls in (OrderLinesReleased, OrderLinesCanceled),
    )
    if not outcome.changes:
        return []
    return [_make(cls, command, state, index, outcome.header, lines=tuple(outcome.changes), **payload)]


_PAYLOAD_FIELDS: dict[type[Command], tuple[str, ...]] = {}
"""Each command type's fields but its envelope (pydantic's ``model_fields`` is a property)."""


def _payload(command: Command) -> dict[str, Any]:
    names = _PAYLOAD_FIELDS.get(type(command))
    if names is None:
        names = tuple(name for name in type(command).model_fields if name != "envelope")
        _PAYLOAD_FIELDS[type(command)] = names
    values = command.__dict__
    return {name: values[name] for name in names}


def _create(c: CreateOrder, state: OrderState | None, table: TransitionTable) -> list[Event]:
    if state is not None:
        if state.created_by == c.envelope.command_id:
            return []  # the same create, redelivered
        raise DomainError(c.envelope.order_id, "already exists; 'CreateOrder' refused")
    if not c.lines:
        raise DomainError(c.envelope.order_id, "an order needs at least one line")
    line_ids = [line.line_id for line in c.lines]
    if len(set(line_ids)) != len(line_ids):
        raise DomainError(c.envelope.order_id, f"duplicate line ids in {line_ids}")
    return _events(OrderCreated, c, None, table, **_payload(c))


def _validation(c: RecordValidation, state: OrderState | None, table: TransitionTable) -> list[Event]:
    state = _existing(c, state)
    if c.passed:
        return _events(OrderValidated, c, state, table, policy=c.policy)
    return _events(OrderValidationFailed, c, state, table, policy=c.policy, reasons=c.reasons)


def _assign(c: AssignOrderData, state: OrderState | None, table: TransitionTable) -> list[Event]:
    state = _existing(c, state)
    known = {line.line_id for line in state.lines}
    unknown = sorted(a.line_id for a in c.lines if a.line_id not in known)
    if unknown:
        raise DomainError(c.envelope.order_id, f"cannot assign unknown lines {unknown}")
    return _events(OrderAssigned, c, state, table, **_payload(c))


def _existing(c: Command, state: OrderState | None) -> OrderState:
    if state is None:
        raise UnknownOrder(c.envelope.order_id, f"'{type(c).__name__}' refused")
    return state


def _recorder(cls: type[Event]) -> Callable[[Any, OrderState | None, TransitionTable], list[Event]]:
    """A decider for a command that records one event with the command's own payload."""

    def decide_one(c: Command, state: OrderState | None, table: TransitionTable) -> list[Event]:
        payload = _payload(c)
        return _events(cls, c, _existing(c, state), table, event_reason=payload.get("reason"), **payload)

    return decide_one


def _start_flow(c: StartFlow, state: OrderState | None, table: TransitionTable) -> list[Event]:
    state = _existing(c, state)
    if state.flow is not None:
        if (state.flow, state.flow_version) == (c.flow, c.flow_version):
            return []
        raise DomainError(c.envelope.order_id, f"already runs in flow {state.flow} v{state.flow_version}")
    return _events(FlowStarted, c, state, table, flow=c.flow, flow_version=c.flow_version)


def _flow_of(c: Command, state: OrderState) -> tuple[str, int]:
    if state.flow is None or state.flow_version is None:
        raise DomainError(c.envelope.order_id, "is in no flow")
    return state.flow, state.flow_version


def _flow_of_state(state: OrderState) -> tuple[str, int]:
    """The flow of an order that has a step (so it is in one)."""
    assert state.flow is not None and state.flow_version is not None
    return state.flow, state.flow_version


def _step_result(c: RecordStepResult, state: OrderState | None, table: TransitionTable) -> list[Event]:
    """A step's result; closing a step that settled meanwhile (its answer came in the same
    decision as the event that closes the order's steps) changes nothing."""
    state = _existing(c, state)
    if c.result == StepResult.CANCELED and not any(p.step == c.step for p in state.pending_actions):
        return []
    return _events(FlowStepRecorded, c, state, table, **_payload(c))


def _request_action(
    c: RequestProviderAction, state: OrderState | None, table: TransitionTable
) -> list[Event]:
    state = _existing(c, state)
    _flow_of(c, state)
    return _events(ProviderActionRequested, c, state, table, action_id=c.envelope.command_id, **_payload(c))


RETRY_BACKOFF_CAP = timedelta(seconds=30)


def retry_backoff(attempt: int) -> timedelta:
    """Exponential: 1 s after the first failed attempt, then 2, 4... up to 30 s."""
    return min(timedelta(seconds=2 ** (attempt - 1)), RETRY_BACKOFF_CAP)


@dataclass
class _Effect:
    """An event a provider's answer causes; ``line_ids`` for a line-level event."""

    cls: type[Event]
    payload: dict[str, Any]
    line_ids: tuple[str, ...] | None = None
    reason: str | None = None


def _succeeded(c: RecordActionResult, pending: PendingAction, state: OrderState) -> list[_Effect]:
    """The business events a provider action's success means."""
    ref = c.data.get("provider_order_id")
    if pending.action == "send_to_fulfillment":
        return [_Effect(OrderSentToFulfillment, {"provider": pending.provider, "provider_order_id": ref})]
    if pending.action == "send_to_billing":
        return [_Effect(OrderSentToBilling, {"provider": pending.provider, "provider_order_id": ref})]
    if pending.action == "send_to_fulfillment_optimization":
        return _sourced(c, pending, state)
    if pending.action == "update_channel_status":
        status = c.data.get("channel_status") or pending.params.get("status_id", "")
        return [_Effect(ChannelStatusUpdated, {"channel": pending.provider, "channel_status": status})]
    rma = return_of_step(pending.step)
    if pending.action == returns.CREDIT_NOTE and rma is not None:
        refund = {"rma_id": rma, "provider": pending.provider, "credit_note_id": c.data.get("credit_note_id")}
        return [_Effect(OrderRefunded, {**refund, "amount": returns.credit(state, rma)})]
    return []


def _plan(c: RecordActionResult) -> FulfillmentPlan | None:
    """DOM's plan: the record, or in a result written before it existed (a replay of an old
    commands topic), the JSON in ``data["plan"]``."""
    if c.plan is not None or "plan" not in c.data:
        return c.plan
    try:
        return FulfillmentPlan.model_validate_json(c.data["plan"])
    except ValidationError as exc:
        raise DomainError(
            c.envelope.order_id, f"DOM's plan cannot be read: {exc.error_count()} errors: {exc}"
        ) from exc


def _sourced(c: RecordActionResult, pending: PendingAction, state: OrderState) -> list[_Effect]:
    """DOM's answer: one fulfillment order per source it chose, the shipping warehouse
    stamped on each sourced line, held lines it sourced released, and (with backorders
    on) the lines it could not source put in Backorder hold.

    DOM answers with its plan (``plan``, see ``_plan``); a plain ``warehouse.<line id>`` per
    sourced line is understood too (stand-in providers)."""
    asked = _asked_lines(pending, state)
    effects: list[_Effect] = []
    plan = _plan(c)
    if plan is not None:
        effects += _fulfillment_orders(c.envelope.order_id, plan, state)
        stamps, dated = _plan_assignments(plan)
    else:
        stamps = tuple(
            LineAssignment(line_id=key.removeprefix("warehouse."), warehouse=value)
            for key, value in sorted(c.data.items())
            if key.startswith("warehouse.")
        )
        dated = ()
    if stamps or dated:
        effects.append(
            _Effect(
                OrderAssigned, {"lines": (*stamps, *dated), "policy": f"{pending.provider}:{pending.step}"}
            )
        )
    sourced = {a.line_id for a in stamps if a.warehouse}
    return effects + _held_lines(c, pending, asked, sourced)


def _asked_lines(pending: PendingAction, state: OrderState) -> list[LineState]:
    """The lines DOM was asked to source: the open ones (or, for the backorder job, the
    parked ones), only those the step names when it names any."""
    backorder_scope = pending.params.get("scope") == "backorders"
    named = set(pending.params["line_ids"].split(",")) if pending.params.get("line_ids") else None
    return [
        line
        for line in state.lines
        if (line.parked if backorder_scope else not line.parked)
        and state.line_status(line) != CANCELED
        and (named is None or line.line_id in named)
    ]


def _fulfillment_orders(order_id: str, plan: FulfillmentPlan, state: OrderState) -> list[_Effect]:
    """One ``FulfillmentOrderCreated`` per source of the plan, numbered after the order's
    earlier ones; a plan that sources a line the order does not have is refused."""
    known = {line.line_id for line in state.lines}
    strangers = sorted({a.line_id for a in plan.allocations} - known)
    if strangers:
        raise DomainError(order_id, f"DOM's plan sources unknown lines {strangers}")
    effects: list[_Effect] = []
    done = len(state.fulfillment_orders)
    for n, fo in enumerate(plan.fulfillment_orders(), start=done + 1):
        lines = tuple(
            FulfillmentOrderLine(
                line_id=a.line_id, sku=a.sku, quantity=a.quantity, reservation_id=a.reservation_id
            )
            for a in fo.allocations
        )
        payload = {
            "fulfillment_order_id": f"{order_id}-FO{n}",
            "source": fo.source,
            "warehouse": fo.warehouse,
            "site": fo.site,
            "strategy": plan.strategy,
            "lines": lines,
        }
        effects.append(_Effect(FulfillmentOrderCreated, payload))
    return effects


def _plan_assignments(plan: FulfillmentPlan) -> tuple[tuple[LineAssignment, ...], tuple[LineAssignment, ...]]:
    """The shipping warehouse (and ATP dates) of each sourced line, and the ATP dates alone
    of each line the plan promised but did not source."""
    chosen = [a for line_id in plan.sourced_lines() if (a := plan.shipping_warehouse(line_id))]
    promised = {p.line_id: p for p in plan.promises}
    stamps = tuple(
        LineAssignment(
            line_id=a.line_id, site=a.site, warehouse=a.warehouse, **_dates(promised.get(a.line_id))
        )
        for a in chosen
    )
    waiting = [p for p in plan.promises if p.line_id not in {a.line_id for a in chosen}]
    dated = tuple(LineAssignment(line_id=p.line_id, **_dates(p)) for p in waiting)
    return stamps, dated


def _held_lines(
    c: RecordActionResult, pending: PendingAction, asked: list[LineState], sourced: set[str]
) -> list[_Effect]:
    """Parked lines DOM sourced are released; with backorders on, asked lines it could not
    source go to Backorder hold."""
    effects: list[_Effect] = []
    released = tuple(line.line_id for line in asked if line.line_id in sourced and line.parked)
    if released:
        effects.append(_Effect(OrderLinesReleased, {}, line_ids=released))
    settings = BackorderSettings.from_params(pending.params)
    # a preorder whose launch came and that no source can ship waits in Backorder hold
    missing = tuple(
        line.line_id
        for line in asked
        if line.line_id not in sourced and (not line.parked or line.preorder_until is not None)
    )
    if settings.enabled and missing:
        cancel_at = c.envelope.issued_at + settings.cancellation_sla if settings.cancellation_sla else None
        effects.append(_Effect(OrderLinesBackordered, {"cancel_at": cancel_at}, line_ids=missing))
    return effects


def _dates(promise: LinePromise | None) -> dict[str, Any]:
    """A line's ATP dates, as ``LineAssignment`` fields (none without a promise)."""
    if promise is None:
        return {}
    return {
        "inventory_availability_date": promise.inventory_availability_date,
        "estimated_ship_date": promise.estimated_ship_date,
    }


def _step_effect(state: OrderState, pending: PendingAction, result: StepResult, details: str) -> _Effect:
    flow, version = _flow_of_state(state)
    of_return = state.return_(return_of_step(pending.step) or "")
    if of_return is not None and of_return.flow is not None and of_return.flow_version is not None:
        flow, version = of_return.flow, of_return.flow_version
    payload = {
        "flow": flow,
        "flow_version": version,
        "step": pending.step,
        "attempt": pending.attempt,
        "result": result.value,
        "details": details,
    }
    return _Effect(FlowStepRecorded, payload)


def _chain(c: Command, state: OrderState, table: TransitionTable, effects: Iterable[_Effect]) -> list[Event]:
    """The events of ``effects`` in order, each decided on the state the previous ones left
    (the last one's events are not folded here: nothing reads that state, and the caller
    folds them anyway)."""
    events: list[Event] = []
    current = state
    effects = list(effects)
    for n, effect in enumerate(effects, 1):
        if effect.line_ids is not None:
            assert issubclass(effect.cls, LineEvent)
            new = _line_event(effect.cls, c, current, table, effect.line_ids, len(events), **effect.payload)
        else:
            new = _events(effect.cls, c, current, table, len(events), effect.reason, **effect.payload)
        events.extend(new)
        if n < len(effects):
            for event in new:
                current = evolve(current, event)
    return events


def _action_result(c: RecordActionResult, state: OrderState | None, table: TransitionTable) -> list[Event]:
    """Any attempt's answer settles the step while it is open (every attempt of one step's
    action shares its id); an answer to a settled step is ignored; a failure of an attempt
    older than the current one is ignored too (the current one still runs)."""
    state = _existing(c, state)
    pending = state.pending(c.action_id)
    if pending is None:
        if c.action_id in state.settled_actions:
            return []  # a late answer to a step that has ended: it changes nothing
        raise DomainError(c.envelope.order_id, f"no action '{c.action_id}' was ever requested for it")
    _flow_of(c, state)
    if c.success:
        effects = [
            *_succeeded(c, pending, state),
            _step_effect(state, pending, StepResult.SUCCEEDED, c.details),
        ]
        return _chain(c, state, table, effects)
    if c.attempt is not None and c.attempt < pending.attempt:
        return []
    return _chain(c, state, table, _failed(c, pending, state))


def _failed(c: RecordActionResult, pending: PendingAction, state: OrderState) -> list[_Effect]:
    """A failed attempt: retried with backoff under the same action id while attempts are
    left (never on a terminal order, which only notifies), else the step fails; a critical
    step that fails holds the order first, so no '<step> failed' branch runs on it."""
    terminal = state.status in TERMINAL and not runs_on_terminal(state, pending.step, pending.action)
    if pending.attempt < pending.max_attempts and not terminal:
        timeout = pending.deadline - pending.not_before
        not_before = c.envelope.issued_at + retry_backoff(pending.attempt)
        retry = {
            **pending.model_dump(exclude={"held"}),
            "attempt": pending.attempt + 1,
            "not_before": not_before,
            "deadline": not_before + timeout,
        }
        return [
            _step_effect(state, pending, StepResult.RETRYING, c.details),
            _Effect(ProviderActionRequested, retry),
        ]
    effects: list[_Effect] = []
    if pending.critical and not terminal:
        reason = (
            f"step '{pending.step}' failed after {pending.attempt} attempts "
            f"({pending.provider} {pending.action}): {c.details}"
        )
        effects.append(_Effect(OrderHeld, {"reason": reason}, reason=reason))
    effects.append(_step_effect(state, pending, StepResult.FAILED, c.details))
    return effects


def _holds_the_order(state: OrderState, provider: str) -> bool:
    """Whether ``provider`` has the order: it came from there, was sent there, or a step is
    sending it there right now (its answer not in yet)."""
    return (
        provider in (state.channel, state.fulfillment_provider, state.billing_provider)
        or state.external_ref(provider) is not None
        or any(p.provider == provider for p in state.pending_actions)
    )


def _settling(provider: str, state: OrderState, cause: str) -> list[_Effect]:
    """A provider reporting progress (picked, shipped, invoiced) has the order: its open sync
    steps succeeded, whatever became of their answers. Their success events come first, so
    the history reads as the journey does."""
    effects: list[_Effect] = []
    for pending in state.pending_actions:
        if pending.provider != provider or pending.action not in SYNC_ACTIONS:
            continue
        sent = OrderSentToFulfillment if pending.action == "send_to_fulfillment" else OrderSentToBilling
        effects.append(_Effect(sent, {"provider": provider, "provider_order_id": None}))
        effects.append(
            _step_effect(state, pending, StepResult.SUCCEEDED, f"settled by '{cause}' from {provider}")
        )
    return effects


def _provider_status(cls: type[Event]) -> Callable[[Any, OrderState | None, TransitionTable], list[Event]]:
    """A decider for a provider's status report (picked, shipped, invoiced)."""

    def decide_status(
        c: RecordPicked | RecordShipped | RecordInvoiced, state: OrderState | None, table: TransitionTable
    ) -> list[Event]:
        state = _existing(c, state)
        if not _holds_the_order(state, c.provider):
            raise DomainError(
                c.envelope.order_id, f"{c.provider} reports '{cls.business_event}' for an order it never got"
            )
        return _chain(
            c, state, table, [*_settling(c.provider, state, cls.business_event), _Effect(cls, _payload(c))]
        )

    return decide_status


def _cancel(c: CancelOrder, state: OrderState | None, table: TransitionTable) -> list[Event]:
    state = _existing(c, state)
    cancellation.check(state)
    return _events(OrderCanceled, c, state, table, event_reason=c.reason, **_payload(c))


def _cancel_lines(c: CancelOrderLines, state: OrderState | None, table: TransitionTable) -> list[Event]:
    state = _existing(c, state)
    cancellation.check(state, c.line_ids)
    return _line_event(
        OrderLinesCanceled,
        c,
        state,
        table,
        c.line_ids,
        event_reason=c.reason,
        reason=c.reason,
        requested_by=c.requested_by,
    )


def _edit(c: EditOrder, state: OrderState | None, table: TransitionTable) -> list[Event]:
    state = _existing(c, state)
    edits.check(state, c)
    after = edits.status_after(state, c) or (state.status, state.status_reason)
    return [_make(OrderEdited, c, state, 0, after, **_payload(c))]


def _request_return(
    c: RequestReturn, state: OrderState | None, table: TransitionTable, handling: OrderHandling
) -> list[Event]:
    state = _existing(c, state)
    returns.check(state, c, handling)
    return _events(ReturnRequested, c, state, table, **_payload(c))


def _start_return_flow(c: StartReturnFlow, state: OrderState | None, table: TransitionTable) -> list[Event]:
    state = _existing(c, state)
    found = returns.open_return(state, c.rma_id, ReturnStatus.REQUESTED)
    if found.flow is not None:
        return []  # pinned already
    return _events(ReturnFlowStarted, c, state, table, **_payload(c))


def _return_received(
    c: RecordReturnReceived, state: OrderState | None, table: TransitionTable
) -> list[Event]:
    state = _existing(c, state)
    returns.open_return(state, c.rma_id, ReturnStatus.REQUESTED)
    return _events(ReturnReceived, c, state, table, **_payload(c))


def _replacement(c: RecordReplacement, state: OrderState | None, table: TransitionTable) -> list[Event]:
    state = _existing(c, state)
    found = state.return_(c.rma_id)
    if found is None or found.replacement_order_id is not None:
        raise DomainError(c.envelope.order_id, f"return {c.rma_id} has no replacement to order")
    return _events(ReplacementOrdered, c, state, table, **_payload(c))


def _confirm(c: ConfirmOrder, state: OrderState | None, table: TransitionTable) -> list[Event]:
    """A confirmation of an order that awaits none (confirmed before, or never needed one)
    changes nothing."""
    state = _existing(c, state)
    if not state.awaiting_confirmation:
        return []
    return _events(OrderConfirmed, c, state, table, confirmed_by=c.confirmed_by)


def _hold_preorders(c: HoldPreorderLines, state: OrderState | None, table: TransitionTable) -> list[Event]:
    state = _existing(c, state)
    ids = [x.line_id for x in c.launches]
    return _line_event(OrderLinesPreordered, c, state, table, ids, event_reason=None, launches=c.launches)


def _check_backorders(c: CheckBackorders, state: OrderState | None, table: TransitionTable) -> list[Event]:
    """Nothing to do for an order with no held line, whose held lines DOM is already on,
    or that an operator stopped."""
    state = _existing(c, state)
    held = tuple(
        line.line_id
        for line in state.parked_lines
        if state.line_status(line) != CANCELED and launched(line, c.as_of or c.envelope.issued_at)
    )
    if not held or any(p.params.get("scope") == "backorders" for p in state.pending_actions):
        return []
    open_lines = [line for line in state.lines if state.line_status(line) != CANCELED]
    if state.status in (ON_HOLD, CANCELED) and not all(line.parked for line in open_lines):
        return []  # held or canceled for another reason (an operator's): that comes first
    return _events(BackorderCheckStarted, c, state, table, line_ids=held, job_run=c.job_run)


def _reprocess(c: ReprocessOrder, state: OrderState | None, table: TransitionTable) -> list[Event]:
    state = _existing(c, state)
    if state.failed_step is None:
        raise DomainError(c.envelope.order_id, "has no failed step to reprocess from")
    return _events(OrderReprocessed, c, state, table, step=state.failed_step, reason=c.reason)


def _hold_action(c: HoldProviderAction, state: OrderState | None, table: TransitionTable) -> list[Event]:
    state = _existing(c, state)
    pending = state.pending(c.action_id)
    if pending is None or pending.held is not None:
        return []  # answered already (a stand-in is quick), or held by another pause
    payload: dict[str, Any] = {
        "action_id": c.action_id,
        "step": pending.step,
        "provider": pending.provider,
        "target": c.target,
    }
    return _events(ProviderActionHeld, c, state, table, **payload)


def _release_action(
    c: ReleaseProviderAction, state: OrderState | None, table: TransitionTable
) -> list[Event]:
    """The held request goes out now: its timeout counts from its release, not its request."""
    state = _existing(c, state)
    pending = state.pending(c.action_id)
    if pending is None or pending.held is None:
        return []
    not_before = c.envelope.issued_at
    payload: dict[str, Any] = {
        "action_id": c.action_id,
        "step": pending.step,
        "provider": pending.provider,
        "not_before": not_before,
        "deadline": not_before + (pending.deadline - pending.not_before),
    }
    return _events(ProviderActionReleased, c, state, table, **payload)


_DECIDERS: dict[type[Command], Callable[[Any, OrderState | None, TransitionTable], list[Event]]] = {
    CreateOrder: _create,
    RecordValidation: _validation,
    AssignOrderData: _assign,
    RecordSentToFulfillment: _recorder(OrderSentToFulfillment),
    RecordSentToBilling: _recorder(OrderSentToBilling),
    RecordPicked: _provider_status(FulfillmentPicked),
    RecordShipped: _provider_status(OrderShipped),
    RecordInvoiced: _provider_status(OrderInvoiced),
    CancelOrder: _cancel,
    HoldOrder: _recorder(OrderHeld),
    RecordChannelStatus: _recorder(ChannelStatusUpdated),
    StartFlow: _start_flow,
    RecordStepResult: _step_result,
    RequestProviderAction: _request_action,
    RecordActionResult: _action_result,
    ReprocessOrder: _reprocess,
    CancelOrderLines: _cancel_lines,
    CheckBackorders: _check_backorders,
    EditOrder: _edit,
    StartReturnFlow: _start_return_flow,
    RecordReturnReceived: _return_received,
    RecordReplacement: _replacement,
    HoldPreorderLines: _hold_preorders,
    ConfirmOrder: _confirm,
    HoldProviderAction: _hold_action,
    ReleaseProviderAction: _release_action,
}

_WITH_SETTINGS: dict[
    type[Command], Callable[[Any, OrderState | None, TransitionTable, OrderHandling], list[Event]]
] = {RequestReturn: _request_return}
"""Deciders that read the order-handling settings (the return window)."""


def decide(
    command: Command,
    state: OrderState | None,
    table: TransitionTable = DEFAULT_TRANSITIONS,
    handling: OrderHandling = DEFAULT_HANDLING,
) -> list[Event]:
    """The events ``command`` causes on ``state``; raises ``DomainError`` if refused. A command
    the order has already decided (redelivered, or sent by a second connector instance)
    causes nothing."""
    if state is not None and state.has_decided(command.envelope.command_id):
        return []
    with_settings = _WITH_SETTINGS.get(type(command))
    if with_settings is not None:
        return with_settings(command, state, table, handling)
    return _DECIDERS[type(command)](command, state, table)
