"""Rebuilding order state from the event topics, from the beginning.

Reads every partition of every event topic to its end, merges the topics by each
order's ``seq`` (holding early arrivals until the gap fills) and folds. Nothing is
written: anyone may replay, any number of times, and get the same states.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import Consumer

from streams.adapters.avro import AvroCodec, UndecodableRecord
from streams.adapters.kafka import consumer_config, partition_for, read_to_end, value_of
from streams.adapters.topics import TopicRegistry
from streams.domain.events import Event
from streams.domain.history import OrderHistories
from streams.domain.order import OrderState, evolve
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
) -> ReplayResult:
    """Every order's state, rebuilt from the event topics."""
    states: dict[str, OrderState] = {}
    histories = OrderHistories(states)
    result = ReplayResult(states)
    consumer = _consumer(settings)
    start = {(t, p): 0 for t in topics.event_topics() for p in range(topics.partitions)}
    began = last_report = time.monotonic()
    decode = codec.decode
    add = histories.add
    try:
        for batch in read_to_end(consumer, start):
            for msg in batch:
                try:
                    event = decode(value_of(msg))
                except UndecodableRecord as exc:
                    result.undecodable += 1
                    log.error("undecodable %s[%s]@%s: %s", msg.topic(), msg.partition(), msg.offset(), exc)
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
