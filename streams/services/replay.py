"""Rebuilding order state from the event topics, from the beginning.

Reads every partition of every event topic to its end, merges the topics by each
order's ``seq`` (holding early arrivals until the gap fills) and folds. Nothing is
written: anyone may replay, any number of times, and get the same states.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import Consumer

from streams.adapters.avro import AvroCodec, UndecodableRecord
from streams.adapters.kafka import consumer_config, partition_for, read_to_end, value_of
from streams.adapters.topics import TopicRegistry
from streams.domain.events import Event
from streams.domain.history import OrderHistories
from streams.domain.order import OrderState, evolve
from streams.services.gc_pause import gc_paused
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


def _consumer(settings: Settings) -> Consumer:
    return Consumer(
        consumer_config(
            settings,
            None,
            **{
                "enable.partition.eof": True,
                "fetch.max.bytes": 52_428_800,
                "max.partition.fetch.bytes": 10_485_760,
            },
        )
    )


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
    consumer = _consumer(settings)
    chosen = range(topics.partitions) if partitions is None else partitions
    start = {(t, p): 0 for t in topics.event_topics() for p in chosen}
    began = last_report = time.monotonic()
    decode = codec.decode
    add = histories.add
    try:
        with gc_paused():
            for batch in read_to_end(consumer, start):
                for msg in batch:
                    try:
                        event = decode(value_of(msg))
                    except UndecodableRecord as exc:
                        result.undecodable += 1
                        log.error(
                            "undecodable %s[%s]@%s: %s", msg.topic(), msg.partition(), msg.offset(), exc
                        )
                        continue
                    add(event)  # type: ignore[arg-type]
                result.events += len(batch)
                now = time.monotonic()
                if progress is not None and now - last_report >= progress_every:
                    progress(Progress(result.events, len(states), now - began))
                    last_report = now
    finally:
        consumer.close()
    result.seconds = time.monotonic() - began
    result.duplicates = histories.duplicates
    result.held = histories.held_orders()
    return result


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


class Wiring(Protocol):
    @property
    def topics(self) -> TopicRegistry: ...

    @property
    def codec(self) -> AvroCodec: ...


def _replay_part(
    settings: Settings, partitions: list[int], counter: Any, results: Any, wire: Callable[[Settings], Wiring]
) -> None:
    """A worker process: replay ``partitions`` and send back the summary (or the error)."""

    def report(p: Progress) -> None:
        counter.value = p.events

    try:
        c = wire(settings)
        results.put(ReplaySummary.of(replay(settings, c.topics, c.codec, report, 0.5, partitions)))
    except BaseException as exc:
        results.put(RuntimeError(f"replay of partitions {partitions} failed: {exc!r}"))
        raise


def replay_summary(
    settings: Settings,
    topics: TopicRegistry,
    codec: AvroCodec,
    workers: int = 1,
    progress: Callable[[Progress], None] | None = None,
    wire: Callable[[Settings], Wiring] | None = None,
) -> ReplaySummary:
    """A replay of every partition, in ``workers`` processes that each fold a share of the
    partitions (no order spans partitions, so their states never meet), summarised.
    ``wire`` (a module-level function, e.g. the composition root) builds each worker's
    topics and codec."""
    if workers <= 1 or wire is None:
        return ReplaySummary.of(replay(settings, topics, codec, progress))
    began = time.monotonic()
    shares = [list(range(topics.partitions))[i::workers] for i in range(workers)]
    # Fork starts a worker in milliseconds, but is unsafe once threads run (a Kafka client's,
    # say): then spawn, which pays a fresh interpreter's imports instead.
    method = "fork" if threading.active_count() == 1 else "spawn"
    context: Any = multiprocessing.get_context(method)
    results = context.Queue()
    counters = [context.Value("q", 0) for _ in shares]
    processes = [
        context.Process(target=_replay_part, args=(settings, share, counter, results, wire), daemon=True)
        for share, counter in zip(shares, counters, strict=True)
    ]
    for process in processes:
        process.start()
    parts: list[ReplaySummary] = []
    try:
        while len(parts) < len(processes):
            try:
                part = results.get(timeout=0.5)
            except queue.Empty:
                if not any(p.is_alive() for p in processes) and results.empty():
                    raise RuntimeError("a replay worker died without a result") from None
                if progress is not None:
                    progress(Progress(sum(c.value for c in counters), 0, time.monotonic() - began))
                continue
            if isinstance(part, Exception):
                raise part
            parts.append(part)
    finally:
        for process in processes:
            process.join(5)
            if process.is_alive():
                process.terminate()
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


def order_timeline(
    settings: Settings, topics: TopicRegistry, codec: AvroCodec, order_id: str
) -> OrderTimeline:
    """One order's history: only its partition of each topic is read, only its records decoded."""
    partition = partition_for(order_id, topics.partitions)
    key = order_id.encode()
    found: list[tuple[str, Event]] = []
    consumer = _consumer(settings)
    try:
        start = {(t, partition): 0 for t in topics.event_topics()}
        for batch in read_to_end(consumer, start):
            for msg in batch:
                if msg.key() == key:
                    found.append((msg.topic() or "", codec.decode(value_of(msg))))  # type: ignore[arg-type]
    finally:
        consumer.close()
    unique = {event.envelope.seq: (topic, event) for topic, event in found}
    ordered = [unique[seq] for seq in sorted(unique)]
    state = None
    for _topic, event in ordered:
        state = evolve(state, event)
    return OrderTimeline(state, ordered)
