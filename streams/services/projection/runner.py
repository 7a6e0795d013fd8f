"""Feeding a ``Projection`` from every partition of every event topic (or of a shard's
partitions), on the one Kafka loop.

Offsets come from the projection's store, not from Kafka: the store is the one record of
what has been folded. The consumer group is only a name for operators (its offsets are
committed too, now and then, so the usual lag tools show how far behind it is).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from confluent_kafka import OFFSET_BEGINNING, KafkaException, Message, TopicPartition

from streams.adapters.http.read_model import Stats
from streams.adapters.kafka_loop import Batch, KafkaLoop
from streams.adapters.topics import TopicRegistry
from streams.services.projection.fold import Record
from streams.services.replay import Progress
from streams.settings import Settings

log = logging.getLogger(__name__)

PROJECTION_GROUP = "oms-projection"

READER = {
    "fetch.max.bytes": 52_428_800,
    # Small per-partition fetches interleave the topics: fewer early arrivals to hold
    # while rebuilding (a topic read whole before order.created held 35% of 100k events).
    "max.partition.fetch.bytes": 262_144,
}


def _record(msg: Message) -> Record:
    """The fold decodes (and counts what it cannot): the loop hands it the raw record."""
    return (msg.topic() or "", msg.partition() or 0, msg.offset() or 0, msg.value() or b"")


@dataclass
class RunResult:
    events: int = 0
    records: int = 0
    seconds: float = 0.0
    caught_up: bool = False

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


class Folding(Protocol):
    """What the runner feeds: a ``Projection``, or a ``ShardedProjection`` of several."""

    caught_up: bool

    def offsets(self) -> dict[tuple[str, int], int]: ...

    def read_offsets(self) -> Mapping[tuple[str, int], int]: ...

    def apply(self, records: Iterable[Record]) -> int: ...

    def stats(self) -> Stats: ...


class ProjectionRunner:
    """Runs once: ``run`` closes its consumer on return. ``partitions`` (default all) are
    the partition numbers it reads of every event topic: a shard's, for a shard's store."""

    def __init__(
        self,
        settings: Settings,
        topics: TopicRegistry,
        projection: Folding,
        name: str = "default",
        batch_size: int = 5000,
        poll_timeout: float = 0.1,
        partitions: Sequence[int] | None = None,
    ) -> None:
        self.topics = topics
        self.projection = projection
        self.partitions = list(range(topics.partitions)) if partitions is None else list(partitions)
        self.group = f"{topics.prefix}{PROJECTION_GROUP}-{name}"
        self.loop = KafkaLoop(
            settings,
            _record,
            group=self.group,
            consumer=READER,
            batch_size=batch_size,
            poll_timeout=poll_timeout,
            name="projection",
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
        its end)."""
        stored = self.projection.offsets()
        partitions = [(t, p) for t in self.topics.event_topics() for p in self.partitions]
        self.loop.assign({where: stored.get(where, OFFSET_BEGINNING) for where in partitions})
        result = RunResult()
        began = last_report = last_commit = time.monotonic()

        def handle(batch: Batch[Record]) -> None:
            result.events += self.projection.apply(batch.records)
            result.records += len(batch.records)

        def between_batches() -> None:
            nonlocal last_report, last_commit
            self._note_caught_up(result)
            now = time.monotonic()
            if progress is not None and now - last_report >= progress_every:
                progress(Progress(result.records, self.projection.stats().orders, now - began))
                last_report = now
            if now - last_commit >= commit_every:
                self._commit_for_monitoring()
                last_commit = now

        try:
            self.loop.run(
                handle,
                stop or threading.Event(),
                tick=between_batches,
                tick_every=0.0,
                until_caught_up=until_caught_up,
            )
            self._note_caught_up(result)
        finally:
            result.seconds = time.monotonic() - began
            self._commit_for_monitoring()
            self.loop.close()
        return result

    def _note_caught_up(self, result: RunResult) -> None:
        if self.loop.caught_up and not result.caught_up:
            result.caught_up = self.projection.caught_up = True
            log.info("projection caught up: %d events folded", result.events)

    def _commit_for_monitoring(self) -> None:
        """Commit where the projection resumes; a partition folded up to the consumer's
        position with nothing held (resume = next offset read) at that position instead:
        past the writer's transaction markers, so the group's lag reads 0 when caught up."""
        resume = self.projection.offsets()
        read = self.projection.read_offsets()
        for tp in self.loop.positions():
            where = (tp.topic, tp.partition)
            at = resume.get(where, 0)
            if read.get(where, at) == at and tp.offset > at:
                resume[where] = tp.offset
        offsets = [TopicPartition(t, p, o) for (t, p), o in resume.items()]
        try:
            self.loop.commit(offsets, asynchronous=True)
        except KafkaException as exc:
            log.debug("could not commit monitoring offsets: %s", exc)
