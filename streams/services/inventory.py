"""Talking to the inventory aggregate: commands in (``InventoryFeed``), and what it decided
read back (``InventoryView``): units available per SKU@source and every reservation's fate.

The view reads every partition of both inventory event topics, so a DOM coordinator
that restarts knows which of its reservations were already granted and the availability
it plans with, and then tails them: from the beginning, or, kept in a store
(``InventoryView.stored``), from where the store's checkpoint says it stopped. Each event carries its key's on
hand and reserved units, so availability is simply the newest event per key.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from streams.adapters.avro import AvroCodec
from streams.adapters.kafka_loop import KafkaLoop, Publisher, models
from streams.adapters.state_store import InventoryViewStore
from streams.adapters.topics import TopicRegistry
from streams.domain.inventory import (
    InventoryCommand,
    InventoryCommandEnvelope,
    InventoryEnvelope,
    InventoryEvent,
    InventoryReserved,
    ReservationFate,
    fate_of,
    inventory_key,
)
from streams.settings import Settings


def inventory_envelope(
    sku: str,
    source: str,
    issued_by: str,
    command_id: str | None = None,
    correlation_id: str | None = None,
    issued_at: datetime | None = None,
) -> InventoryCommandEnvelope:
    command_id = command_id or f"{issued_by}/{uuid.uuid4()}"
    return InventoryCommandEnvelope(
        command_id=command_id,
        sku=sku,
        source=source,
        issued_at=issued_at or datetime.now(UTC),
        correlation_id=correlation_id or command_id,
        issued_by=issued_by,
    )


class InventoryFeed:
    """Publishes inventory commands to ``inventory.commands``, keyed SKU@source."""

    def __init__(
        self, settings: Settings, topics: TopicRegistry, codec: AvroCodec, **producer: object
    ) -> None:
        self._publisher = Publisher(settings, **producer)
        self._topic = topics.inventory_commands
        self._codec = codec

    def send(self, command: InventoryCommand) -> None:
        self._publisher.send(self._topic, command.envelope.key.encode(), self._codec.encode(command))

    def send_all(self, commands: Iterable[InventoryCommand]) -> int:
        n = 0
        for command in commands:
            self.send(command)
            n += 1
        return n

    def flush(self, timeout: float = 30.0) -> None:
        self._publisher.flush(timeout, "inventory commands")


class InventoryView:
    """Availability per SKU@source and every reservation's fate, from the inventory event topics.

    Without a store it reads both topics from the beginning (a one-shot look, a test). With
    an ``InventoryViewStore`` it starts from the offsets the store reflects and keeps it up
    to date (flushed about every ``flush_every`` seconds and on ``close``), so a restarted
    DOM coordinator or backorder job reads only what came since. Folding is idempotent (the
    newest ``seq`` wins), so reading again past a checkpoint after a crash changes nothing.
    The view closes its store.
    """

    def __init__(
        self,
        settings: Settings,
        topics: TopicRegistry,
        codec: AvroCodec,
        store: InventoryViewStore | None = None,
        flush_every: float = 1.0,
    ) -> None:
        self._store = store
        self.levels: dict[str, InventoryEnvelope] = dict(store.items()) if store is not None else {}
        self._fates: dict[str, ReservationFate] = {}
        self._by_action: dict[str, set[str]] = {}
        self._flush_every = flush_every
        self._flush_due = time.monotonic() + flush_every
        self.loop = KafkaLoop(
            settings,
            models(codec, InventoryEvent),
            consumer={"fetch.wait.max.ms": 10},
            batch_size=5000,
            name="inventory view",
        )
        self._next: dict[tuple[str, int], int] = {}
        for p in range(topics.partitions):
            topic_names = topics.inventory_event_topics()
            self._next.update(store.checkpoint(topic_names, p) if store else {(t, p): 0 for t in topic_names})
        self.read = 0
        """Events read since the view was made (from its store's checkpoint, or from 0)."""
        self.catch_up()  # then it goes on from there

    @classmethod
    def stored(cls, settings: Settings, topics: TopicRegistry, codec: AvroCodec, name: str) -> InventoryView:
        """A view kept in ``<state dir>/<name>-<instance id>`` (one per process)."""
        store = InventoryViewStore(settings.state_dir / f"{name}-{settings.instance_id}")
        try:
            return cls(settings, topics, codec, store)
        except BaseException:
            store.close()
            raise

    def catch_up(self) -> None:
        """Read every partition to its end now (and store what was read)."""
        for batch in self.loop.read_to_end(self._where()):
            self._absorb(batch.records)
        self.flush()

    def poll(self, timeout: float = 0.0) -> list[InventoryEvent]:
        """Newly committed inventory events (also folded into the view)."""
        events = self._absorb(self.loop.poll(timeout).records)
        if self._store is not None and time.monotonic() >= self._flush_due:
            self.flush()
        return events

    def _where(self) -> dict[tuple[str, int], int]:
        """The next offset to read of every partition."""
        self._next.update({(tp.topic, tp.partition): tp.offset for tp in self.loop.positions()})
        return dict(self._next)

    def flush(self) -> None:
        """Persist the view with the offsets it reflects (a no-op without a store)."""
        self._flush_due = time.monotonic() + self._flush_every
        if self._store is not None:
            self._store.flush(self._where())

    def _absorb(self, events: list[InventoryEvent]) -> list[InventoryEvent]:
        for event in events:
            self._fold(event)
        self.read += len(events)
        return events

    def _fold(self, event: InventoryEvent) -> None:
        env = event.envelope
        key = env.key
        if key not in self.levels or env.seq > self.levels[key].seq:
            self.levels[key] = env
            if self._store is not None:
                self._store[key] = env
        decided = fate_of(event)
        if decided is None:
            return
        rid, fate = decided
        known = self.fate(rid)
        if known is not None and fate.seq <= known.seq:
            return
        asked: str | None = getattr(event, "requested_by", None)
        if self._store is not None:
            self._store.put_fate(rid, fate, asked)
            return
        self._fates[rid] = fate
        if asked is not None:
            self._by_action.setdefault(asked, set()).add(rid)

    def fate(self, rid: str) -> ReservationFate | None:
        """What became of a reservation id (None: never decided)."""
        return self._store.fate(rid) if self._store is not None else self._fates.get(rid)

    def reservations_of(self, action_id: str) -> set[str]:
        """Every reservation id a DOM action asked for (granted, refused or released)."""
        if self._store is not None:
            return self._store.reservations_of(action_id)
        return set(self._by_action.get(action_id, ()))

    def available(self, sku: str, source: str) -> int:
        env = self.levels.get(inventory_key(sku, source))
        return env.available if env is not None else 0

    def availability(self) -> dict[tuple[str, str], int]:
        return {(env.sku, env.source): env.available for env in self.levels.values()}

    def granted_to(self, action_id: str) -> dict[str, InventoryReserved]:
        """The reservations an action (a DOM request) holds now."""
        out = {}
        for rid in self.reservations_of(action_id):
            fate = self.fate(rid)
            if fate is not None and fate.state == "reserved" and isinstance(fate.event, InventoryReserved):
                out[rid] = fate.event
        return out

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.loop.close()
            if self._store is not None:
                self._store.close()
