"""The operations monitor: error queues, alerts and insights, fed from the live stream.

One thread folds every event topic (with ``OrderHistories``, strictly by seq), the
writer's rejections and the dead letters, from the beginning, into the pure engines:
``ErrorQueue``, ``AlertEngine`` and ``Insights``. What they derive is published:
``ErrorRecorded``/``ErrorResolved`` to ``oms.errors`` and ``AlertChanged`` to
``oms.alerts`` (and to the alert webhook). Both topics are read first, so a restart
publishes nothing twice (ids derive from causes) and keeps what operators did (alerts
taken, reprocesses asked). Alerts tick only once the stream is caught up: an alert for an
old order whose later events are still unread would be a false one.

It also acts for the API and the CLI: reprocess errors, take alerts, pause and resume.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from confluent_kafka import OFFSET_BEGINNING, Message
from pydantic import BaseModel

from streams.adapters.avro import AvroCodec, UndecodableRecord
from streams.adapters.control_feed import ControlFeed, publish_control
from streams.adapters.flow_files import FlowFileError
from streams.adapters.kafka import partition_for
from streams.adapters.kafka_loop import Batch, KafkaLoop, Publisher, models, read_all
from streams.adapters.topics import TopicRegistry
from streams.domain.alerts import AlertChanged, AlertEngine, AlertRules
from streams.domain.commands import CommandRejected
from streams.domain.control import PauseTarget, TargetPaused, TargetResumed
from streams.domain.error_queue import (
    ErrorQuery,
    ErrorQueue,
    ErrorRecorded,
    ErrorResolved,
    QueuedError,
    ReprocessPlan,
    plan_reprocess,
)
from streams.domain.events import Event
from streams.domain.history import OrderHistories
from streams.domain.insights import Insights, InsightSettings, InsightsSnapshot
from streams.domain.order import OrderState
from streams.services.gc_pause import gc_paused
from streams.services.what_if import NoOrders, load_draft_text, report_json, run_what_if
from streams.settings import Settings

log = logging.getLogger(__name__)

AlertSink = Callable[[AlertChanged], None]
"""Told of every alert change as it is published (the webhook)."""


def read_error_queue(settings: Settings, topics: TopicRegistry, codec: AvroCodec) -> ErrorQueue:
    """The error queues as ``oms.errors`` has them now (for ``oms reprocess``)."""
    queue = ErrorQueue()
    for record in read_all(
        settings, {(topics.errors, p): 0 for p in range(topics.partitions)}, models(codec, BaseModel)
    ):
        if isinstance(record, ErrorRecorded | ErrorResolved):
            queue.apply(record)
    return queue


def _decoded(codec: AvroCodec, msg: Message) -> BaseModel | None:
    try:
        return codec.decode(msg.value())  # type: ignore[arg-type]  # None: undecodable
    except UndecodableRecord:
        return None


@dataclass
class MonitorStats:
    events: int = 0
    rejections: int = 0
    dead_letters: int = 0
    published: int = 0
    caught_up: bool = False


class OperationsMonitor:
    """The engines and what feeds them; any thread may read, under the lock."""

    def __init__(
        self,
        settings: Settings,
        topics: TopicRegistry,
        codec: AvroCodec,
        rules: AlertRules,
        insight_settings: InsightSettings | None = None,
        alert_sinks: Iterable[AlertSink] = (),
    ) -> None:
        self.settings, self.topics, self.codec = settings, topics, codec
        self.errors = ErrorQueue()
        self.alerts = AlertEngine(rules)
        self.insights = Insights(
            insight_settings or InsightSettings(default_promise_hours=rules.default_promise_hours)
        )
        self.stats = MonitorStats()
        self.lock = threading.RLock()
        self._sinks = list(alert_sinks)
        self._publisher = Publisher(settings)
        self._histories = OrderHistories(on_applied=self._applied)
        self._derived: list[BaseModel] = []
        self.control = ControlFeed(settings, topics, codec)

    # -- folding (the monitor's thread)
    def _applied(self, event: Event, state: OrderState, origin: object) -> None:
        self._derived += self.errors.observe_event(event)
        self._derived += self.alerts.observe(event, state)
        self.insights.observe(event, state)

    def restore(self) -> None:
        """What was published before: known errors and alerts are not published again."""
        start = {(self.topics.errors, p): 0 for p in range(self.topics.partitions)}
        start[(self.topics.alerts, 0)] = 0
        for record in read_all(self.settings, start, models(self.codec, BaseModel)):
            if isinstance(record, ErrorRecorded | ErrorResolved):
                self.errors.apply(record)
            elif isinstance(record, AlertChanged):
                self.alerts.apply(record)

    def fold(self, msgs: list[Message]) -> None:
        with self.lock, gc_paused():
            for msg in msgs:
                self._fold_one(msg)
            self._publish(self._derived)
            self._derived = []

    def _fold_one(self, msg: Message) -> None:
        topic = msg.topic()
        if topic == self.topics.dead_letters:
            self.stats.dead_letters += 1
            _, millis = msg.timestamp()
            self.alerts.observe_dead_letter(datetime.fromtimestamp(millis / 1000, UTC))
            return
        record = _decoded(self.codec, msg)
        if isinstance(record, CommandRejected):
            self.stats.rejections += 1
            self._derived += self.errors.observe_rejection(record)
        elif isinstance(record, Event):
            self.stats.events += 1
            try:
                self._histories.add(record)
            except Exception as exc:  # a history the fold refuses: logged, not fatal
                log.error("operations monitor cannot fold %s: %s", record.envelope.event_id, exc)

    def tick(self, now: datetime | None = None) -> None:
        self.control.poll()
        if not self.stats.caught_up:
            return
        with self.lock:
            self._publish(self.alerts.tick(now or datetime.now(UTC)))

    def _publish(self, records: Iterable[BaseModel]) -> None:
        for record in records:
            if isinstance(record, AlertChanged):
                topic, key = self.topics.alerts, record.alert_id
                for sink in self._sinks:
                    sink(record)
            else:
                assert isinstance(record, ErrorRecorded | ErrorResolved)
                topic, key = self.topics.errors, record.error_id
            self._publisher.send(topic, key.encode(), self.codec.encode(record))
            self.stats.published += 1

    # -- reads (any thread)
    def error_list(self, query: ErrorQuery) -> list[QueuedError]:
        """The errors the query finds, as they are now (copies: the queue moves on)."""
        with self.lock:
            return [replace(q) for q in self.errors.query(query)]

    def alert_list(self, include_resolved: bool = False) -> list[AlertChanged]:
        with self.lock:
            return self.alerts.alerts(include_resolved)

    def insight(self, window_minutes: int | None, now: datetime | None = None) -> InsightsSnapshot:
        with self.lock:
            return self.insights.snapshot(now or datetime.now(UTC), window_minutes)

    def paused(self) -> list[TargetPaused]:
        return self.control.pauses.paused()

    # -- actions (any thread)
    def reprocess(
        self, error_ids: Iterable[str] | None, query: ErrorQuery | None, by: str
    ) -> list[ReprocessPlan]:
        """Reprocess the named errors, or every open one the query finds."""
        now = datetime.now(UTC)
        with self.lock:
            ids = (
                list(error_ids)
                if error_ids is not None
                else [q.record.error_id for q in self.errors.query(query or ErrorQuery(state="open"))]
            )
            plans = plan_reprocess(self.errors, ids, now, by)
            for plan in plans:
                if plan.acts:
                    self.errors.mark_reprocessing(plan.error_id, now)
        send_plans(self._publisher, self.codec, self.topics, plans)
        return plans

    def acknowledge(self, alert_id: str, by: str) -> AlertChanged | None:
        with self.lock:
            changed = self.alerts.acknowledge(alert_id, datetime.now(UTC), by)
            if changed is not None:
                self._publish([changed])
                self._publisher.flush(10, "alert changes")
        return changed

    def pause(self, target: PauseTarget, by: str, reason: str) -> TargetPaused:
        record = TargetPaused(target=target, paused_at=datetime.now(UTC), by=by, reason=reason)
        publish_control(self.settings, self.topics, self.codec, record)
        return record

    def resume(self, target: PauseTarget, by: str) -> TargetResumed:
        record = TargetResumed(target=target, resumed_at=datetime.now(UTC), by=by)
        publish_control(self.settings, self.topics, self.codec, record)
        return record

    def what_if(
        self, flow_yaml: str, since: datetime, until: datetime | None, orders: int | None
    ) -> dict[str, object]:
        """A what-if over the recorded orders (read-only), or ``{"error": why}``."""
        try:
            draft = load_draft_text(flow_yaml)
            return report_json(
                run_what_if(self.settings, self.topics, self.codec, draft, since, until, orders)
            )
        except (FlowFileError, NoOrders) as exc:
            return {"error": str(exc)}

    def close(self) -> None:
        self._publisher.flush(10, "errors and alerts")
        self.control.close()


def send_plans(
    publisher: Publisher, codec: AvroCodec, topics: TopicRegistry, plans: Iterable[ReprocessPlan]
) -> None:
    """Publish what reprocessing means: a ``ReprocessOrder`` per order, inbound commands as sent."""
    for plan in plans:
        if plan.command is not None:
            value = codec.encode(plan.command)
        elif plan.resend is not None:
            value = plan.resend
        else:
            continue
        order_id = plan.order_id or ""
        publisher.send(topics.commands, order_id.encode(), value, partition_for(order_id, topics.partitions))
    publisher.flush(30, "reprocess commands")


class MonitorRunner:
    """Feeds an ``OperationsMonitor`` from the beginning of every event topic, the
    rejections and the dead letters (the one Kafka loop, as a reader); ticks its alerts
    every second."""

    def __init__(self, monitor: OperationsMonitor, batch_size: int = 5000) -> None:
        self.monitor = monitor
        topics = monitor.topics
        partitions = [(t, p) for t in topics.event_topics() for p in range(topics.partitions)]
        partitions += [(topics.rejections, p) for p in range(topics.partitions)]
        partitions += [(topics.dead_letters, p) for p in range(topics.partitions)]
        self._start = dict.fromkeys(partitions, OFFSET_BEGINNING)
        # The monitor decodes (a dead letter is counted, not decoded): the loop hands it messages.
        self.loop: KafkaLoop[Message] = KafkaLoop(
            monitor.settings,
            lambda msg: msg,
            consumer={"max.partition.fetch.bytes": 262_144},
            batch_size=batch_size,
            poll_timeout=0.2,
            name="operations monitor",
        )

    def run(self, stop: threading.Event) -> None:
        self.monitor.restore()
        self.loop.assign(self._start)

        def fold(batch: Batch[Message]) -> None:
            self.monitor.fold(batch.records)

        def tick() -> None:
            if self.loop.caught_up and not self.monitor.stats.caught_up:
                self.monitor.stats.caught_up = True
                log.info("operations monitor caught up (%d events)", self.monitor.stats.events)
            self.monitor.tick()

        try:
            self.loop.run(fold, stop, tick=tick, tick_every=1.0)
        finally:
            self.loop.close()
            self.monitor.close()
