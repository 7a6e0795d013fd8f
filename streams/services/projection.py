"""The read side: every order's view and history, folded from the event topics into RocksDB.

Any number of projections may read the event topics, each from the beginning into its own
store. One projection reads every partition of every event topic (it is a complete read
model, not a partition of one), merges the topics by each order's ``seq`` with
``OrderHistories`` and keeps, per order, its current state, its events and index entries
(status, reason, provider, external references) for listing.

**Exactly once into the store.** The offsets consumed are written in the same RocksDB
``WriteBatch`` as the views and events they produced, so after a crash or a restart the
projection resumes from exactly where its state is: nothing is folded or counted twice
and nothing is skipped. An event read before its predecessor (another topic, not yet
read) is held in memory by ``OrderHistories``; its partition's resume offset stays at it
until it is folded, so a restart reads it again. The next offset read is stored too: the
records a restart reads again that were folded already are skipped without being
counted as duplicates.

**Hot path.** A batched confluent-kafka loop (``consume(5000, 0.1)``, decode, fold, one
``WriteBatch``): Faust's per-record agents fold ~2,000 events/s here, this loop tens of
thousands. Reads (the HTTP API) go to RocksDB, never to the fold's cache, so they only see
committed batches; listeners hear of a batch after it is durable.
"""

from __future__ import annotations

import heapq
import json
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from pydantic import BaseModel
from rocksdict import Options, Rdict, WriteBatch

from streams.adapters.avro import UndecodableRecord
from streams.adapters.http.read_model import (
    Change,
    HeldOrder,
    Listener,
    OrderPage,
    OrderQuery,
    ProviderActivity,
    RecordedEvent,
    Stats,
    StatusCount,
)
from streams.adapters.kafka import consumer_config
from streams.adapters.topics import TopicRegistry
from streams.domain.errors import DomainError
from streams.domain.events import Event
from streams.domain.history import OrderHistories
from streams.domain.order import OrderState, evolve
from streams.domain.transitions import ON_HOLD
from streams.services.gc_pause import gc_paused
from streams.services.replay import Progress
from streams.settings import Settings

log = logging.getLogger(__name__)

PROJECTION_GROUP = "oms-projection"

Record = tuple[str, int, int, bytes]
"""A consumed record: (topic, partition, offset, value)."""

OrderSeq = tuple[str, int]

# -- the store's key layout (raw bytes; ``\0`` separates parts, order ids sort as bytes)
_SEP = b"\x00"
_VIEW = b"v/"  # v/<order>                      -> OrderState JSON
_EVENT = b"e/"  # e/<order>\0<seq:010>            -> <topic>\0<record value>
_INDEX = b"i/"  # i/<index>/<value>\0<order>       -> b""
_OFFSET = b"o/"  # o/<topic>\0<partition>          -> offset to resume from
_READ = b"r/"  # r/<topic>\0<partition>          -> next offset read
_META = b"m/"  # m/<name>                         -> JSON

INDEX_STATUS = "st"
INDEX_REASON = "rs"
INDEX_STATUS_REASON = "sr"
INDEX_PROVIDER = "pv"
INDEX_REF = "xr"  # system:ref
INDEX_BARE_REF = "xi"  # ref, in any system


def _seq_key(prefix: bytes, order_id: str, seq: int) -> bytes:
    return prefix + order_id.encode() + _SEP + b"%010d" % seq


def index_prefix(index: str, value: str) -> bytes:
    return _INDEX + index.encode() + b"/" + value.encode() + _SEP


def _index_keys(state: OrderState) -> set[bytes]:
    oid = state.order_id.encode()
    keys = {
        index_prefix(INDEX_STATUS, state.status) + oid,
        index_prefix(INDEX_REASON, state.status_reason) + oid,
        index_prefix(INDEX_STATUS_REASON, f"{state.status}\0{state.status_reason}") + oid,
    }
    if state.fulfillment_provider:
        keys.add(index_prefix(INDEX_PROVIDER, state.fulfillment_provider) + oid)
    for ref in state.external_refs:
        keys.add(index_prefix(INDEX_REF, f"{ref.system}:{ref.ref}") + oid)
        keys.add(index_prefix(INDEX_BARE_REF, ref.ref) + oid)
    return keys


@dataclass
class Commit:
    """Everything one batch changes, written in one atomic ``WriteBatch``."""

    views: dict[str, tuple[OrderState | None, OrderState]] = field(default_factory=dict)
    """order id -> (state before the batch, state after it)."""
    events: list[tuple[str, int, str, bytes]] = field(default_factory=list)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    """Where to resume each partition: the next offset read, or an early arrival held."""
    read: dict[tuple[str, int], int] = field(default_factory=dict)
    meta: dict[str, object] = field(default_factory=dict)


