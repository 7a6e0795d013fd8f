"""The transactional consume-decide-produce loop that every single writer shares.

A writer consumes its command topic in batches, decides each command against the state
of the aggregate it names, and appends the resulting events, in one Kafka transaction
with the command offsets (exactly once, as in Confluent's order service). Events go to
partition ``p`` of their topics when the command came from partition ``p``: the writer
of a partition is the only writer of its aggregates.

Its working state (a ``StateStore``) is a cache of the event topics, restored for each
newly assigned partition from the store's checkpoint to the end of the event topics
(through the one merge, ``SeqMerge``) before the partition's first command is decided.
Polling, decoding, dead letters, the transaction and its abort-and-rewind are the one
Kafka loop's (``streams/adapters/kafka_loop.py``). Subclasses say what a command is, how
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
from typing import Any

from confluent_kafka import KafkaError, Message, TopicPartition
from pydantic import BaseModel

from streams.adapters.avro import AvroCodec
from streams.adapters.kafka_loop import CATCH_UP, Batch, Commits, KafkaLoop, UnexpectedRecord, models
from streams.adapters.state_store import StateStore
from streams.adapters.topics import TopicRegistry
from streams.domain.history import SeqMerge
from streams.services.gc_pause import Survivors, gc_paused
from streams.settings import Settings
from streams.shell import metrics
from streams.shell.logging import enter_order_context, leave_order_context

log = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0
"""How long committed states may wait in memory before they are written to the store
with the offsets they reflect. Serialising a state costs about as much as deciding a
command (a journey-1 order's JSON is ~2 KB), and an order is changed by several
transactions a second while it is busy: written once per second instead of once per
transaction. A crash costs a restore of at most about this much more of the topics."""
FLUSH_STATES = 50_000
"""Or as soon as this many states wait (memory)."""

Folder = SeqMerge[Any, Any]
"""What folds the events read back during a restore (``OrderHistories``, say)."""


@dataclass
class WriterStats:
    commands: int = 0
    events: int = 0
    rejected: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    restored_events: int = 0
    transactions: int = 0
    partitions_touched: int = 0
    """Event partitions appended to, summed over the transactions (see ``touched``)."""
    requests: int = 0
    inventory_commands: int = 0
    timeouts: int = 0
    started: float = field(default_factory=time.monotonic)

    def touched(self, partitions: int) -> None:
        """A committed transaction appended to ``partitions`` event partitions: what its
        commit cost the broker grows with them (``python -m bench.commit_cost``)."""
        self.transactions += 1
        self.partitions_touched += partitions
        metrics.TRANSACTION_PARTITIONS.observe(partitions)


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
        self.stats = WriterStats()
        self._commands_topic = commands_topic
        self._event_topics = event_topics
        self._produced: dict[tuple[str, int], int] = {}
        self._offsets: dict[tuple[str, int], int] = {}
        self._unflushed: set[tuple[str, int]] = set()
        """Event partitions appended to since the store's last flush."""
        self._flushed_at = time.monotonic()
        group = topics.prefix + group
        self.loop: KafkaLoop[BaseModel] = KafkaLoop(
            settings,
            self._command,
            group=group,
            commits=Commits.TRANSACTIONAL,
            dead_letters=topics.dead_letters,
            batch_size=batch_size,
            # How long an idle writer blocks for a command before it looks at its timers;
            # a command that arrives is handed on at once (the loop never waits to fill a batch).
            poll_timeout=0.05,
            consumer={
                "max.poll.interval.ms": 600_000,
                # Static membership: a restarted writer takes its partitions back at
                # once instead of waiting for its dead predecessor's session to expire.
                "group.instance.id": settings.instance_id,
                "session.timeout.ms": 15_000,
            },
            producer={
                "transactional.id": f"{group}-{settings.instance_id}",
                # Events are sent while the batch is still being decided, so that the
                # commit (which sends what is left at once) waits for less; batches still
                # fill under load (batch.num.messages). 20 ms left it all to the commit.
                "linger.ms": 5,
                "batch.num.messages": 10_000,
                "queue.buffering.max.messages": 500_000,
            },
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
        )
        assert self.loop.publisher is not None
        self._producer = self.loop.publisher.producer
        self._survivors = Survivors()
        self._restorer: KafkaLoop[BaseModel] = KafkaLoop(
            settings, models(codec, BaseModel), consumer=CATCH_UP, name=f"{group} restore", batch_size=5000
        )

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

        def handle(batch: Batch[BaseModel]) -> None:
            self._process(batch)
            if on_batch is not None:
                on_batch()

        def tick() -> None:
            self._flush_if_due()
            self._tick()

        self.loop.subscribe([self._commands_topic])
        try:
            self.loop.run(handle, stop, tick=tick)
        finally:
            self.store.discard_pending()  # an interrupted transaction's, if any
            self._flush()
            self.loop.close()
            self._restorer.close()
            self._closing()

    def _command(self, msg: Message) -> BaseModel:
        command = self.codec.decode(msg.value() or b"")
        if not self._accepts(command):
            raise UnexpectedRecord(f"{type(command).__name__} is not a command for this writer")
        return command

    # -- rebalance
    def _on_assign(self, partitions: list[TopicPartition]) -> None:
        self._restore(sorted({tp.partition for tp in partitions}))
        self._assigned({tp.partition for tp in partitions})

    def _on_revoke(self, partitions: list[TopicPartition]) -> None:
        # Another writer may own these aggregates next; our cache must not outlive that,
        # and what we committed is written with its offsets before it goes.
        self.store.discard_pending()
        self._flush()
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
        began = time.monotonic()
        with gc_paused():
            for batch in self._restorer.read_to_end(start):
                add = folder.add
                for event in batch.records:
                    add(event)
                folded += len(batch.records)
        if folder.held:
            log.error("partitions %s: %d events wait for missing predecessors", partitions, folder.held)
        checkpoint = {**start, **{(tp.topic, tp.partition): tp.offset for tp in self._restorer.positions()}}
        self._restorer.unassign()  # else it fetches every event we append, to no one
        self._offsets.update(checkpoint)
        self._unflushed.update(checkpoint)
        self._flush()
        self._survivors.settle()
        self.stats.restored_events += folded
        if folded:
            log.info(
                "partitions %s: restored %d events in %.1fs", partitions, folded, time.monotonic() - began
            )

    # -- the hot path
    def _process(self, batch: Batch[BaseModel]) -> None:
        def work() -> None:
            apply = self._apply
            for command, msg in zip(batch.records, batch.messages, strict=True):
                env = command.envelope  # type: ignore[attr-defined]
                partition = msg.partition()
                ids = {
                    "order_id": getattr(env, "order_id", None),  # inventory commands name a SKU@source
                    "correlation_id": env.correlation_id,
                    "causation_id": env.command_id,
                    "partition": partition,
                    "offset": msg.offset(),
                }
                context = enter_order_context(ids)  # order_context's, without a ``with`` per command
                try:
                    apply(command, partition or 0)
                finally:
                    leave_order_context(context)

        self.stats.commands += len(batch.records) + len(batch.rejects)
        self.stats.dead_letters += len(batch.rejects)
        with gc_paused():
            self._transaction(work, batch)
            # Inside the pause: enabled first, the collector would walk the batch's young
            # objects at the next allocation, and ``settle`` walks them again.
            self._survivors.settle()

    def _transaction(self, work: Callable[[], None], batch: Batch[BaseModel] | None) -> bool:
        """Run ``work`` (which produces) in one Kafka transaction, with the ``batch``'s
        offsets if any; then persist the states it changed. False if aborted (the loop
        rewinds the batch, to be decided again)."""
        self._produced = {}
        if not self.loop.transaction(work, batch):
            self.store.discard_pending()
            return False
        self.stats.touched(len(self._produced))
        self.store.commit_pending()
        for key, offset in self._produced.items():
            self._offsets[key] = offset + 1
        self._unflushed.update(self._produced)
        self._flush_if_due()
        return True

    def _flush_if_due(self) -> None:
        if self.store.unflushed >= FLUSH_STATES or time.monotonic() - self._flushed_at >= FLUSH_SECONDS:
            self._flush()

    def _flush(self) -> None:
        """Write the committed states with the offsets they reflect (``FLUSH_SECONDS``)."""
        self.store.flush({key: self._offsets[key] for key in self._unflushed})
        self._unflushed.clear()
        self._flushed_at = time.monotonic()

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        """Each appended event's delivery report: the highest offset per partition. Called
        once per event, so ``kafka.where`` and ``offset_of`` are spelled out here."""
        if err is None:
            key = (msg.topic() or "", msg.partition() or 0)
            offset = msg.offset() or 0
            if offset > self._produced.get(key, -1):
                self._produced[key] = offset

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
