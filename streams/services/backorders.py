"""The backorder job: re-source held lines when stock arrives, cancel those past their SLA,
and release preorders from their launch date (DOM sources them, or they wait in Backorder
hold).

Like IOM's background Back-Order job: periodic (``oms backorders run --every 60``) or run
once (``oms backorders run``), and every run leaves a log entry on
``backorder.job-runs`` (``oms backorders log``). It only asks: it reads the orders (the
event topics, folded into a local store from its checkpoint on) and the inventory (an
``InventoryView`` kept in a store too), and sends the orders commands; the order writer
decides them, DOM sources and reserves the lines, the flow sends released lines to F&O.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from confluent_kafka import KafkaException

from streams.adapters.avro import AvroCodec
from streams.adapters.command_bus import CommandBus
from streams.adapters.kafka_loop import Publisher, models, read_all
from streams.adapters.order_store import BackorderStore
from streams.adapters.topics import TopicRegistry
from streams.domain.backorders import (
    BackorderJobRun,
    describe,
    due_preorders,
    held_lines,
    past_sla,
    waits_in_hold,
    worth_rechecking,
)
from streams.domain.commands import CancelOrderLines, CheckBackorders, Command, CommandEnvelope
from streams.domain.order import LineState, OrderState
from streams.domain.sourcing import DomConfig
from streams.services.inventory import InventoryView
from streams.services.replay import catch_up, replay
from streams.settings import Settings

log = logging.getLogger(__name__)

VIEW_NAME = "backorders-view"
ORDERS_NAME = "backorders-orders"


def _sla_text(line: LineState) -> str:
    if line.backordered_at is None or line.backorder_cancel_at is None:
        return "its SLA"
    span = line.backorder_cancel_at - line.backordered_at
    if span >= timedelta(days=1) and span % timedelta(days=1) == timedelta(0):
        return f"{span.days}d"
    if span >= timedelta(hours=1) and span % timedelta(hours=1) == timedelta(0):
        return f"{span // timedelta(hours=1)}h"
    return f"{span.total_seconds():g}s"


def _sourcing(state: OrderState) -> bool:
    """DOM is on the order's held lines already."""
    return any(p.params.get("scope") == "backorders" for p in state.pending_actions)


def stock_check(view: InventoryView, config: DomConfig) -> Callable[[str, int], bool]:
    """Whether some active source shows ``quantity`` units of ``sku`` above its safety stock."""
    sources = [s for s in config.sources if s.active]

    def has_stock(sku: str, quantity: int) -> bool:
        return any(view.available(sku, s.id) - s.safety_stock >= quantity for s in sources)

    return has_stock


def decide_run(
    states: list[OrderState],
    has_stock: Callable[[str, int], bool],
    now: datetime,
    run_id: str,
    issued_at: datetime | None = None,
) -> tuple[list[Command], list[str], list[str], int, int]:
    """The commands one run sends: cancel what is past its SLA, re-check what has stock,
    release preorders whose launch has come, all as of ``now``; ``issued_at`` is when the
    commands are sent, if the run is as of another time (the commands then say ``as_of``).
    Returns (commands, rechecked, canceled, lines held, lines still waiting)."""
    commands: list[Command] = []
    rechecked: list[str] = []
    canceled: list[str] = []
    held_total = waiting = 0
    for state in states:
        held = held_lines(state, now)  # backordered, and preorders whose launch has come
        if not held:
            continue
        held_total += len(held)

        def envelope(what: str, state: OrderState = state) -> CommandEnvelope:
            return CommandEnvelope(
                command_id=what,
                order_id=state.order_id,
                issued_at=issued_at or now,
                correlation_id=f"backorder-job/{run_id}",
                source="job:backorders",
            )

        overdue = past_sla(state, now)
        if overdue:
            first = overdue[0]
            since = first.backordered_at.isoformat() if first.backordered_at else ""
            ids = tuple(line.line_id for line in overdue)
            commands.append(
                CancelOrderLines(
                    envelope=envelope(f"backorder-sla/{state.order_id}/{','.join(ids)}/{since}"),
                    line_ids=ids,
                    reason=f"Backorder hold past its cancellation SLA ({_sla_text(first)})",
                )
            )
            canceled.append(describe(state.order_id, overdue))
        gone = {line.line_id for line in overdue}
        still = [line for line in held if line.line_id not in gone]
        ready = worth_rechecking(state, has_stock) if still else []
        ready += [x for x in due_preorders(state, now) if x not in ready and not _sourcing(state)]
        ready = [line for line in ready if line.line_id not in gone]
        if ready:
            commands.append(
                CheckBackorders(
                    envelope=envelope(f"backorder-check/{run_id}/{state.order_id}"),
                    job_run=run_id,
                    as_of=now if issued_at is not None else None,
                )
            )
            rechecked.append(describe(state.order_id, ready))
        waiting += len(still) - len(ready)
    return commands, rechecked, canceled, held_total, waiting


