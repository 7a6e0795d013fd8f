"""Deciders: ``decide(command, state) -> events``, pure and deterministic.

Event ids derive from the command id and the event's index, ``seq`` continues the
order's version, and ``occurred_at`` is the command's ``issued_at``: deciding the same
command on the same state twice yields byte-identical events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streams.domain.commands import (
    AssignOrderData,
    CancelOrder,
    Command,
    CreateOrder,
    HoldOrder,
    RecordChannelStatus,
    RecordInvoiced,
    RecordPicked,
    RecordSentToFulfillment,
    RecordShipped,
    RecordValidation,
)
from streams.domain.errors import DomainError, UnknownOrder
from streams.domain.events import (
    ChannelStatusUpdated,
    Envelope,
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
from streams.domain.ids import event_id
from streams.domain.order import OrderState
from streams.domain.transitions import DEFAULT_TRANSITIONS, TransitionTable


def _event(
    cls: type[Event],
    command: Command,
    state: OrderState | None,
    table: TransitionTable,
    index: int = 0,
    event_reason: str | None = None,
    **payload: Any,
) -> Event:
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
        seq=(state.version if state else 0) + index + 1,
        occurred_at=cmd.issued_at,
        correlation_id=cmd.correlation_id,
        causation_id=cmd.command_id,
        source=cmd.source,
        status=status,
        status_reason=reason,
    )
    return cls(envelope=envelope, **payload)


def _payload(command: Command) -> dict[str, Any]:
    return {
        name: getattr(command, name) for name in type(command).model_fields if name != "envelope"
    }


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


def _validation(
    c: RecordValidation, state: OrderState | None, table: TransitionTable
) -> list[Event]:
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
        return [
            _event(
                cls, c, _existing(c, state), table, event_reason=payload.get("reason"), **payload
            )
        ]

    return decide_one


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
}


def decide(
    command: Command, state: OrderState | None, table: TransitionTable = DEFAULT_TRANSITIONS
) -> list[Event]:
    """The events ``command`` causes on ``state``; raises ``DomainError`` if refused."""
    return _DECIDERS[type(command)](command, state, table)
