"""The projection's fold: consumed records in, one atomic ``WriteBatch`` per batch out.

The records are merged by each order's ``seq`` with the one merge (``OrderHistories``);
an early arrival is held there, with its record as its origin, until its gap fills.
The offsets consumed are written in the same batch as the views and events they
produced (see the package docstring): ``HeldOffsets`` keeps a partition's resume offset
at the first record of it still held.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime

from pydantic import BaseModel

from streams.adapters.avro import UndecodableRecord
from streams.adapters.http.read_model import Change, Listener
from streams.domain.errors import DomainError
from streams.domain.events import Event
from streams.domain.history import Arrival, OrderHistories
from streams.domain.order import OrderState
from streams.domain.transitions import ON_HOLD
from streams.services.gc_pause import Survivors, gc_paused
from streams.services.projection.activity import Activity
from streams.services.projection.queries import ProjectionQueries
from streams.services.projection.store import Commit, ProjectionStore
from streams.services.projection.working_set import WorkingSet

log = logging.getLogger(__name__)

Record = tuple[str, int, int, bytes]
"""A consumed record: (topic, partition, offset, value)."""

Where = tuple[str, int]


class HeldOffsets:
    """Per partition, the offsets of the records the merge holds (memory only)."""

    def __init__(self) -> None:
        self._heaps: dict[Where, list[int]] = {}
        """A heap per partition; released offsets linger until they reach the top."""
        self._held: set[tuple[str, int, int]] = set()

    def hold(self, record: Record) -> None:
        self._held.add(record[:3])
        heapq.heappush(self._heaps.setdefault((record[0], record[1]), []), record[2])

    def release(self, record: Record) -> None:
        self._held.discard(record[:3])

    def resume(self, where: Where, position: int) -> int:
        """The partition's ``position``, or the offset of its first record still held."""
        heap = self._heaps.get(where)
        while heap and (*where, heap[0]) not in self._held:
            heapq.heappop(heap)
        return heap[0] if heap else position


