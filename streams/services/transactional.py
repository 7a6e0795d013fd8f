"""The transactional consume-decide-produce loop that every single writer shares.

A writer consumes its command topic in batches, decides each command against the state
of the aggregate it names, and appends the resulting events, in one Kafka transaction
with the command offsets (exactly once, as in Confluent's order service). Events go to
partition ``p`` of their topics when the command came from partition ``p``: the writer
of a partition is the only writer of its aggregates.

Its working state (a ``StateStore``) is a cache of the event topics, restored for each
newly assigned partition from the store's checkpoint to the end of the event topics
before the partition's first command is decided. Subclasses say what a command is, how
events fold, and what deciding means: the order writer (``writer.py``) and the
inventory writer (``inventory_writer.py``).
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from pydantic import BaseModel

from streams.adapters.avro import AvroCodec, UndecodableRecord
from streams.adapters.kafka import (
    consumer_config,
    dead_letter,
    offset_of,
    producer_config,
    read_to_end,
    value_of,
    where,
)
from streams.adapters.state_store import StateStore
from streams.adapters.topics import TopicRegistry
from streams.services.gc_pause import gc_paused
from streams.settings import Settings
from streams.shell import metrics
from streams.shell.logging import order_context

log = logging.getLogger(__name__)


@dataclass
class WriterStats:
    commands: int = 0
    events: int = 0
    rejected: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    restored_events: int = 0
    transactions: int = 0
    requests: int = 0
    timeouts: int = 0
    started: float = field(default_factory=time.monotonic)


class Folder(Protocol):
    """Folds events read back during a restore (e.g. ``OrderHistories``)."""

    def add(self, event: Any) -> None: ...

    @property
    def held(self) -> int: ...


class TransactionalWriter(ABC):
    """One writer process of a group: its partitions' aggregates, decided and appended."""

    def __init__(
        self,
        settings: Settings,
        topics: TopicRegistry,
        codec: AvroCodec,
        store: StateStore[Any],
        *,
        group: str,
        commands_topic: str,
        event_topics: list[str],
        batch_size: int,
    ) -> None:
        self.settings = settings
        self.topics = topics
        self.codec = codec
        self.store = store
        self.batch_size = batch_size
        self.poll_timeout = 0.05
        """How long a poll waits for a batch to fill: short, so a lone command waits little."""
        self.stats = WriterStats()
        self._commands_topic = commands_topic
        self._event_topics = event_topics
        self._produced: dict[tuple[str, int], int] = {}
        self._offsets: dict[tuple[str, int], int] = {}
        group = topics.prefix + group
        self._consumer = Consumer(
            consumer_config(
                settings,
                group,
                **{
                    "max.poll.interval.ms": 600_000,
                    # Static membership: a restarted writer takes its partitions back at
                    # once instead of waiting for its dead predecessor's session to expire.
                    "group.instance.id": settings.instance_id,
                    "session.timeout.ms": 15_000,
                },
            )
        )
        self._producer = Producer(
            producer_config(
                settings,
                **{
                    "transactional.id": f"{group}-{settings.instance_id}",
                    "linger.ms": 20,
                    "batch.num.messages": 10_000,
                    "queue.buffering.max.messages": 500_000,
                },
            )
        )
        self._restorer = Consumer(consumer_config(settings, None, **{"enable.partition.eof": True}))

    # -- what a subclass says
    @abstractmethod
    def _accepts(self, record: BaseModel) -> bool:
        """Whether a decoded record is one of this writer's commands."""

    @abstractmethod
    def _apply(self, command: Any, partition: int) -> None:
        """Decide ``command`` and produce what it causes (inside the open transaction)."""

    @abstractmethod
    def _folder(self) -> Folder:
        """What folds the events read back into ``self.store`` during a restore."""

    def _tick(self) -> None:
        """Called about twice a second between batches (timers, new configuration)."""
        return None

    def _assigned(self, partitions: set[int]) -> None:
        """After the newly assigned partitions were restored."""
        return None

    def _revoked(self, partitions: set[int]) -> None:
        """After partitions were taken away."""
        return None

    def _closing(self) -> None:
        """When the loop ends."""
        return None

    # -- lifecycle
    def run(self, stop: threading.Event | None = None, on_batch: Callable[[], None] | None = None) -> None:
        """Process commands until ``stop`` is set."""
        stop = stop or threading.Event()
        self._producer.init_transactions(30)
        self._consumer.subscribe([self._commands_topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        last_tick = 0.0
        try:
            while not stop.is_set():
                msgs = self._consumer.consume(self.batch_size, self.poll_timeout)
                batch = [m for m in msgs if self._usable(m)]
                if batch:
                    self._process(batch)
                    if on_batch is not None:
                        on_batch()
                if time.monotonic() - last_tick >= 0.5:
                    last_tick = time.monotonic()
                    self._tick()
        finally:
            self._consumer.close()
            self._restorer.close()
            self._producer.flush(10)
            self._closing()

    @staticmethod
    def _usable(msg: Message) -> bool:
        err = msg.error()
        if err is None:
            return True
        if err.code() == KafkaError._PARTITION_EOF:
            return False
        raise KafkaException(err)

    # -- rebalance
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._restore(sorted({tp.partition for tp in partitions}))
        self._assigned({tp.partition for tp in partitions})

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Another writer may own these aggregates next; our cache must not outlive that.
        self.store.discard_pending()
        self._revoked({tp.partition for tp in partitions})

    def _restore(self, partitions: list[int]) -> None:
        """Fold the events appended since the checkpoint (by us before a crash, or by the
        partitions' previous owner), so the first command sees the latest state. All newly
        assigned partitions are read in one pass: each end-of-partition wait overlaps."""
        start: dict[tuple[str, int], int] = {}
        for partition in partitions:
            start.update(self.store.checkpoint(self._event_topics, partition))
        folder = self._folder()
        folded = 0
        last: dict[tuple[str, int], int] = {}
        began = time.monotonic()
        with gc_paused():
            for batch in read_to_end(self._restorer, start):
                for msg in batch:
                    last[where(msg)] = offset_of(msg) + 1
                    try:
                        event = self.codec.decode(value_of(msg))
                    except UndecodableRecord as exc:
                        at = f"{msg.topic()}[{msg.partition()}]@{msg.offset()}"
                        log.error("skipping undecodable event %s during restore: %s", at, exc)
                        continue
                    folder.add(event)
                    folded += 1
        if folder.held:
            log.error("partitions %s: %d events wait for missing predecessors", partitions, folder.held)
        checkpoint = {**start, **last}
        self.store.flush(checkpoint)
        self._offsets.update(checkpoint)
        self.stats.restored_events += folded
        if folded:
            log.info(
                "partitions %s: restored %d events in %.1fs", partitions, folded, time.monotonic() - began
            )

    # -- the hot path
    def _process(self, batch: list[Message]) -> None:
        def work() -> None:
            for msg in batch:
                self._handle(msg)

        def offsets() -> list[TopicPartition]:
            return self._consumer.position([TopicPartition(t, p) for t, p in {where(m) for m in batch}])

        with gc_paused():
            done = self._transaction(work, offsets)
        if not done:
            self._rewind(batch)

    def _transaction(
        self, work: Callable[[], None], offsets: Callable[[], list[TopicPartition]] | None
    ) -> bool:
        """Run ``work`` (which produces) in one Kafka transaction, with the consumed
        ``offsets`` if any; then persist the states it changed. False if aborted."""
        producer = self._producer
        self._produced = {}
        producer.begin_transaction()
        try:
            work()
            if offsets is not None:
                producer.send_offsets_to_transaction(offsets(), self._consumer.consumer_group_metadata(), 30)
            with metrics.TRANSACTION_COMMIT_SECONDS.time():
                producer.commit_transaction(60)
        except KafkaException as exc:
            error = exc.args[0]
            if isinstance(error, KafkaError) and error.txn_requires_abort():
                log.warning("aborting transaction: %s; the batch will be read again", error)
                producer.abort_transaction(30)
                self.store.discard_pending()
                return False
            raise
        self.stats.transactions += 1
        for key, offset in self._produced.items():
            self._offsets[key] = offset + 1
        self.store.flush({k: v for k, v in self._offsets.items() if k in self._produced})
        return True

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            key = where(msg)
            self._produced[key] = max(offset_of(msg), self._produced.get(key, -1))

    def _produce_event(self, topic: str, key: str, value: BaseModel, partition: int) -> None:
        """Append an event: its offset moves the store's checkpoint once the transaction commits."""
        self._producer.produce(
            topic,
            key=key.encode(),
            value=self.codec.encode(value),
            partition=partition,
            on_delivery=self._delivered,
        )
        self.stats.events += 1

    def _handle(self, msg: Message) -> None:
        self.stats.commands += 1
        metrics.RECORDS_CONSUMED.labels(topic=msg.topic()).inc()
        try:
            command = self.codec.decode(value_of(msg))
            if not self._accepts(command):
                raise UndecodableRecord(f"{type(command).__name__} is not a command for this writer")
        except UndecodableRecord as exc:
            dead_letter(self._producer, self.topics.dead_letters, msg, str(exc))
            self.stats.dead_letters += 1
            metrics.DEAD_LETTERS.labels(topic=msg.topic(), reason="undecodable").inc()
            return
        env = getattr(command, "envelope", None)
        with order_context(
            order_id=getattr(env, "order_id", None),
            correlation_id=getattr(env, "correlation_id", None),
            causation_id=getattr(env, "command_id", None),
            partition=msg.partition(),
            offset=msg.offset(),
        ):
            self._apply(command, where(msg)[1])

    def _rewind(self, batch: list[Message]) -> None:
        firsts: dict[tuple[str, int], int] = {}
        for m in batch:
            key = where(m)
            firsts[key] = min(firsts.get(key, offset_of(m)), offset_of(m))
        for (topic, partition), offset in firsts.items():
            self._consumer.seek(TopicPartition(topic, partition, offset))
