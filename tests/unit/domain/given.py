"""given(*history).when(command).then(*expected): decider tests that read like the business.

    given(create_order("o-1")).when(cmd(RecordValidation, "o-1", policy="p", passed=True)).then(
        expect(OrderValidated, seq=2, status=IN_PROGRESS, status_reason="Validation succeeded",
               policy="p"),
    )

``given`` takes past events, or commands that are decided in turn to produce them (the
state is always the fold of events, never built by hand). ``then`` compares the decided
events by (type, payload without the envelope, status, status reason, seq).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pprint import pformat
from typing import Any, TypeVar

import pytest

from streams.domain.commands import Command, CommandEnvelope, CreateOrder
from streams.domain.decider import decide
from streams.domain.errors import DomainError
from streams.domain.events import Envelope, Event
from streams.domain.order import OrderState, evolve
from streams.domain.transitions import DEFAULT_TRANSITIONS, TransitionTable
from streams.domain.values import Address, OrderLine

ISSUED_AT = datetime(2024, 5, 6, 9, 30, tzinfo=UTC)
"""Every built command is issued at this instant: events are reproducible."""

C = TypeVar("C", bound=Command)
E = TypeVar("E", bound=DomainError)

Shape = tuple[type[Event], dict[str, Any], str, str, int]
"""What ``then`` compares: (type, payload without envelope, status, status_reason, seq)."""


# --- builders ------------------------------------------------------------------------------


def fresh_command_id() -> str:
    return f"cmd-{uuid.uuid4()}"


def envelope(order_id: str, command_id: str | None = None) -> CommandEnvelope:
    command_id = command_id or fresh_command_id()
    return CommandEnvelope(
        command_id=command_id,
        order_id=order_id,
        issued_at=ISSUED_AT,
        correlation_id=f"corr-{order_id}",
        source="tests",
    )


def cmd(kind: type[C], order_id: str, *, command_id: str | None = None, **payload: Any) -> C:
    """A ``kind`` command for ``order_id`` with a fresh command id (unless given)."""
    return kind(envelope=envelope(order_id, command_id), **payload)


def again(command: C) -> C:
    """The same request as a new command (a new id): not a redelivery of ``command``."""
    env = command.envelope.model_copy(update={"command_id": fresh_command_id()})
    return command.model_copy(update={"envelope": env})


def line(line_id: str, sku: str | None = None, quantity: int = 1, unit_price: str = "10.00") -> OrderLine:
    return OrderLine(
        line_id=line_id,
        sku=sku or f"SKU-{line_id}",
        quantity=quantity,
        unit_price=Decimal(unit_price),
    )


SHIP_TO = Address(
    name="Ada Lovelace", line1="1 Analytical Way", city="London", postal_code="N1", country="GB"
)


def create_order(
    order_id: str,
    lines: Sequence[OrderLine | str] = ("L1",),
    *,
    command_id: str | None = None,
    **overrides: Any,
) -> CreateOrder:
    """A BigCommerce order without a company code, as it arrives in scenario 1."""
    payload: dict[str, Any] = {
        "channel": "bigcommerce",
        "customer_id": "cust-1",
        "currency": "USD",
        "ship_to": SHIP_TO,
        "lines": tuple(x if isinstance(x, OrderLine) else line(x) for x in lines),
    }
    payload.update(overrides)
    return cmd(CreateOrder, order_id, command_id=command_id, **payload)


# --- expectations --------------------------------------------------------------------------


_PLACEHOLDER = Envelope(
    event_id="-",
    order_id="-",
    seq=0,
    occurred_at=ISSUED_AT,
    correlation_id="-",
    causation_id="-",
    source="-",
    status="New",
    status_reason="-",
)


@dataclass(frozen=True)
class Expected:
    shape: Shape


def expect(kind: type[Event], *, seq: int, status: str, status_reason: str, **payload: Any) -> Expected:
    """An event we expect. The payload goes through the event class, so defaults are filled
    in, values coerced, and a misspelt field fails loudly instead of never matching."""
    example = kind(envelope=_PLACEHOLDER, **payload)
    return Expected((kind, example.model_dump(exclude={"envelope"}), status, status_reason, seq))


def shape(event: Event) -> Shape:
    env = event.envelope
    return (
        type(event),
        event.model_dump(exclude={"envelope"}),
        env.status,
        env.status_reason,
        env.seq,
    )


# --- given / when / then -------------------------------------------------------------------


def apply_all(state: OrderState | None, events: Sequence[Event]) -> OrderState | None:
    for event in events:
        state = evolve(state, event)
    return state


class Given:
    def __init__(self, history: Sequence[Event | Command], table: TransitionTable) -> None:
        self.table = table
        self.events: list[Event] = []
        state: OrderState | None = None
        for fact in history:
            new = decide(fact, state, table) if isinstance(fact, Command) else [fact]
            self.events.extend(new)
            state = apply_all(state, new)
        self.state = state

    def when(self, command: Command) -> When:
        return When(self, command)


@dataclass(frozen=True)
class When:
    given: Given
    command: Command

    def decide(self) -> list[Event]:
        return decide(self.command, self.given.state, self.given.table)

    def then(self, *expected: Expected) -> list[Event]:
        """Asserts the command is accepted with exactly these events; returns them."""
        try:
            events = self.decide()
        except DomainError as e:
            pytest.fail(f"{type(self.command).__name__} was refused: {e}")
        got = [shape(e) for e in events]
        want = [x.shape for x in expected]
        assert got == want, f"decided events differ\n got: {pformat(got)}\nwant: {pformat(want)}"
        return events

    def then_nothing(self) -> None:
        """Accepted, and nothing happens (e.g. a redelivered command)."""
        self.then()

    def then_rejected(self, error: type[E], match: str | None = None) -> E:
        """Asserts the command is refused with ``error`` whose message matches ``match``."""
        with pytest.raises(error, match=match) as caught:
            self.decide()
        return caught.value


def given(*history: Event | Command, table: TransitionTable = DEFAULT_TRANSITIONS) -> Given:
    return Given(history, table)


def nothing() -> Given:
    """No order yet."""
    return Given((), DEFAULT_TRANSITIONS)
