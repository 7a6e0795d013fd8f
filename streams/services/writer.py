"""The order writer: the one process that appends events to an order's history.

It consumes ``order.commands`` in batches, decides each command against the order's
state, and appends the resulting events, in one Kafka transaction with the command
offsets (consume-decide-produce, exactly once, as in Confluent's order service). Events
go to partition ``p`` of their topic when the command came from partition ``p``: the
writer of a partition is the only writer of its orders.

Its working state (``OrderStore``) is restored for each newly assigned partition, from
the store's checkpoint to the end of the event topics, before that partition's first
command is decided.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

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
from streams.adapters.order_store import OrderStore
from streams.adapters.topics import TopicRegistry
from streams.domain.commands import Command, CommandRejected
from streams.domain.decider import decide
from streams.domain.errors import DomainError
from streams.domain.events import Event
from streams.domain.history import OrderHistories
from streams.domain.order import evolve
from streams.domain.transitions import TransitionTable
from streams.settings import Settings

log = logging.getLogger(__name__)

WRITER_GROUP = "oms-order-writer"


@dataclass
class WriterStats:
    commands: int = 0
    events: int = 0
    rejected: int = 0
    dead_letters: int = 0
    restored_events: int = 0
    transactions: int = 0
    started: float = field(default_factory=time.monotonic)


class OrderWriter:
    def __init__(
        self,
        settings: Settings,
        topics: TopicRegistry,
        codec: AvroCodec,
        store: OrderStore,
        transitions: TransitionTable,
        batch_size: int = 2000,
    ) -> None:
        self.settings = settings
        self.topics = topics
        self.codec = codec
        self.store = store
        self.transitions = transitions
        self.batch_size = batch_size
        self.stats = WriterStats()
        self._event_topics = topics.event_topics()
        self._offsets: dict[tuple[str, int], int] = {}
        group = topics.prefix + WRITER_GROUP
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

    # -- lifecycle
    def run(self, stop: threading.Event | None = None, on_batch: Callable[[], None] | None = None) -> None:
        """Process commands until ``stop`` is set."""
        stop = stop or threading.Event()
        self._producer.init_transactions(30)
        self._consumer.subscribe([self.topics.commands], on_assign=self._on_assign, on_revoke=self._on_revoke)
        try:
            while not stop.is_set():
                msgs = self._consumer.consume(self.batch_size, 0.2)
                batch = [m for m in msgs if self._usable(m)]
                if batch:
                    self._process(batch)
                    if on_batch is not None:
                        on_batch()
        finally:
            self._consumer.close()
            self._restorer.close()
            self._producer.flush(10)

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
        for tp in partitions:
            self._restore(tp.partition)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Another writer may own these orders next; our cache must not outlive that.
        self.store.discard_pending()

    def _restore(self, partition: int) -> None:
        """Fold the events appended since the checkpoint (by us before a crash, or by the
        partition's previous owner), so the first command sees the latest state."""
        start = self.store.checkpoint(self._event_topics, partition)
        histories = OrderHistories(self.store)
        folded = 0
        last: dict[tuple[str, int], int] = {}
        began = time.monotonic()
        for batch in read_to_end(self._restorer, start):
            for msg in batch:
                last[where(msg)] = offset_of(msg) + 1
                try:
                    event = self.codec.decode(value_of(msg))
                except UndecodableRecord as exc:
                    log.error(
                        "skipping undecodable event %s[%s]@%s during restore: %s",
                        msg.topic(),
                        msg.partition(),
                        msg.offset(),
                        exc,
                    )
                    continue
                histories.add(event)  # type: ignore[arg-type]
                folded += 1
        if histories.held:
            log.error(
                "partition %s: %d events wait for missing predecessors: %s",
                partition,
                histories.held,
                histories.held_orders(),
            )
        checkpoint = {**start, **last}
        self.store.flush(checkpoint)
        self._offsets.update({k: v for k, v in checkpoint.items()})
        self.stats.restored_events += folded
        if folded:
            log.info(
                "partition %s: restored %d events in %.1fs",
                partition,
                folded,
                time.monotonic() - began,
            )

    # -- the hot path
    def _process(self, batch: list[Message]) -> None:
        producer = self._producer
        produced: dict[tuple[str, int], int] = {}

        def delivered(err: KafkaError | None, msg: Message) -> None:
            if err is None:
                key = where(msg)
                produced[key] = max(offset_of(msg), produced.get(key, -1))

        producer.begin_transaction()
        try:
            for msg in batch:
                self._handle(msg, delivered)
            positions = self._consumer.position([TopicPartition(t, p) for t, p in {where(m) for m in batch}])
            producer.send_offsets_to_transaction(positions, self._consumer.consumer_group_metadata(), 30)
            producer.commit_transaction(60)
        except KafkaException as exc:
            error = exc.args[0]
            if isinstance(error, KafkaError) and error.txn_requires_abort():
                log.warning("aborting transaction: %s; re-reading the batch", error)
                producer.abort_transaction(30)
                self.store.discard_pending()
                self._rewind(batch)
                return
            raise
        self.stats.transactions += 1
        for key, offset in produced.items():
            self._offsets[key] = offset + 1
        self.store.flush({k: v for k, v in self._offsets.items() if k in produced})

    def _handle(self, msg: Message, delivered: Callable[[KafkaError | None, Message], None]) -> None:
        self.stats.commands += 1
        try:
            command = self.codec.decode(value_of(msg))
            if not isinstance(command, Command):
                raise UndecodableRecord(f"{type(command).__name__} is not a command")
        except UndecodableRecord as exc:
            dead_letter(self._producer, self.topics.dead_letters, msg, str(exc))
            self.stats.dead_letters += 1
            return
        order_id = command.envelope.order_id
        state = self.store.get(order_id)
        try:
            events = decide(command, state, self.transitions)
        except DomainError as exc:
            self._reject(command, msg, str(exc))
            return
        for event in events:
            self._append(event, where(msg)[1], delivered)
            state = evolve(state, event)
        if events and state is not None:
            self.store[order_id] = state

    def _append(
        self, event: Event, partition: int, delivered: Callable[[KafkaError | None, Message], None]
    ) -> None:
        self._producer.produce(
            self.topics.event_topic(type(event)),
            key=event.envelope.order_id.encode(),
            value=self.codec.encode(event),
            partition=partition,
            on_delivery=delivered,
        )
        self.stats.events += 1

    def _reject(self, command: Command, msg: Message, error: str) -> None:
        env = command.envelope
        rejection = CommandRejected(
            command_id=env.command_id,
            order_id=env.order_id,
            command_type=type(command).__name__,
            error=error,
            correlation_id=env.correlation_id,
            rejected_at=datetime.now(UTC),
        )
        self._producer.produce(
            self.topics.rejections,
            key=env.order_id.encode(),
            value=self.codec.encode(rejection),
            partition=where(msg)[1],
        )
        self.stats.rejected += 1
        log.info("rejected %s: %s", type(command).__name__, error)

    def _rewind(self, batch: list[Message]) -> None:
        firsts: dict[tuple[str, int], int] = {}
        for m in batch:
            key = where(m)
            firsts[key] = min(firsts.get(key, offset_of(m)), offset_of(m))
        for (topic, partition), offset in firsts.items():
            self._consumer.seek(TopicPartition(topic, partition, offset))
