"""Histories for the read side's unit tests: commands decided by the real domain, events
encoded by the real codec, fed to a projection as if consumed from the topics."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from devkit.scenarios import CommandFactory, journey1_orders
from streams.adapters.kafka import partition_for
from streams.bootstrap import bootstrap
from streams.domain.commands import Command, HoldOrder, RecordStepResult
from streams.domain.decider import decide
from streams.domain.events import Event
from streams.domain.order import OrderState, evolve
from streams.services.projection import Record
from streams.settings import Settings

COMPONENTS = bootstrap(Settings(partitions=3))
CODEC = COMPONENTS.codec
TOPICS = COMPONENTS.topics
START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
"""journey1_orders' clock: each command 250 ms after the previous one."""


def decided(commands: Iterable[Command], state: OrderState | None = None) -> list[Event]:
    events = []
    for command in commands:
        for event in decide(command, state, COMPONENTS.transitions):
            state = evolve(state, event)
            events.append(event)
    return events


def journeys(count: int, prefix: str = "ORD") -> list[list[Event]]:
    """Each order's journey-1 events (ten per order), in seq order."""
    return [decided(commands) for commands in journey1_orders(count, prefix=prefix, start=START)]


def held_order(order_id: str, reason: str = "Credit check", failed_step: str | None = None) -> list[Event]:
    """A created, validated order put on hold; with ``failed_step``, a step failed first."""
    factory = CommandFactory(source="test", start=datetime(2026, 11, 29, 8, 0, tzinfo=UTC))
    journey = next(iter(journey1_orders(1, prefix="X", start=START)))
    created = journey[0].model_copy(update={"envelope": factory.envelope(order_id)})
    commands: list[Command] = [created]
    if failed_step is not None:
        commands.append(
            RecordStepResult(
                envelope=factory.envelope(order_id),
                flow="journey-1",
                flow_version=1,
                step=failed_step,
                result="failed",
                details="F&O answered 503",
            )
        )
    commands.append(HoldOrder(envelope=factory.envelope(order_id), reason=reason))
    return decided(commands)


class Clock:
    """The projection's wall clock, moved by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Feed:
    """Turns events into consumed records: real topics, the partition of the order, and
    gapless offsets per (topic, partition) as Kafka would give them."""

    def __init__(self) -> None:
        self.next_offset: dict[tuple[str, int], int] = {}
        self.log: list[Record] = []
        """Every record produced, in order: the topics as a restarted reader sees them."""

    def records(self, events: Iterable[Event]) -> list[Record]:
        out = []
        for event in events:
            topic = TOPICS.event_topic(type(event))
            partition = partition_for(event.envelope.order_id, TOPICS.partitions)
            offset = self.next_offset.get((topic, partition), 0)
            self.next_offset[(topic, partition)] = offset + 1
            out.append((topic, partition, offset, CODEC.encode(event)))
        self.log.extend(out)
        return out

    def since(self, offsets: dict[tuple[str, int], int]) -> list[Record]:
        """What a reader resuming at ``offsets`` reads (a partition never read: all of it)."""
        return [r for r in self.log if r[2] >= offsets.get((r[0], r[1]), 0)]


class Reader:
    """A consumer of ``feed``'s topics from ``offsets``: each partition in offset order,
    partitions interleaved at random (as Kafka may deliver them)."""

    def __init__(self, feed: Feed, offsets: dict[tuple[str, int], int], rng: random.Random) -> None:
        self._rng = rng
        self._queues: dict[tuple[str, int], deque[Record]] = {}
        for record in feed.since(offsets):
            self._queues.setdefault((record[0], record[1]), deque()).append(record)

    def read(self, n: int) -> list[Record]:
        out: list[Record] = []
        while len(out) < n and self._queues:
            where = self._rng.choice(list(self._queues))
            queue = self._queues[where]
            for _ in range(self._rng.randint(1, 8)):
                out.append(queue.popleft())
                if not queue:
                    del self._queues[where]
                    break
        return out


def flat(histories: Sequence[Sequence[Event]]) -> list[Event]:
    return [e for history in histories for e in history]
