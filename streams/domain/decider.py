"""Deciders: ``decide(command, state) -> events``, pure and deterministic.

Event ids derive from the command id and the event's index, ``seq`` continues the
order's version, and ``occurred_at`` is the command's ``issued_at``: deciding the same
command on the same state twice yields byte-identical events.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from streams.domain.commands import (
    AssignOrderData,
    CancelOrder,
    Command,
    CreateOrder,
    HoldOrder,
    RecordActionResult,
    RecordChannelStatus,
    RecordInvoiced,
    RecordPicked,
    RecordSentToFulfillment,
    RecordShipped,
    RecordStepResult,
    RecordValidation,
    ReprocessOrder,
    RequestProviderAction,
    StartFlow,
)
from streams.domain.errors import DomainError, UnknownOrder
from streams.domain.events import (
    ChannelStatusUpdated,
    Envelope,
    Event,
    FlowStarted,
    FlowStepRecorded,
    FulfillmentPicked,
    OrderAssigned,
    OrderCanceled,
    OrderCreated,
    OrderHeld,
    OrderInvoiced,
    OrderReprocessed,
    OrderSentToBilling,
    OrderSentToFulfillment,
    OrderShipped,
    OrderValidated,
    OrderValidationFailed,
    ProviderActionRequested,
)
from streams.domain.ids import event_id
from streams.domain.order import OrderState, PendingAction, evolve
from streams.domain.transitions import DEFAULT_TRANSITIONS, TransitionTable
from streams.domain.values import LineAssignment


def _event(
    cls: type[Event],
    command: Command,
    state: OrderState | None,
    table: TransitionTable,
    index: int = 0,
    event_reason: str | None = None,
    **payload: Any,
) -> Event:
    """The ``index``-th event ``command`` causes, ``state`` being the order just before it."""
    cmd = command.envelope
    status, reason = table.apply(
        cmd.order_id,
        cls.business_event,
        state.status if state else None,
        state.status_reason if state else None,
        event_reason,
    )
    envelope = Envelope(
        event_id=event_id(cmd.command_id, index),
        order_id=cmd.order_id,
        seq=(state.version if state else 0) + 1,
        occurred_at=cmd.issued_at,
        correlation_id=cmd.correlation_id,
        causation_id=cmd.command_id,
        source=cmd.source,
        status=status,
        status_reason=reason,
    )
    return cls(envelope=envelope, **payload)


def _payload(command: Command) -> dict[str, Any]:
    return {name: getattr(command, name) for name in type(command).model_fields if name != "envelope"}


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
    return [_event(OrderCreated, c, None, table, **_payload(c))]


def _validation(c: RecordValidation, state: OrderState | None, table: TransitionTable) -> list[Event]:
    state = _existing(c, state)
    if c.passed:
        return [_event(OrderValidated, c, state, table, policy=c.policy)]
    return [_event(OrderValidationFailed, c, state, table, policy=c.policy, reasons=c.reasons)]


def _assign(c: AssignOrderData, state: OrderState | None, table: TransitionTable) -> list[Event]:
    state = _existing(c, state)
    known = {line.line_id for line in state.lines}
    unknown = sorted(a.line_id for a in c.lines if a.line_id not in known)
    if unknown:
        raise DomainError(c.envelope.order_id, f"cannot assign unknown lines {unknown}")
    return [_event(OrderAssigned, c, state, table, **_payload(c))]


def _existing(c: Command, state: OrderState | None) -> OrderState:
    if state is None:
        raise UnknownOrder(c.envelope.order_id, f"'{type(c).__name__}' refused")
    return state


def _recorder(cls: type[Event]) -> Callable[[Any, OrderState | None, TransitionTable], list[Event]]:
    """A decider for a command that records one event with the command's own payload."""

    def decide_one(c: Command, state: OrderState | None, table: TransitionTable) -> list[Event]:
        payload = _payload(c)
        return [_event(cls, c, _existing(c, state), table, event_reason=payload.get("reason"), **payload)]

    return decide_one


def _start_flow(c: StartFlow, state: OrderState | None, table: TransitionTable) -> list[Event]:
    state = _existing(c, state)
    if state.flow is not None:
        if (state.flow, state.flow_version) == (c.flow, c.flow_version):
            return []
        raise DomainError(c.envelope.order_id, f"already runs in flow {state.flow} v{state.flow_version}")
    return [_event(FlowStarted, c, state, table, flow=c.flow, flow_version=c.flow_version)]


def _flow_of(c: Command, state: OrderState) -> tuple[str, int]:
    if state.flow is None or state.flow_version is None:
        raise DomainError(c.envelope.order_id, "is in no flow")
    return state.flow, state.flow_version


def _step_result(c: RecordStepResult, state: OrderState | None, table: TransitionTable) -> list[Event]:
    state = _existing(c, state)
    return [_event(FlowStepRecorded, c, state, table, **_payload(c))]