class ProjectionStore:
    """The projection's RocksDB: views, events, indexes, offsets and counters."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        self._db = Rdict(str(path), options)

    @staticmethod
    def destroy(path: Path) -> None:
        """Delete the store at ``path`` (it is a cache of the topics: rebuildable)."""
        if path.exists():
            Rdict.destroy(str(path), Options(raw_mode=True))

    def close(self) -> None:
        self._db.close()

    # -- reads (any thread)
    def view(self, order_id: str) -> OrderState | None:
        raw = self._db.get(_VIEW + order_id.encode())
        return OrderState.model_validate_json(raw) if raw is not None else None

    def _prefixed(self, prefix: bytes, start: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        it = self._db.iter()
        it.seek(start if start is not None else prefix)
        while it.valid():
            key: bytes = it.key()
            if not key.startswith(prefix):
                return
            yield key[len(prefix) :], it.value()
            it.next()

    def events(self, order_id: str) -> list[tuple[str, bytes]]:
        """(topic, record value) of the order's events, in seq order."""
        prefix = _EVENT + order_id.encode() + _SEP
        return [_split(value) for _, value in self._prefixed(prefix)]

    def order_ids(self, prefix: bytes, after: str | None = None) -> Iterator[str]:
        """Order ids under an index prefix (or ``_VIEW``), ascending, strictly after ``after``."""
        start = prefix + after.encode() + _SEP if after is not None else None
        for rest, _ in self._prefixed(prefix, start):
            yield rest.decode()

    def status_reason_counts(self) -> Counter[tuple[str, str]]:
        counts: Counter[tuple[str, str]] = Counter()
        for rest, _ in self._prefixed(_INDEX + INDEX_STATUS_REASON.encode() + b"/"):
            status, reason, _oid = rest.split(_SEP, 2)
            counts[(status.decode(), reason.decode())] += 1
        return counts

    def offsets(self, read: bool = False) -> dict[tuple[str, int], int]:
        """Where to resume each partition (``read``: the next offset read before)."""
        out = {}
        for rest, value in self._prefixed(_READ if read else _OFFSET):
            topic, partition = rest.split(_SEP)
            out[(topic.decode(), int(partition))] = int(value)
        return out

    def meta(self, name: str) -> object:
        raw = self._db.get(_META + name.encode())
        return json.loads(raw) if raw is not None else None

    # -- the one write
    def commit(self, c: Commit) -> None:
        batch = WriteBatch(raw_mode=True)
        for order_id, (before, after) in c.views.items():
            batch.put(_VIEW + order_id.encode(), after.model_dump_json().encode())
            old = _index_keys(before) if before is not None else set()
            new = _index_keys(after)
            for key in old - new:
                batch.delete(key)
            for key in new - old:
                batch.put(key, b"")
        for order_id, seq, topic, value in c.events:
            batch.put(_seq_key(_EVENT, order_id, seq), topic.encode() + _SEP + value)
        for (topic, partition), offset in c.offsets.items():
            batch.put(_OFFSET + topic.encode() + _SEP + str(partition).encode(), b"%d" % offset)
        for (topic, partition), offset in c.read.items():
            batch.put(_READ + topic.encode() + _SEP + str(partition).encode(), b"%d" % offset)
        for name, data in c.meta.items():
            batch.put(_META + name.encode(), json.dumps(data).encode())
        self._db.write(batch)


def _split(value: bytes) -> tuple[str, bytes]:
    topic, record = value.split(_SEP, 1)
    return topic.decode(), record


