"""The query port of the HTTP API: what it asks of a read model, and the shapes it gets back.

The API is an adapter and may not import services, so it states here what it needs; the
projection service (``streams.services.projection``) provides it, and the ``oms api``
entrypoint wires the two. Tests may hand the app any other implementation.
Nothing here imports aiohttp: the service depends on these plain types only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from streams.domain.events import Event
from streams.domain.order import OrderState


@dataclass(frozen=True)
class RecordedEvent:
    """One event of an order's history, with the (logical) topic it was read from."""

    topic: str
    event: Event


@dataclass(frozen=True)
class OrderQuery:
    """Filters of ``GET /orders``; every given filter must match. ``after`` pages by order id."""

    status: str | None = None
    reason: str | None = None
    provider: str | None = None
    external_ref: str | None = None
    """``system:ref`` (``bigcommerce:118``) or a bare ``ref`` in any system (``118``)."""
    limit: int = 50
    after: str | None = None


@dataclass(frozen=True)
class OrderPage:
    orders: Sequence[OrderState]
    next_after: str | None
    """The last order id of this page when more may follow, else None."""


@dataclass(frozen=True)
class Change:
    """An event the read model has just folded: what live views are told."""

    order_id: str
    seq: int
    type: str
    topic: str
    status: str
    status_reason: str
    occurred_at: datetime


@dataclass(frozen=True)
class StatusCount:
    status: str
    reason: str
    orders: int


@dataclass(frozen=True)
class HeldOrder:
    """An order in the hold status, and why."""

    order_id: str
    reason: str
    since: datetime
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProviderActivity:
    """What the events tell about one provider (every event that names a ``provider``)."""

    provider: str
    events: int
    last_event_at: datetime | None
    events_last_minute: int


@dataclass(frozen=True)
class Stats:
    orders: int
    events: int
    duplicates: int
    undecodable: int
    by_status: Sequence[StatusCount]
    events_per_second: float
    """Events folded per second, averaged over the last minute."""
    throughput: Sequence[int]
    """Events folded in each of the last 60 seconds, oldest first."""
    on_hold: int
    on_hold_by_reason: Mapping[str, int]
    held_orders: Sequence[HeldOrder]
    """The first held orders by order id (at most ``Stats`` shows; page ``/orders`` for all)."""
    waiting: Mapping[str, Sequence[int]]
    """Events read before their predecessors: order id -> the seqs waiting for a gap."""
    providers: Sequence[ProviderActivity]
    caught_up: bool
    """Every partition of every event topic has been read to its end at least once."""


Listener = Callable[[Sequence[Change]], None]


class ReadModel(Protocol):
    """Reads answer from committed projection state; they never block on the consumer.

    ``subscribe`` listeners may be called from another thread (the projection's), after
    the changes are durable and readable.
    """

    def order(self, order_id: str) -> OrderState | None: ...

    def history(self, order_id: str) -> Sequence[RecordedEvent]: ...

    def order_as_of(self, order_id: str, as_of: datetime) -> OrderState | None: ...

    def orders(self, query: OrderQuery) -> OrderPage: ...

    def stats(self) -> Stats: ...

    def subscribe(self, listener: Listener) -> Callable[[], None]: ...
