"""The status model as data: (business event, source status) -> (target status, reason).

Like the product's "state framework": an event with rows for it moves the order only from
one of the listed source statuses, and is refused from any other; an event with no rows
passes and leaves the status as it is. Reasons are configuration (the brief spells the
final one "Done", the product "Fulfilled"), so a deployment can load its own table.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from streams.domain.errors import IllegalTransition
from streams.domain.values import OrderStatus

NEW = OrderStatus.NEW
IN_PROGRESS = OrderStatus.IN_PROGRESS
ON_HOLD = OrderStatus.ON_HOLD
FULFILLMENT_IN_PROGRESS = OrderStatus.FULFILLMENT_IN_PROGRESS
COMPLETED = OrderStatus.COMPLETED
CANCELED = OrderStatus.CANCELED

STATUSES = tuple(OrderStatus)

BACKORDER_HOLD = "Backorder hold"
"""The reason of a line waiting for inventory (IOM's "Sales Order Line Backorder Hold")."""

PREORDER_HOLD = "Preorder hold"
"""The reason of a line of a product not launched yet (IOM's "Preorder Hold")."""

FROM_EVENT = "*"
"""A target reason of ``*`` takes the reason the event carries (e.g. why an order is held)."""

KEEP: Literal["="] = "="
"""A target status of ``=`` keeps the status and reason: the event is allowed and recorded,
but does not move the order (a provider confirming an order that has moved on already)."""

TERMINAL = frozenset({COMPLETED, CANCELED})
"""An order here has no open step and no live timer; only notifications run on it."""


class Transition(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event: str
    source: OrderStatus | None  # None: the order does not exist yet
    target: OrderStatus | Literal["="]
    reason: str


class TransitionTable(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    transitions: tuple[Transition, ...]

    @model_validator(mode="after")
    def _unique(self) -> TransitionTable:
        seen: set[tuple[str, OrderStatus | None]] = set()
        for row in self.transitions:
            key = (row.event, row.source)
            if key in seen:
                raise ValueError(f"two rows for event '{row.event}' from status '{row.source}'")
            seen.add(key)
        return self

    @cached_property
    def _index(self) -> dict[str, dict[OrderStatus | None, Transition]]:
        """Rows by event and source status. A cached property, not a private attribute:
        the writer looks it up twice per event, and pydantic's private-attribute lookup
        costs more than the rest of ``apply``."""
        index: dict[str, dict[OrderStatus | None, Transition]] = {}
        for row in self.transitions:
            index.setdefault(row.event, {})[row.source] = row
        return index

    def apply(
        self,
        order_id: str,
        business_event: str,
        status: OrderStatus | None,
        reason: str | None,
        event_reason: str | None = None,
    ) -> tuple[OrderStatus, str]:
        """The (status, reason) after ``business_event``; raises if the table forbids it."""
        rows = self._index.get(business_event)
        if rows is None:
            if status is None or reason is None:
                raise IllegalTransition(order_id, business_event, status)
            return status, reason
        row = rows.get(status)
        if row is None:
            raise IllegalTransition(order_id, business_event, status)
        if row.target == KEEP:
            if status is None or reason is None:  # "keep" needs something to keep
                raise IllegalTransition(order_id, business_event, status)
            return status, reason
        if row.reason == FROM_EVENT:
            return row.target, event_reason or business_event
        return row.target, row.reason

    def has_rows(self, business_event: str) -> bool:
        """Whether the table governs ``business_event`` at all (else it never moves a status)."""
        return business_event in self._index

    def allows(self, business_event: str, status: OrderStatus | None) -> bool:
        """Whether ``business_event`` may happen to something in ``status``."""
        return status in self._index.get(business_event, {})

    def with_rows(self, rows: Iterable[Transition]) -> TransitionTable:
        """This table with ``rows`` added or replacing the rows for the same (event, source)."""
        replaced = {(r.event, r.source): r for r in self.transitions}
        replaced.update({(r.event, r.source): r for r in rows})
        return TransitionTable(transitions=tuple(replaced.values()))


def _rows(
    event: str, sources: Iterable[OrderStatus | None], target: OrderStatus | Literal["="], reason: str
) -> list[Transition]:
    return [Transition(event=event, source=s, target=target, reason=reason) for s in sources]


_ANY_OPEN: list[OrderStatus | None] = [NEW, IN_PROGRESS, ON_HOLD, FULFILLMENT_IN_PROGRESS]

_FIP = FULFILLMENT_IN_PROGRESS

# fmt: off
_DEFAULT_ROWS: list[tuple[str, list[OrderStatus | None], OrderStatus | Literal["="], str]] = [
    # business event               source statuses               target        reason
    ("New order",                  [None],                       NEW,          "Created"),
    ("Order confirmed",            [NEW],                        NEW,          "Confirmed"),
    ("Order validation succeeded", [NEW, IN_PROGRESS, ON_HOLD],  IN_PROGRESS,  "Validation succeeded"),
    ("Order validation failed",    [NEW, IN_PROGRESS, ON_HOLD],  ON_HOLD,      "Validation failed"),
    ("Order sent to fulfillment",  [IN_PROGRESS],                IN_PROGRESS,  "Sent to fulfillment"),
    # a provider's late confirmation of an order that has moved on (held, or already
    # reported picked by another provider) is recorded without moving it
    ("Order sent to fulfillment",  [ON_HOLD, _FIP],              KEEP,         KEEP),
    ("Order picked",               [IN_PROGRESS, _FIP],          _FIP,         "Picked"),
    ("Order shipped",              [IN_PROGRESS, _FIP],          _FIP,         "Packed"),
    ("Order invoiced",             [_FIP],                       COMPLETED,    "Fulfilled"),
    ("Order canceled",             [NEW, IN_PROGRESS, ON_HOLD],  CANCELED,     FROM_EVENT),
    ("Order put on hold",          _ANY_OPEN,                    ON_HOLD,      FROM_EVENT),
    ("Order reprocessed",          [ON_HOLD],                    IN_PROGRESS,  "Reprocessed"),
    # line-level events (journey 6): each row moves one line; the header follows its lines
    ("Order lines backordered",    [NEW, IN_PROGRESS, ON_HOLD],  ON_HOLD,      BACKORDER_HOLD),
    ("Order lines preordered",     [NEW, IN_PROGRESS],           ON_HOLD,      PREORDER_HOLD),
    ("Backorder released",         [ON_HOLD],                    IN_PROGRESS,  "Backorder released"),
    ("Order lines canceled",       [NEW, IN_PROGRESS, ON_HOLD],  CANCELED,     FROM_EVENT),
]
# fmt: on

DEFAULT_TRANSITIONS = TransitionTable(
    transitions=tuple(
        row
        for event, sources, target, reason in _DEFAULT_ROWS
        for row in _rows(event, sources, target, reason)
    )
)
"""Seeded from the brief's scenarios and the product's documented statuses and reasons."""