class _Views(MutableMapping[str, OrderState]):
    """The fold's working set: reads through to the store, writes wait for the commit."""

    def __init__(self, store: ProjectionStore, cache_size: int) -> None:
        self._store = store
        self._cache: dict[str, OrderState] = {}
        self._absent: set[str] = set()
        """Orders the store does not have (it has one writer: this mapping's owner)."""
        self._before: dict[str, OrderState | None] = {}
        self._cache_size = cache_size

    def get(self, order_id: str, default: OrderState | None = None) -> OrderState | None:  # type: ignore[override]
        state = self._cache.get(order_id)
        if state is None:
            if order_id in self._absent:
                return default
            state = self._store.view(order_id)
            if state is None:
                self._absent.add(order_id)
                return default
            self._cache[order_id] = state
        return state

    def __getitem__(self, order_id: str) -> OrderState:
        state = self.get(order_id)
        if state is None:
            raise KeyError(order_id)
        return state

    def __setitem__(self, order_id: str, state: OrderState) -> None:
        if order_id not in self._before:
            self._before[order_id] = self.get(order_id)
        self._cache[order_id] = state
        self._absent.discard(order_id)

    def __delitem__(self, order_id: str) -> None:
        raise NotImplementedError("orders are never deleted from the projection")

    def __iter__(self) -> Iterator[str]:
        return iter(self._cache)

    def __len__(self) -> int:
        return len(self._cache)

    def take_changes(self) -> dict[str, tuple[OrderState | None, OrderState]]:
        changes = {oid: (before, self._cache[oid]) for oid, before in self._before.items()}
        self._before = {}
        if len(self._cache) > self._cache_size:
            self._cache = {}
        if len(self._absent) > self._cache_size:
            self._absent = set()
        return changes


class _Ring:
    """Counts per wall-clock second over the last ``size`` seconds."""

    def __init__(self, size: int = 60) -> None:
        self.size = size
        self._counts: deque[tuple[int, int]] = deque()

    def add(self, second: int, n: int) -> None:
        if self._counts and self._counts[-1][0] == second:
            self._counts[-1] = (second, self._counts[-1][1] + n)
        else:
            self._counts.append((second, n))
        while self._counts and self._counts[0][0] <= second - self.size:
            self._counts.popleft()

    def series(self, now: int) -> list[int]:
        by_second = dict(self._counts)
        return [by_second.get(s, 0) for s in range(now - self.size + 1, now + 1)]


