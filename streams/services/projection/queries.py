"""The projection's queries (the HTTP API's ``ReadModel``), from any thread.

They read the store, never the fold's cache: they only see committed batches.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel

from streams.adapters.http.read_model import (
    HeldOrder,
    OrderPage,
    OrderQuery,
    RecordedEvent,
    Stats,
    StatusCount,
)
from streams.domain.events import Event
from streams.domain.order import OrderState, evolve
from streams.services.projection.activity import Activity
from streams.services.projection.store import (
    ALL_ORDERS,
    INDEX_BARE_REF,
    INDEX_PROVIDER,
    INDEX_REASON,
    INDEX_REF,
    INDEX_STATUS,
    INDEX_STATUS_REASON,
    ProjectionStore,
    index_prefix,
)


class ProjectionQueries:
    """Orders, histories, listings and the read side's statistics, over ``store``."""

    def __init__(
        self,
        store: ProjectionStore,
        decode: Callable[[bytes], BaseModel],
        activity: Activity,
        topic_prefix: str,
        hold_status: str,
        held_shown: int,
    ) -> None:
        self.store = store
        self.activity = activity
        self._decode = decode
        self._topic_prefix = topic_prefix
        self._hold_status = hold_status
        self._held_shown = held_shown
        self.caught_up = False
        """Set by whoever feeds the projection (``ProjectionRunner``) once it read to the end."""

    def order(self, order_id: str) -> OrderState | None:
        return self.store.view(order_id)

    def history(self, order_id: str) -> list[RecordedEvent]:
        out = []
        for topic, value in self.store.events(order_id):
            event = self._decode(value)
            assert isinstance(event, Event)
            out.append(RecordedEvent(topic.removeprefix(self._topic_prefix), event))
        return out

    def order_as_of(self, order_id: str, as_of: datetime) -> OrderState | None:
        """The state folded from the order's events that happened at or before ``as_of``
        (the longest such prefix of its history: a state is always a prefix fold)."""
        state = None
        for recorded in self.history(order_id):
            if recorded.event.envelope.occurred_at > as_of:
                break
            state = evolve(state, recorded.event)
        return state

    def orders(self, query: OrderQuery, max_scan: int = 10_000) -> OrderPage:
        """Orders matching every filter, by order id. A page may hold fewer than ``limit``
        orders when ``max_scan`` candidates did not fill it; ``next_after`` then continues."""
        prefix = self._index_for(query)
        found: list[OrderState] = []
        last: str | None = None
        for scanned, order_id in enumerate(self.store.order_ids(prefix, query.after)):
            if len(found) == query.limit or scanned == max_scan:
                return OrderPage(found, last)
            last = order_id
            state = self.store.view(order_id)
            if state is not None and _matches(state, query):
                found.append(state)
        return OrderPage(found, None)

    @staticmethod
    def _index_for(query: OrderQuery) -> bytes:
        if query.external_ref is not None:
            if ":" in query.external_ref:
                return index_prefix(INDEX_REF, query.external_ref)
            return index_prefix(INDEX_BARE_REF, query.external_ref)
        if query.provider is not None:
            return index_prefix(INDEX_PROVIDER, query.provider)
        if query.status is not None and query.reason is not None:
            return index_prefix(INDEX_STATUS_REASON, f"{query.status}\0{query.reason}")
        if query.status is not None:
            return index_prefix(INDEX_STATUS, query.status)
        if query.reason is not None:
            return index_prefix(INDEX_REASON, query.reason)
        return ALL_ORDERS

    def stats(self) -> Stats:
        seen = self.activity.snapshot()
        on_hold_by_reason = {
            reason: n for (status, reason), n in seen.by_status.items() if status == self._hold_status
        }
        by_status = sorted(seen.by_status.items())
        return Stats(
            orders=sum(seen.by_status.values()),
            events=seen.events,
            duplicates=seen.duplicates,
            undecodable=seen.undecodable,
            by_status=[StatusCount(status, reason, n) for (status, reason), n in by_status],
            events_per_second=sum(seen.series) / len(seen.series),
            throughput=seen.series,
            on_hold=sum(on_hold_by_reason.values()),
            on_hold_by_reason=on_hold_by_reason,
            held_orders=self._held_orders(),
            waiting=seen.waiting,
            providers=seen.providers,
            caught_up=self.caught_up,
        )

    def _held_orders(self) -> list[HeldOrder]:
        """The first ``held_shown`` orders on hold, and why."""
        held: list[HeldOrder] = []
        for order_id in self.store.order_ids(index_prefix(INDEX_STATUS, self._hold_status)):
            if len(held) == self._held_shown:
                break
            state = self.store.view(order_id)
            if state is not None:
                held.append(
                    HeldOrder(
                        order_id=order_id,
                        reason=state.status_reason,
                        since=state.updated_at,
                        details=_why_held(state),
                    )
                )
        return held


def _why_held(state: OrderState) -> tuple[str, ...]:
    details = list(state.validation_errors)
    if state.failed_step is not None:
        details.append(f"failed step: {state.failed_step}")
    if state.waiting_on is not None:
        details.append(f"waiting on {state.waiting_on}")
    return tuple(details)


def _matches(state: OrderState, q: OrderQuery) -> bool:
    if q.status is not None and state.status != q.status:
        return False
    if q.reason is not None and state.status_reason != q.reason:
        return False
    if q.provider is not None and state.fulfillment_provider != q.provider:
        return False
    if q.external_ref is not None:
        system, sep, ref = q.external_ref.rpartition(":")
        refs = state.external_refs
        if sep:
            return any(r.system == system and r.ref == ref for r in refs)
        return any(r.ref == ref for r in refs)
    return True