class Projection(ProjectionQueries):
    """The fold into the store (one thread calls ``apply``) and the queries (any thread).

    Implements the HTTP API's ``ReadModel``.
    """

    def __init__(
        self,
        store: ProjectionStore,
        decode: Callable[[bytes], BaseModel],
        topic_prefix: str = "",
        hold_status: str = ON_HOLD,
        held_shown: int = 20,
        cache_size: int = 200_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(store, decode, Activity(store, clock), topic_prefix, hold_status, held_shown)
        # fold state: only the applying thread touches these
        self._views = WorkingSet(store, cache_size)
        self._histories = OrderHistories(self._views, on_applied=self._applied)
        self._held = HeldOffsets()
        self._position = store.offsets()
        """The next offset to read of each partition in this run (it starts at the resume)."""
        self._read, self._reread = store.offsets(read=True), store.offsets(read=True)
        """The next offset ever read, per partition (``_reread``: as it was at start)."""
        self._current: Record = ("", 0, 0, b"")
        self._commit = Commit()
        self._applied_events: list[tuple[Event, str]] = []
        self._touched: set[Where] = set()
        self._added: set[str] = set()
        """The orders the batch added events to: only their held seqs can have changed."""
        self._batch_providers: dict[str, tuple[int, datetime]] = {}
        self._logical: dict[str, str] = {}
        self._provider_field: dict[type[Event], bool] = {}
        self._survivors = Survivors()
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []

    def offsets(self) -> dict[Where, int]:
        """Where to resume reading each (topic, partition).

        Everything before it is folded. It stays at an early arrival the fold still holds
        (held events live in memory only), so a restart reads that record again; records
        after it that were folded come again too, and are recognised and skipped.
        """
        return self.store.offsets()

    def read_offsets(self) -> dict[Where, int]:
        """The next offset ever read of each (topic, partition), as of the last commit."""
        return self.store.offsets(read=True)

    def close(self) -> None:
        self.store.close()

    def apply(self, records: Iterable[Record]) -> int:
        """Fold a batch of consumed records and commit it, with their offsets, atomically.

        Returns the number of events applied (early arrivals count when their gap fills).
        The cyclic garbage collector waits for the end of the batch: the fold allocates
        hundreds of thousands of short-lived, acyclic objects per batch, and collections
        in the middle of it (scanning every cached state each time) halved throughput.
        After it, the states the batch keeps are walked once and frozen (``Survivors``):
        left young, every later collection walked them again (a fifth of the fold's time).
        """
        with gc_paused():
            applied = self._apply(records)
            self._survivors.settle()  # in the pause: else the first allocation after it walks them too
        return applied

    def _apply(self, records: Iterable[Record]) -> int:
        commit = self._commit = Commit()
        self._applied_events = []
        self._touched, self._added = set(), set()
        self._batch_providers = {}
        duplicates_before = self._histories.duplicates
        undecodable = self._fold(records)
        commit.views = self._views.take_changes()
        commit.read = {where: self._read[where] for where in self._touched}
        commit.offsets = {where: self._held.resume(where, self._position[where]) for where in self._touched}
        duplicates = self._histories.duplicates - duplicates_before
        second = self.activity.count(commit, duplicates, undecodable, self._batch_providers)
        self.store.commit(commit)
        held = self._histories.held_seqs  # only the batch's orders can have changed
        self.activity.settle(commit, second, {order_id: held(order_id) for order_id in self._added})
        self._tell(self._applied_events)
        self._commit, self._applied_events = Commit(), []  # freed now, not walked by the collector
        return len(commit.events)

    def _fold(self, records: Iterable[Record]) -> int:
        """Merge and fold ``records``; returns how many could not be (undecodable)."""
        undecodable = 0
        views, add, decode, held = self._views, self._histories.add, self._decode, self._held
        position, read, reread, touched = self._position, self._read, self._reread, self._touched
        added = self._added
        for record in records:
            topic, partition, offset, value = record
            where = (topic, partition)
            position[where] = offset + 1
            if offset >= read.get(where, 0):  # not when reading again after a restart
                read[where] = offset + 1
            touched.add(where)
            try:
                event = decode(value)
                if not isinstance(event, Event):
                    raise UndecodableRecord(f"{type(event).__name__} is not an event")
            except UndecodableRecord as exc:
                undecodable += 1
                log.error("undecodable %s[%s]@%s: %s", topic, partition, offset, exc)
                continue
            if offset < reread.get(where, 0):  # read again after a restart (see ``offsets``)
                state = views.get(event.envelope.order_id)
                if state is not None and event.envelope.seq <= state.version:
                    continue  # folded before the restart: not a duplicate
            self._current = record
            added.add(event.envelope.order_id)
            try:
                if add(event, record) is Arrival.HELD:
                    held.hold(record)
            except DomainError as exc:
                undecodable += 1
                log.error("cannot fold %s[%s]@%s: %s", topic, partition, offset, exc)
        return undecodable

    def _applied(self, event: Event, state: OrderState, record: Record) -> None:
        env = event.envelope
        if record is not self._current:  # released from the hold: its partition may resume further on
            self._touched.add((record[0], record[1]))
            self._held.release(record)
        topic = record[0]
        self._commit.events.append((env.order_id, env.seq, topic, record[3]))
        self._applied_events.append((event, topic))
        cls = type(event)
        has_provider = self._provider_field.get(cls)
        if has_provider is None:
            has_provider = self._provider_field[cls] = "provider" in cls.model_fields
        if has_provider:
            provider = event.provider  # type: ignore[attr-defined]
            if isinstance(provider, str) and provider:
                n, last = self._batch_providers.get(provider, (0, env.occurred_at))
                self._batch_providers[provider] = (n + 1, max(last, env.occurred_at))

    # -- listeners: told of each batch once it is durable
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _tell(self, applied: list[tuple[Event, str]]) -> None:
        with self._lock:
            listeners = list(self._listeners)
        if not listeners:
            return
        changes = [self._change(event, topic) for event, topic in applied]
        for listener in listeners:
            try:
                listener(changes)
            except Exception:
                log.exception("projection listener failed")

    def _change(self, event: Event, topic: str) -> Change:
        logical = self._logical.get(topic)
        if logical is None:
            logical = self._logical[topic] = topic.removeprefix(self._topic_prefix)
        env = event.envelope
        return Change(
            order_id=env.order_id,
            seq=env.seq,
            type=type(event).__name__,
            topic=logical,
            status=env.status,
            status_reason=env.status_reason,
            occurred_at=env.occurred_at,
        )