class Projection:
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
        self.store = store
        self._decode = decode
        self._topic_prefix = topic_prefix
        self._hold_status = hold_status
        self._held_shown = held_shown
        self._clock = clock
        self.caught_up = False
        """Set by whoever feeds the projection (``ProjectionRunner``) once it read to the end."""

        # fold state: only the applying thread touches these
        self._views = _Views(store, cache_size)
        self._histories = OrderHistories(self._views, on_applied=self._applied)
        self._held: dict[OrderSeq, Record] = {}
        """The records of early arrivals the fold holds (memory only: see ``offsets``)."""
        self._held_offsets: dict[tuple[str, int], list[int]] = {}
        """Per partition, a heap of the offsets of held records (released ones linger)."""
        self._held_at: set[tuple[str, int, int]] = set()
        self._position = store.offsets()
        """The next offset to read of each partition in this run (it starts at the resume)."""
        self._read, self._reread = store.offsets(read=True), store.offsets(read=True)
        """The next offset ever read, per partition (``_reread``: as it was at start)."""
        self._current: Record = ("", 0, 0, b"")
        self._commit = Commit()
        self._applied_events: list[tuple[Event, str]] = []
        self._touched: set[tuple[str, int]] = set()
        self._batch_providers: dict[str, tuple[int, datetime]] = {}
        self._logical: dict[str, str] = {}
        self._provider_field: dict[type[Event], bool] = {}

        # counters: written by the applying thread under the lock, read by any thread
        self._lock = threading.Lock()
        self._by_status = store.status_reason_counts()
        self._events = int(store.meta("events") or 0)  # type: ignore[call-overload]
        self._duplicates = int(store.meta("duplicates") or 0)  # type: ignore[call-overload]
        self._undecodable = int(store.meta("undecodable") or 0)  # type: ignore[call-overload]
        providers = store.meta("providers") or {}
        assert isinstance(providers, dict)
        self._providers: dict[str, dict[str, object]] = providers
        self._ring = _Ring()
        self._provider_rings: dict[str, _Ring] = {}
        self._waiting: dict[str, list[int]] = {}
        self._listeners: list[Listener] = []

    # -- the fold
    def offsets(self) -> dict[tuple[str, int], int]:
        """Where to resume reading each (topic, partition).

        Everything before it is folded. It stays at an early arrival the fold still holds
        (held events live in memory only), so a restart reads that record again; records
        after it that were folded come again too, and are recognised and skipped.
        """
        return self.store.offsets()

    def apply(self, records: Iterable[Record]) -> int:
        """Fold a batch of consumed records and commit it, with their offsets, atomically.

        Returns the number of events applied (early arrivals count when their gap fills).
        The cyclic garbage collector waits for the end of the batch: the fold allocates
        hundreds of thousands of short-lived, acyclic objects per batch, and collections
        in the middle of it (scanning every cached state each time) halved throughput.
        """
        with gc_paused():
            return self._apply(records)

    def _apply(self, records: Iterable[Record]) -> int:
        commit = self._commit = Commit()
        self._applied_events = []
        self._touched = touched = set()
        self._batch_providers = {}
        undecodable = 0
        duplicates_before = self._histories.duplicates
        views = self._views
        add = self._histories.add
        decode = self._decode
        held = self._held
        position = self._position
        read = self._read
        reread = self._reread
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
            env = event.envelope
            state = views.get(env.order_id)
            version = state.version if state is not None else 0
            if env.seq <= version and offset < reread.get(where, 0):
                continue  # read again after a restart (see ``offsets``): not a duplicate
            if env.seq > version + 1 and (env.order_id, env.seq) not in held:
                held[(env.order_id, env.seq)] = record
                self._held_at.add((topic, partition, offset))
                heapq.heappush(self._held_offsets.setdefault(where, []), offset)
            self._current = record
            try:
                add(event)
            except DomainError as exc:
                undecodable += 1
                log.error("cannot fold %s[%s]@%s: %s", topic, partition, offset, exc)
        applied = len(commit.events)
        commit.views = views.take_changes()
        commit.read = {where: read[where] for where in touched}
        commit.offsets = {where: self._resume(where) for where in touched}
        duplicates = self._histories.duplicates - duplicates_before
        second = int(self._clock())
        with self._lock:
            self._events += applied
            self._duplicates += duplicates
            self._undecodable += undecodable
            commit.meta = {
                "events": self._events,
                "duplicates": self._duplicates,
                "undecodable": self._undecodable,
            }
            for provider, (n, last) in self._batch_providers.items():
                entry = self._providers.setdefault(provider, {"events": 0, "last_event_at": None})
                entry["events"] = int(entry["events"]) + n  # type: ignore[call-overload]
                seen = _parse_time(entry["last_event_at"])
                if seen is None or last > seen:
                    entry["last_event_at"] = last.isoformat()
                self._provider_rings.setdefault(provider, _Ring()).add(second, n)
            if self._batch_providers:
                commit.meta["providers"] = self._providers
        self.store.commit(commit)
        with self._lock:
            for before, after in commit.views.values():
                if before is not None:
                    old = (before.status, before.status_reason)
                    self._by_status[old] -= 1
                    if self._by_status[old] <= 0:
                        del self._by_status[old]
                self._by_status[(after.status, after.status_reason)] += 1
            self._ring.add(second, applied)
            self._waiting = self._histories.held_orders() if self._histories.held else {}
            listeners = list(self._listeners)
        if listeners:
            changes = [self._change(event, topic) for event, topic in self._applied_events]
            for listener in listeners:
                try:
                    listener(changes)
                except Exception:
                    log.exception("projection listener failed")
        return applied

    def _applied(self, event: Event, state: OrderState, origin: object) -> None:
        env = event.envelope
        record = self._held.pop((env.order_id, env.seq), None)
        if record is None:
            record = self._current
        else:  # released from the hold: its partition may resume further on now
            self._touched.add((record[0], record[1]))
            self._held_at.discard(record[:3])
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

    def _resume(self, where: tuple[str, int]) -> int:
        """The partition's position, or the offset of the first record of it still held."""
        heap = self._held_offsets.get(where)
        while heap and (*where, heap[0]) not in self._held_at:
            heapq.heappop(heap)
        return heap[0] if heap else self._position[where]

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

    # -- the read model (any thread)
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

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
        return _VIEW

    def stats(self) -> Stats:
        now = int(self._clock())
        with self._lock:
            by_status = dict(self._by_status)
            series = self._ring.series(now)
            providers = [
                ProviderActivity(
                    provider=name,
                    events=int(entry["events"]),  # type: ignore[call-overload]
                    last_event_at=_parse_time(entry.get("last_event_at")),
                    events_last_minute=sum(self._provider_rings[name].series(now))
                    if name in self._provider_rings
                    else 0,
                )
                for name, entry in sorted(self._providers.items())
            ]
            events, duplicates, undecodable = self._events, self._duplicates, self._undecodable
            waiting = {oid: list(seqs) for oid, seqs in self._waiting.items()}
        on_hold_by_reason = {
            reason: n for (status, reason), n in by_status.items() if status == self._hold_status
        }
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
        return Stats(
            orders=sum(by_status.values()),
            events=events,
            duplicates=duplicates,
            undecodable=undecodable,
            by_status=[StatusCount(status, reason, n) for (status, reason), n in sorted(by_status.items())],
            events_per_second=sum(series) / len(series),
            throughput=series,
            on_hold=sum(on_hold_by_reason.values()),
            on_hold_by_reason=on_hold_by_reason,
            held_orders=held,
            waiting=waiting,
            providers=providers,
            caught_up=self.caught_up,
        )


