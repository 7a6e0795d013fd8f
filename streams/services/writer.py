"""The order writer: the one process that appends events to an order's history.

It consumes ``order.commands`` in batches, decides each command against the order's
state with the flows' reactions, and appends the resulting events, in one Kafka
transaction with the command offsets (the loop in ``transactional.py``). Events go to
partition ``p`` of their topic when the command came from partition ``p``: the writer
of a partition is the only writer of its orders. Provider requests leave through the
same transaction (an outbox), as does the ``CreateOrder`` of a return's replacement order,
and timers turn a provider's silence past its deadline into a failed attempt.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from streams.adapters.avro import AvroCodec
from streams.adapters.flow_definitions import FlowCatalogFeed
from streams.adapters.kafka import partition_for
from streams.adapters.order_store import OrderStore
from streams.adapters.topics import TopicRegistry
from streams.domain.commands import (
    Command,
    CommandRejected,
    ProviderActionRequest,
)
from streams.domain.errors import DomainError
from streams.domain.events import Event, ProviderActionRequested, ReplacementOrdered
from streams.domain.history import OrderHistories
from streams.domain.orchestration import FlowEngine, process
from streams.domain.order import OrderState
from streams.domain.order_handling import DEFAULT_HANDLING, OrderHandling
from streams.domain.preorders import NO_PRODUCTS, ProductCatalog
from streams.domain.returns import replacement_order
from streams.domain.transitions import TransitionTable
from streams.services.transactional import Folder, TransactionalWriter, WriterStats
from streams.settings import Settings

log = logging.getLogger(__name__)

WRITER_GROUP = "oms-order-writer"

__all__ = ["WRITER_GROUP", "OrderWriter", "WriterStats"]


class OrderWriter(TransactionalWriter):
    def __init__(
        self,
        settings: Settings,
        topics: TopicRegistry,
        codec: AvroCodec,
        store: OrderStore,
        transitions: TransitionTable,
        batch_size: int = 2000,
        flows: FlowCatalogFeed | None = None,
        handling: OrderHandling = DEFAULT_HANDLING,
        products: ProductCatalog = NO_PRODUCTS,
    ) -> None:
        super().__init__(
            settings,
            topics,
            codec,
            store,
            group=WRITER_GROUP,
            commands_topic=topics.commands,
            event_topics=topics.event_topics(),
            batch_size=batch_size,
        )
        self.store: OrderStore = store
        self.transitions = transitions
        self.flows = flows
        self.engine = FlowEngine(flows.catalog, handling, products) if flows is not None else None
        self._timers: dict[str, datetime] = {}

    # -- the loop's hooks
    def _accepts(self, record: BaseModel) -> bool:
        return isinstance(record, Command)

    def _folder(self) -> Folder:
        return OrderHistories(self.store)

    def _tick(self) -> None:
        self._sweep()
        if self.flows is not None:
            self.flows.poll()

    def _assigned(self, partitions: set[int]) -> None:
        self._load_timers(partitions)

    def _revoked(self, partitions: set[int]) -> None:
        for order_id in [o for o in self._timers if partition_for(o, self.topics.partitions) in partitions]:
            del self._timers[order_id]

    def _closing(self) -> None:
        if self.flows is not None:
            self.flows.close()

    # -- deciding
    def _apply(self, command: Any, partition: int) -> None:
        """Decide ``command`` and the flow's reactions; append, request, reject as they say."""
        order_id = command.envelope.order_id
        state = self.store.get(order_id)
        try:
            outcome = process(command, state, self.engine, self.transitions)
        except DomainError as exc:
            self._reject(command, partition, str(exc))
            return
        if outcome.duplicate:
            self.stats.duplicates += 1
            log.debug(
                "%s %s of %s was decided before: ignored",
                type(command).__name__,
                command.envelope.command_id,
                order_id,
            )
            return
        for event in outcome.events:
            self._append(event, partition)
            if isinstance(event, ProviderActionRequested):
                self._request(event, outcome.state, partition)
            elif isinstance(event, ReplacementOrdered) and outcome.state is not None:
                self._order_replacement(event, outcome.state)
        for refused, error in outcome.refused:
            self._reject(refused, partition, str(error))
        if outcome.events and outcome.state is not None:
            self.store[order_id] = outcome.state
            self._watch(outcome.state)

    def _append(self, event: Event, partition: int) -> None:
        self._produce_event(self.topics.event_topic(type(event)), event.envelope.order_id, event, partition)

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

    def _order_replacement(self, event: ReplacementOrdered, state: OrderState) -> None:
        """The outbox again: the replacement order's create leaves in the transaction that
        records it, to the partition of its own order (its id derives from the return, so
        a redelivery is the same create)."""
        create = replacement_order(state, event, event.envelope.occurred_at)
        self._producer.produce(
            self.topics.commands, key=create.envelope.order_id.encode(), value=self.codec.encode(create)
        )

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
                    timeout = pending.timed_out(order_id, now)
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
