"""Rebuilding order state from the event topics, from the beginning (or, into a store,
from its checkpoint: ``catch_up``).

Reads every partition of every event topic to its end (the one Kafka loop, as a reader),
merges the topics by each order's ``seq`` with the one merge (``OrderHistories``, holding
early arrivals until the gap fills) and folds. Nothing is written, not even a dead letter:
anyone may replay, any number of times, and get the same states.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from confluent_kafka import Message

from streams.adapters.avro import AvroCodec
from streams.adapters.kafka import partition_for
from streams.adapters.kafka_loop import CATCH_UP, KafkaLoop, models
from streams.adapters.state_store import StateStore
from streams.adapters.topics import TopicRegistry
from streams.domain.events import Event
from streams.domain.history import OrderHistories
from streams.domain.order import OrderState
from streams.services.gc_pause import gc_paused
from streams.services.shards import Shard, Wiring, in_processes
from streams.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Progress:
    events: int
    orders: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


@dataclass
class ReplayResult:
    states: dict[str, OrderState]
    events: int = 0
    duplicates: int = 0
    undecodable: int = 0
    held: dict[str, list[int]] = field(default_factory=dict)
    seconds: float = 0.0

    def by_status(self) -> Counter[tuple[str, str]]:
        return Counter((s.status, s.status_reason) for s in self.states.values())

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


READER = {**CATCH_UP, "fetch.max.bytes": 52_428_800, "max.partition.fetch.bytes": 10_485_760}
"""A replay's consumer: large fetches, it reads everything, and stops at the end."""


def _reader(settings: Settings, decode: Callable[[Message], Event | None], name: str) -> KafkaLoop[Event]:
    return KafkaLoop(settings, decode, consumer=READER, batch_size=5000, name=name)


def replay(
    settings: Settings,
    topics: TopicRegistry,
    codec: AvroCodec,
    progress: Callable[[Progress], None] | None = None,
    progress_every: float = 1.0,
    partitions: Sequence[int] | None = None,
) -> ReplayResult:
    """Every order's state, rebuilt from the event topics (of ``partitions``, default all)."""
    states: dict[str, OrderState] = {}
    histories = OrderHistories(states)
    result = ReplayResult(states)
    loop = _reader(settings, models(codec, Event), "replay")
    chosen = range(topics.partitions) if partitions is None else partitions
    start = {(t, p): 0 for t in topics.event_topics() for p in chosen}
    began = last_report = time.monotonic()
    add = histories.add
    try:
        with gc_paused(freeze=True):  # the states are the result: kept, never walked again
            for batch in loop.read_to_end(start):
                for event in batch.records:
                    add(event)
                result.events += len(batch.records) + len(batch.rejects)
                now = time.monotonic()
                if progress is not None and now - last_report >= progress_every:
                    progress(Progress(result.events, len(states), now - began))
                    last_report = now
    finally:
        loop.close()
    result.seconds = time.monotonic() - began
    result.duplicates = histories.duplicates
    result.undecodable = sum(loop.stats.skipped.values())
    result.held = histories.held_orders()
    return result


def catch_up(
    settings: Settings, topics: TopicRegistry, codec: AvroCodec, store: StateStore[OrderState]
) -> int:
    """Fold the event topics into ``store`` from its checkpoint to their end, and flush it
    with the offsets it now reflects (a reader that keeps its states: each call reads only
    what came since the last). Returns the events read."""
    histories = OrderHistories(store)
    loop = _reader(settings, models(codec, Event), "catch up")
    start: dict[tuple[str, int], int] = {}
    for p in range(topics.partitions):
        start.update(store.checkpoint(topics.event_topics(), p))
    read = 0
    try:
        with gc_paused():
            for batch in loop.read_to_end(start):
                for event in batch.records:
                    histories.add(event)
                read += len(batch.records) + len(batch.rejects)
        checkpoint = {**start, **{(tp.topic, tp.partition): tp.offset for tp in loop.positions()}}
    finally:
        loop.close()
    if histories.held:
        log.error("%d events wait for missing predecessors: %s", histories.held, histories.held_orders())
    store.flush(checkpoint)
    return read


@dataclass
class ReplaySummary:
    """What a replay found, without the states themselves (cheap to pass between processes)."""

    orders: int
    events: int
    duplicates: int
    undecodable: int
    held: dict[str, list[int]]
    by_status: Counter[tuple[str, str]]
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    @classmethod
    def of(cls, result: ReplayResult) -> ReplaySummary:
        return cls(
            len(result.states),
            result.events,
            result.duplicates,
            result.undecodable,
            result.held,
            result.by_status(),
            result.seconds,
        )


def _replay_share(
    settings: Settings, shard: Shard, report: Callable[[int], None], c: Wiring
) -> ReplaySummary:
    """A worker's job: replay the shard's partitions, summarised."""
    partitions = shard.partitions(c.topics.partitions)
    result = replay(settings, c.topics, c.codec, lambda p: report(p.events), 0.5, partitions)
    return ReplaySummary.of(result)


def replay_summary(
    settings: Settings,
    topics: TopicRegistry,
    codec: AvroCodec,
    workers: int = 1,
    progress: Callable[[Progress], None] | None = None,
    wire: Callable[[Settings], Wiring] | None = None,
) -> ReplaySummary:
    """A replay of every partition, in ``workers`` processes that each fold a shard of the
    partitions (no order spans partitions, so their states never meet), summarised.
    ``wire`` (a module-level function, e.g. the composition root) builds each worker's
    topics and codec."""
    if workers <= 1 or wire is None:
        return ReplaySummary.of(replay(settings, topics, codec, progress))
    began = time.monotonic()

    def report(events: int, seconds: float) -> None:
        if progress is not None:
            progress(Progress(events, 0, seconds))

    parts = in_processes(_replay_share, settings, workers, wire, report)
    return ReplaySummary(
        orders=sum(p.orders for p in parts),
        events=sum(p.events for p in parts),
        duplicates=sum(p.duplicates for p in parts),
        undecodable=sum(p.undecodable for p in parts),
        held={k: v for p in parts for k, v in p.held.items()},
        by_status=sum((p.by_status for p in parts), Counter()),
        seconds=time.monotonic() - began,
    )


@dataclass
class OrderTimeline:
    state: OrderState | None
    events: list[tuple[str, Event]]
    """(topic, event) in seq order."""
    waiting: list[int] = field(default_factory=list)
    """Seqs read whose predecessors are missing (a gap): not in ``events``."""


def order_timeline(
    settings: Settings, topics: TopicRegistry, codec: AvroCodec, order_id: str
) -> OrderTimeline:
    """One order's history: only its partition of each topic is read, only its records
    decoded, merged by seq as every reader merges."""
    partition = partition_for(order_id, topics.partitions)
    key = order_id.encode()
    decode = models(codec, Event)

    def its_own(msg: Message) -> Event | None:
        return decode(msg) if msg.key() == key else None

    found: list[tuple[str, Event]] = []
    histories = OrderHistories(on_applied=lambda event, _state, topic: found.append((topic, event)))
    loop = _reader(settings, its_own, f"timeline of {order_id}")
    try:
        for batch in loop.read_to_end({(t, partition): 0 for t in topics.event_topics()}):
            for event, msg in zip(batch.records, batch.messages, strict=True):
                histories.add(event, msg.topic())
    finally:
        loop.close()
    return OrderTimeline(histories.states.get(order_id), found, histories.held_orders().get(order_id, []))