def _why_held(state: OrderState) -> tuple[str, ...]:
    details = list(state.validation_errors)
    if state.failed_step is not None:
        details.append(f"failed step: {state.failed_step}")
    if state.waiting_on is not None:
        details.append(f"waiting on {state.waiting_on}")
    return tuple(details)


def _parse_time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


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


# -- the Kafka loop


@dataclass
class RunResult:
    events: int = 0
    records: int = 0
    seconds: float = 0.0
    caught_up: bool = False

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


class ProjectionRunner:
    """Feeds a ``Projection`` from every partition of every event topic, in batches.

    Offsets come from the projection's store, not from Kafka: the store is the one record
    of what has been folded. The consumer group is only a name for operators (its offsets
    are committed too, now and then, so the usual lag tools show how far behind it is).
    """

    def __init__(
        self,
        settings: Settings,
        topics: TopicRegistry,
        projection: Projection,
        name: str = "default",
        batch_size: int = 5000,
        poll_timeout: float = 0.1,
    ) -> None:
        self.topics = topics
        self.projection = projection
        self.batch_size = batch_size
        self.poll_timeout = poll_timeout
        self.group = f"{topics.prefix}{PROJECTION_GROUP}-{name}"
        self._consumer = Consumer(
            consumer_config(
                settings,
                self.group,
                **{
                    "enable.partition.eof": True,
                    "fetch.max.bytes": 52_428_800,
                    # Small per-partition fetches interleave the topics: fewer early
                    # arrivals to hold while rebuilding (a topic read whole before
                    # order.created held 35% of 100k events in memory).
                    "max.partition.fetch.bytes": 262_144,
                },
            )
        )

    def run(
        self,
        stop: threading.Event | None = None,
        *,
        until_caught_up: bool = False,
        progress: Callable[[Progress], None] | None = None,
        progress_every: float = 1.0,
        commit_every: float = 5.0,
    ) -> RunResult:
        """Fold until ``stop`` is set (or, with ``until_caught_up``, every partition is at
        its end). The consumer is closed on return: a runner runs once."""
        stop = stop or threading.Event()
        projection = self.projection
        stored = projection.offsets()
        partitions = [
            (topic, p) for topic in self.topics.event_topics() for p in range(self.topics.partitions)
        ]
        self._consumer.assign(
            [TopicPartition(t, p, stored.get((t, p), OFFSET_BEGINNING)) for t, p in partitions]
        )
        not_at_end = set(partitions)
        result = RunResult()
        began = last_report = last_commit = time.monotonic()
        consume = self._consumer.consume
        try:
            while not stop.is_set():
                msgs = consume(self.batch_size, self.poll_timeout)
                records: list[Record] = []
                for msg in msgs:
                    err = msg.error()
                    if err is None:
                        record: Record = (msg.topic(), msg.partition(), msg.offset(), msg.value())  # type: ignore[assignment]
                        records.append(record)
                        not_at_end.add((record[0], record[1]))
                    elif err.code() == KafkaError._PARTITION_EOF:
                        # In order with the records: a partition's EOF follows its last record.
                        not_at_end.discard((msg.topic() or "", msg.partition() or 0))
                    elif err.fatal():
                        raise KafkaException(err)
                    else:
                        log.warning("projection consumer: %s", err)
                if records:
                    result.events += projection.apply(records)
                    result.records += len(records)
                if not not_at_end and not projection.caught_up:
                    projection.caught_up = True
                    log.info("projection caught up: %d events folded", result.events)
                now = time.monotonic()
                if progress is not None and now - last_report >= progress_every:
                    progress(Progress(result.records, projection.stats().orders, now - began))
                    last_report = now
                if now - last_commit >= commit_every:
                    self._commit_for_monitoring()
                    last_commit = now
                if until_caught_up and not not_at_end:
                    result.caught_up = True
                    break
        finally:
            result.seconds = time.monotonic() - began
            self._commit_for_monitoring()
            self._consumer.close()
        return result

    def _commit_for_monitoring(self) -> None:
        offsets = [TopicPartition(t, p, o) for (t, p), o in self.projection.offsets().items()]
        if not offsets:
            return
        try:
            self._consumer.commit(offsets=offsets, asynchronous=True)
        except KafkaException as exc:
            log.debug("could not commit monitoring offsets: %s", exc)
