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
from streams.adapters.flow_definitions import FlowCatalogFeed
from streams.adapters.kafka import (
    consumer_config,
    dead_letter,
    offset_of,
    partition_for,
    producer_config,
    read_to_end,
    value_of,
    where,
)
from streams.adapters.order_store import OrderStore
from streams.adapters.topics import TopicRegistry
from streams.domain.commands import (
    Command,
    CommandEnvelope,
    CommandRejected,
    ProviderActionRequest,
    RecordActionResult,
)
from streams.domain.errors import DomainError
from streams.domain.events import Event, ProviderActionRequested
from streams.domain.history import OrderHistories
from streams.domain.orchestration import FlowEngine, process
from streams.domain.order import OrderState
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
    requests: int = 0
    timeouts: int = 0
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
        flows: FlowCatalogFeed | None = None,
    ) -> None:
        self.settings = settings
        self.topics = topics
        self.codec = codec
        self.store = store
        self.transitions = transitions
        self.batch_size = batch_size
        self.flows = flows
        self.engine = FlowEngine(flows.catalog) if flows is not None else None
        self._timers: dict[str, datetime] = {}
        self._produced: dict[tuple[str, int], int] = {}
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
        last_tick = 0.0
        try:
            while not stop.is_set():
                msgs = self._consumer.consume(self.batch_size, 0.2)
                batch = [m for m in msgs if self._usable(m)]
                if batch:
                    self._process(batch)
                    if on_batch is not None:
                        on_batch()
                if time.monotonic() - last_tick >= 0.5:
                    last_tick = time.monotonic()
                    self._sweep()
                    if self.flows is not None:
                        self.flows.poll()
        finally:
            self._consumer.close()
            self._restorer.close()
            self._producer.flush(10)
            if self.flows is not None:
                self.flows.close()

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
        self._load_timers({tp.partition for tp in partitions})

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Another writer may own these orders next; our cache must not outlive that.
        self.store.discard_pending()
        gone = {tp.partition for tp in partitions}
        for order_id in [o for o in self._timers if partition_for(o, self.topics.partitions) in gone]:
            del self._timers[order_id]

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
        def work() -> None:
            for msg in batch:
                self._handle(msg)

        def offsets() -> list[TopicPartition]:
            return self._consumer.position([TopicPartition(t, p) for t, p in {where(m) for m in batch}])

        if not self._transaction(work, offsets):
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

    def _handle(self, msg: Message) -> None:
        self.stats.commands += 1
        try:
            command = self.codec.decode(value_of(msg))
            if not isinstance(command, Command):
                raise UndecodableRecord(f"{type(command).__name__} is not a command")
        except UndecodableRecord as exc:
            dead_letter(self._producer, self.topics.dead_letters, msg, str(exc))
            self.stats.dead_letters += 1
            return
        self._apply(command, where(msg)[1])

    def _apply(self, command: Command, partition: int) -> None:
        """Decide ``command`` and the flow's reactions; append, request, reject as they say."""
        order_id = command.envelope.order_id
        state = self.store.get(order_id)
        try:
            outcome = process(command, state, self.engine, self.transitions)
        except DomainError as exc:
            self._reject(command, partition, str(exc))
            return
        for event in outcome.events:
            self._append(event, partition)
            if isinstance(event, ProviderActionRequested):
                self._request(event, outcome.state, partition)
        for refused, error in outcome.refused:
            self._reject(refused, partition, str(error))
        if outcome.events and outcome.state is not None:
            self.store[order_id] = outcome.state
            self._watch(outcome.state)

    def _append(self, event: Event, partition: int) -> None:
        self._producer.produce(
            self.topics.event_topic(type(event)),
            key=event.envelope.order_id.encode(),
            value=self.codec.encode(event),
            partition=partition,
            on_delivery=self._delivered,
        )
        self.stats.events += 1

    def _request(self, event: ProviderActionRequested, state: OrderState | None, partition: int) -> None:
        """The outbox: the history says a provider was asked; this asks it."""
        env = event.envelope
        request = ProviderActionRequest(
            action_id=event.action_id,
            order_id=env.order_id,
            provider=event.provider,
            action=event.action,
            step=event.step,
            attempt=event.attempt,
            params=event.params,
            not_before=event.not_before,
            deadline=event.deadline,
            correlation_id=env.correlation_id,
            order_json=state.model_dump_json() if state is not None else "{}",
        )
        self._producer.produce(
            self.topics.provider_requests(event.provider),
            key=env.order_id.encode(),
            value=self.codec.encode(request),
            partition=partition,
        )
        self.stats.requests += 1

    def _reject(self, command: Command, partition: int, error: str) -> None:
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
            partition=partition,
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

    # -- timers: a provider action past its deadline counts as failed
    def _watch(self, state: OrderState) -> None:
        if state.pending_actions:
            self._timers[state.order_id] = min(p.deadline for p in state.pending_actions)
        else:
            self._timers.pop(state.order_id, None)

    def _sweep(self, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        due = [order_id for order_id, deadline in self._timers.items() if deadline <= now]
        if not due:
            return

        def work() -> None:
            for order_id in due:
                state = self.store.get(order_id)
                if state is None:
                    self._timers.pop(order_id, None)
                    continue
                for pending in state.pending_actions:
                    if pending.deadline > now:
                        continue
                    waited = (pending.deadline - pending.not_before).total_seconds()
                    timeout = RecordActionResult(
                        envelope=CommandEnvelope(
                            command_id=f"timeout/{pending.action_id}",
                            order_id=order_id,
                            issued_at=now,
                            correlation_id=f"timer/{order_id}",
                            source="writer:timer",
                        ),
                        action_id=pending.action_id,
                        success=False,
                        details=f"no answer from {pending.provider} within {waited:.0f}s",
                    )
                    self.stats.timeouts += 1
                    self._apply(timeout, partition_for(order_id, self.topics.partitions))
                    state = self.store.get(order_id) or state
                if not state.pending_actions:
                    self._timers.pop(order_id, None)

        self._transaction(work, None)

    def _load_timers(self, partitions: set[int]) -> None:
        for order_id, deadline in self.store.deadlines():
            if partition_for(order_id, self.topics.partitions) in partitions:
                self._timers[order_id] = deadline