def _request_action(
    c: RequestProviderAction, state: OrderState | None, table: TransitionTable
) -> list[Event]:
    state = _existing(c, state)
    _flow_of(c, state)
    return [_event(ProviderActionRequested, c, state, table, action_id=c.envelope.command_id, **_payload(c))]


RETRY_BACKOFF_CAP = timedelta(seconds=30)


def retry_backoff(attempt: int) -> timedelta:
    """Exponential: 1 s after the first failed attempt, then 2, 4... up to 30 s."""
    return min(timedelta(seconds=2 ** (attempt - 1)), RETRY_BACKOFF_CAP)


def _succeeded(c: RecordActionResult, pending: PendingAction) -> tuple[type[Event], dict[str, Any]] | None:
    """The business event a provider action's success means, if any."""
    ref = c.data.get("provider_order_id")
    if pending.action == "send_to_fulfillment":
        return OrderSentToFulfillment, {"provider": pending.provider, "provider_order_id": ref}
    if pending.action == "send_to_billing":
        return OrderSentToBilling, {"provider": pending.provider, "provider_order_id": ref}
    if pending.action == "send_to_fulfillment_optimization":
        # DOM answers with the source it chose per line: {"warehouse.<line id>": "<warehouse>"}.
        chosen = tuple(
            LineAssignment(line_id=key.removeprefix("warehouse."), warehouse=value)
            for key, value in sorted(c.data.items())
            if key.startswith("warehouse.")
        )
        return OrderAssigned, {"lines": chosen, "policy": f"{pending.provider}:{pending.step}"}
    if pending.action == "update_channel_status":
        status = c.data.get("channel_status") or pending.params.get("status_id", "")
        return ChannelStatusUpdated, {"channel": pending.provider, "channel_status": status}
    return None


def _action_result(c: RecordActionResult, state: OrderState | None, table: TransitionTable) -> list[Event]:
    state = _existing(c, state)
    pending = state.pending(c.action_id)
    if pending is None:
        return []  # a late answer to an attempt that already ended (timed out, retried)
    flow, version = _flow_of(c, state)
    step = {"flow": flow, "flow_version": version, "step": pending.step, "attempt": pending.attempt}
    events: list[Event] = []

    def add(cls: type[Event], payload: dict[str, Any], hold_reason: str | None = None) -> None:
        current = state
        for e in events:
            current = evolve(current, e)
        events.append(_event(cls, c, current, table, index=len(events), event_reason=hold_reason, **payload))

    if c.success:
        meaning = _succeeded(c, pending)
        if meaning is not None:
            add(*meaning)
        add(FlowStepRecorded, {"result": "succeeded", "details": c.details, **step})
        return events
    if pending.attempt < pending.max_attempts:
        timeout = pending.deadline - pending.not_before
        not_before = c.envelope.issued_at + retry_backoff(pending.attempt)
        add(FlowStepRecorded, {"result": "retrying", "details": c.details, **step})
        retry = {
            **pending.model_dump(),
            "action_id": f"{c.envelope.command_id}/retry",
            "attempt": pending.attempt + 1,
            "not_before": not_before,
            "deadline": not_before + timeout,
        }
        add(ProviderActionRequested, retry)
        return events
    if pending.critical:  # the flow stops first: no '<step> failed' branch runs on a held order
        reason = (
            f"step '{pending.step}' failed after {pending.attempt} attempts "
            f"({pending.provider} {pending.action}): {c.details}"
        )
        add(OrderHeld, {"reason": reason}, hold_reason=reason)
    add(FlowStepRecorded, {"result": "failed", "details": c.details, **step})
    return events


def _reprocess(c: ReprocessOrder, state: OrderState | None, table: TransitionTable) -> list[Event]:
    state = _existing(c, state)
    if state.failed_step is None:
        raise DomainError(c.envelope.order_id, "has no failed step to reprocess from")
    return [_event(OrderReprocessed, c, state, table, step=state.failed_step, reason=c.reason)]


_DECIDERS: dict[type[Command], Callable[[Any, OrderState | None, TransitionTable], list[Event]]] = {
    CreateOrder: _create,
    RecordValidation: _validation,
    AssignOrderData: _assign,
    RecordSentToFulfillment: _recorder(OrderSentToFulfillment),
    RecordPicked: _recorder(FulfillmentPicked),
    RecordShipped: _recorder(OrderShipped),
    RecordInvoiced: _recorder(OrderInvoiced),
    CancelOrder: _recorder(OrderCanceled),
    HoldOrder: _recorder(OrderHeld),
    RecordChannelStatus: _recorder(ChannelStatusUpdated),
    StartFlow: _start_flow,
    RecordStepResult: _step_result,
    RequestProviderAction: _request_action,
    RecordActionResult: _action_result,
    ReprocessOrder: _reprocess,
}


def decide(
    command: Command, state: OrderState | None, table: TransitionTable = DEFAULT_TRANSITIONS
) -> list[Event]:
    """The events ``command`` causes on ``state``; raises ``DomainError`` if refused."""
    return _DECIDERS[type(command)](command, state, table)