def _in_use(exc: Exception) -> bool:
    """rocksdict's bare ``Exception`` for a store another process holds open."""
    return "lock" in str(exc).lower()


class BackorderJob:
    """One job process. Its orders and its inventory view are kept in local stores (in the
    state folder, named by the instance id) and live across runs, so a run reads only the
    events since the last one and looks only at orders with lines on hold. A store another
    process holds (a second job on the host with the same instance id) is not shared: that
    run reads the topics from the beginning instead."""

    def __init__(
        self, settings: Settings, topics: TopicRegistry, codec: AvroCodec, config: DomConfig
    ) -> None:
        self.settings = settings
        self.topics = topics
        self.codec = codec
        self.config = config
        self._view: InventoryView | None = None
        self._orders: BackorderStore | None = None
        self.events_read = 0
        """Order events the last run read (all of them the first time, then what came since)."""

    def inventory_view(self) -> InventoryView:
        """The job's view, up to date: opened from its store the first time (which reads what
        came since the store's checkpoint), caught up to the end of the topics after."""
        if self._view is not None:
            self._view.catch_up()
            return self._view
        try:
            self._view = InventoryView.stored(self.settings, self.topics, self.codec, VIEW_NAME)
        except Exception as exc:
            if not _in_use(exc):
                raise
            log.warning("the backorder job's view store is in use (%s); reading inventory from 0", exc)
            self._view = InventoryView(self.settings, self.topics, self.codec)
        return self._view

    def waiting_orders(self) -> list[OrderState]:
        """The orders with lines on hold, as of the end of the event topics now."""
        if self._orders is None:
            path = self.settings.state_dir / f"{ORDERS_NAME}-{self.settings.instance_id}"
            try:
                self._orders = BackorderStore(path)
            except Exception as exc:
                if not _in_use(exc):
                    raise
                log.warning("the backorder job's order store is in use (%s); replaying orders from 0", exc)
                replayed = replay(self.settings, self.topics, self.codec)
                self.events_read = replayed.events
                return [s for s in replayed.states.values() if waits_in_hold(s)]
        self.events_read = catch_up(self.settings, self.topics, self.codec, self._orders)
        log.debug("backorder job: %d order events since the last run", self.events_read)
        return list(self._orders.waiting())

    def close(self) -> None:
        if self._view is not None:
            self._view.close()
            self._view = None
        if self._orders is not None:
            self._orders.close()
            self._orders = None

    def run_once(self, trigger: str = "command", now: datetime | None = None) -> BackorderJobRun:
        started = datetime.now(UTC)
        now = now or started
        run_id = f"backorders-{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        orders = self.waiting_orders()
        commands, rechecked, canceled, held, waiting = decide_run(
            orders,
            stock_check(self.inventory_view(), self.config),
            now,
            run_id,
            issued_at=started if now != started else None,
        )
        if commands:
            bus = CommandBus(self.settings, self.topics, self.codec)
            for command in commands:
                bus.send(command)
            bus.flush()
        run = BackorderJobRun(
            run_id=run_id,
            started_at=started,
            finished_at=datetime.now(UTC),
            orders_examined=len(orders),
            lines_held=held,
            rechecked=tuple(rechecked),
            canceled=tuple(canceled),
            waiting=waiting,
            trigger=trigger,
        )
        publisher = Publisher(self.settings)
        publisher.send(self.topics.backorder_job_runs, run_id.encode(), self.codec.encode(run))
        publisher.flush(10, "backorder job runs")
        log.info(
            "backorder job %s: %d orders, %d lines held; re-sourcing %d, canceled lines of %d, %d waiting",
            run_id,
            run.orders_examined,
            held,
            len(rechecked),
            len(canceled),
            waiting,
        )
        return run

    def run_every(
        self, seconds: float, stop: threading.Event, on_run: Callable[[BackorderJobRun], None]
    ) -> None:
        """A run the broker fails (away, restarting) is logged and the next one comes on
        time: a periodic job outlives a broker outage instead of waiting for a restart."""
        try:
            while not stop.is_set():
                try:
                    on_run(self.run_once(trigger=f"every {seconds:g}s"))
                except (KafkaException, TimeoutError) as exc:  # e.g. its log entry undelivered
                    log.warning("backorder run failed (%s); the next in %gs", exc, seconds)
                stop.wait(seconds)
        finally:
            self.close()


def job_log(settings: Settings, topics: TopicRegistry, codec: AvroCodec) -> list[BackorderJobRun]:
    """Every run the job logged, oldest first."""
    return read_all(settings, {(topics.backorder_job_runs, 0): 0}, models(codec, BackorderJobRun))
