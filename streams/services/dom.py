"""The DOM provider: fulfillment optimization with inventory reservations.

``python -m streams.entrypoints.dom_cli`` consumes ``provider.dom.requests`` (one consumer group, so
several coordinators share its partitions), decides a fulfillment plan per order with
the pure ``source_order`` over the units its ``InventoryView`` shows available, and
holds those units by a reservation saga across the order and inventory partitions:

1. plan against availability minus what this coordinator is still waiting for;
2. send a ``ReserveInventory`` per (line, source) to ``inventory.commands`` (ids derived
   from the action, the line, the source, the quantity and the round);
3. read the inventory writers' replies from ``inventory.reservations``; when every
   reservation of the round is answered: all granted, the plan stands; any refused (the
   stock went to another order first), plan again with what is held counted as its own,
   keep what still fits, release what no longer does, reserve the rest;
4. answer the order with ``RecordActionResult``: the plan (fulfillment orders per source,
   reservation ids, unsourced lines) as its ``plan`` record.

Units are promised only by the inventory writer's grant, so no unit is ever promised
twice, however many coordinators plan at once. A coordinator that restarts (or takes
over a partition) finds the reservations an action already holds in its view and keeps
them: it extends an answer, it never shrinks one. The view is kept in a local store
(``InventoryViewStore``), so a restart reads only the inventory events since it stopped.
It gives up on a round a quarter of the action's timeout before its deadline and answers
with what it holds.

The one Kafka loop (``kafka_loop.py``), not Faust: the saga is many small messages per
order (see bench/dom.py for what it sustains); the loop commits only what the sagas say
is answered.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from confluent_kafka import TopicPartition

from streams.adapters.avro import AvroCodec
from streams.adapters.kafka_loop import KafkaLoop, models
from streams.adapters.topics import TopicRegistry
from streams.domain.atp import LinePromise, promise_sourced, promise_unsourced
from streams.domain.commands import ProviderActionRequest
from streams.domain.inventory import (
    InventoryCommand,
    InventoryEvent,
    InventoryReserved,
    ReleaseReservation,
    ReservationFate,
    ReservationRefused,
    ReserveInventory,
)
from streams.domain.order import order_of
from streams.domain.snapshot import OrderSnapshot
from streams.domain.sourcing import (
    Allocation,
    DomConfig,
    FulfillmentPlan,
    Outcome,
    SourcingLine,
    SourcingRequest,
    source_order,
)
from streams.domain.transitions import CANCELED
from streams.services.dom_desk import DESK_ACTIONS, RESTOCK, CannotRestock, releases, restocks
from streams.services.inventory import InventoryFeed, InventoryView, inventory_envelope
from streams.settings import Settings

log = logging.getLogger(__name__)

DOM_GROUP = "oms-dom"
ACTION = "send_to_fulfillment_optimization"
MAX_ROUNDS = 8
"""Rounds of plan-reserve-replan before a saga settles for what it holds."""
GIVE_UP = 0.25
"""Answer this fraction of the action's timeout before its deadline, whatever is held."""


def reservation_id(action_id: str, allocation: Allocation, round_: int) -> str:
    """Deterministic: a saga step retried (after a crash or a rebalance) asks for the same id."""
    return f"{action_id}/{allocation.line_id}/{allocation.source}/{allocation.quantity}/{round_}"


def _round_of(rid: str) -> int:
    tail = rid.rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else 0


@dataclass
class DomStats:
    requests: int = 0
    answered: int = 0
    rounds: int = 0
    reserve_sent: int = 0
    granted: int = 0
    refused: int = 0
    released: int = 0
    skipped: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)


@dataclass
class Saga:
    """One order's reservation saga."""

    request: ProviderActionRequest
    order: OrderSnapshot
    ask: SourcingRequest | None
    partition: int
    offset: int
    give_up_at: datetime
    round: int = 0
    held: dict[str, Allocation] = field(default_factory=dict)
    """Granted and still wanted."""
    locked: set[str] = field(default_factory=set)
    """Reservations an earlier incarnation may have answered with: never released."""
    awaiting: dict[str, Allocation] = field(default_factory=dict)
    refused: bool = False
    plan: FulfillmentPlan | None = None
    done: bool = False

    @property
    def action_id(self) -> str:
        return self.request.action_id


class _Available(Mapping[tuple[str, str], int]):
    """What a saga may plan with: the view's availability, less what this coordinator
    still waits to hear about, plus what the saga itself holds."""

    def __init__(
        self, view: ReservationView, tentative: Counter[tuple[str, str]], own: Counter[tuple[str, str]]
    ):
        self._view, self._tentative, self._own = view, tentative, own

    def __getitem__(self, key: tuple[str, str]) -> int:
        return self._view.available(*key) - self._tentative[key] + self._own[key]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._view.availability())

    def __len__(self) -> int:
        return len(self._view.availability())


class ReservationView(Protocol):
    """What the sagas read of the inventory (``InventoryView``)."""

    def fate(self, rid: str) -> ReservationFate | None: ...

    def reservations_of(self, action_id: str) -> set[str]: ...

    def available(self, sku: str, source: str) -> int: ...

    def granted_to(self, action_id: str) -> dict[str, InventoryReserved]: ...

    def availability(self) -> dict[tuple[str, str], int]: ...


class CommandSink(Protocol):
    """Where the sagas send inventory commands (``InventoryFeed``)."""

    def send(self, command: InventoryCommand) -> None: ...


class ReservationSagas:
    """The sagas in flight on one coordinator: plan, reserve, re-plan, answer.

    No Kafka here: it reads an ``InventoryView``-like view, sends inventory commands to a
    feed and hands each settled plan to ``answer``, so the logic is tested on its own.
    """

    def __init__(
        self,
        config: DomConfig,
        view: ReservationView,
        feed: CommandSink,
        answer: Callable[[ProviderActionRequest, FulfillmentPlan], None],
        stats: DomStats | None = None,
        max_rounds: int = MAX_ROUNDS,
    ) -> None:
        self.config = config
        self.view = view
        self.feed = feed
        self._answer = answer
        self.stats = stats or DomStats()
        self.max_rounds = max_rounds
        self.running: dict[str, Saga] = {}
        self._tentative: Counter[tuple[str, str]] = Counter()
        self._finished: OrderedDict[str, set[str]] = OrderedDict()
        """Recently answered actions and the reservations they answered with."""

    def drop(self, partitions: set[int]) -> None:
        """Forget the sagas of partitions taken away: their next owner finds what they hold."""
        for saga in [s for s in self.running.values() if s.partition in partitions]:
            for a in saga.awaiting.values():
                self._tentative[(a.sku, a.source)] -= a.quantity
            del self.running[saga.action_id]

    def start(self, request: ProviderActionRequest, partition: int = 0, offset: int = 0) -> None:
        """Begin an order's saga (an answer may go out at once)."""
        order = order_of(request)
        open_lines = [x for x in order.lines if x.status != CANCELED]
        if request.params.get("line_ids"):  # the engine names the lines to source
            named = set(request.params["line_ids"].split(","))
            lines = [x for x in open_lines if x.line_id in named]
        elif request.params.get("scope") == "backorders":  # the lines in Backorder hold
            lines = [x for x in open_lines if x.backordered]
        else:
            lines = [x for x in open_lines if not x.parked]
        window = request.deadline - request.not_before
        saga = Saga(
            request=request,
            order=order,
            ask=None,
            partition=partition,
            offset=offset,
            give_up_at=request.deadline - window * GIVE_UP,
        )
        self.running[request.action_id] = saga
        # What an earlier incarnation reserved for this action: keep whole lines (they may
        # have been answered), release parts of lines (never answered).
        earlier = self.view.granted_to(request.action_id)
        saga.round = 1 + max(
            (_round_of(rid) for rid in self.view.reservations_of(request.action_id)), default=-1
        )
        by_line: dict[str, list[tuple[str, InventoryReserved]]] = {}
        for rid, grant in earlier.items():
            by_line.setdefault(grant.line_id, []).append((rid, grant))
        wanted = {x.line_id: x.quantity for x in lines}
        for line_id, grants in by_line.items():
            if sum(g.quantity for _, g in grants) == wanted.get(line_id):
                for rid, grant in grants:
                    saga.held[rid] = self._allocation(grant)
                    saga.locked.add(rid)
            else:
                for rid, grant in grants:
                    saga.held[rid] = self._allocation(grant)
                    self._release(saga, rid, "part of a line an earlier attempt reserved")
        todo = [x for x in lines if x.line_id not in {a.line_id for a in saga.held.values()}]
        strategy = order.attributes.get("dom_strategy")
        if todo:
            saga.ask = SourcingRequest(
                order_id=order.order_id,
                ship_to=self.config.locate(order.ship_to, order.attributes),
                lines=tuple(SourcingLine(line_id=x.line_id, sku=x.sku, quantity=x.quantity) for x in todo),
                at=request.not_before,
                strategy=strategy if strategy in {s.name for s in self.config.strategies} else None,
            )
            self._plan_round(saga)
        else:
            self._finish(saga)

    def _allocation(self, grant: InventoryReserved) -> Allocation:
        env = grant.envelope
        source = next((s for s in self.config.sources if s.id == env.source), None)
        return Allocation(
            line_id=grant.line_id,
            sku=env.sku,
            source=env.source,
            warehouse=source.warehouse if source else env.source,
            site=source.site if source else None,
            quantity=grant.quantity,
        )

    def _plan_round(self, saga: Saga) -> None:
        assert saga.ask is not None
        self.stats.rounds += 1
        own: Counter[tuple[str, str]] = Counter()
        for a in saga.held.values():
            if a.line_id in {x.line_id for x in saga.ask.lines}:
                own[(a.sku, a.source)] += a.quantity
        plan = source_order(saga.ask, self.config, _Available(self.view, self._tentative, own))
        saga.plan = plan
        keep: set[str] = set()
        new: list[Allocation] = []
        for a in plan.allocations:
            match = next(
                (
                    rid
                    for rid, h in saga.held.items()
                    if rid not in keep
                    and (h.line_id, h.source, h.quantity) == (a.line_id, a.source, a.quantity)
                ),
                None,
            )
            if match is None:
                new.append(a)
            else:
                keep.add(match)
        for rid in [r for r in saga.held if r not in keep and r not in saga.locked]:
            self._release(saga, rid, "the plan changed")
        for a in new:
            rid = reservation_id(saga.action_id, a, saga.round)
            if self.view.fate(rid) is not None:  # decided before: asking again would get no reply
                saga.refused = True
                continue
            saga.awaiting[rid] = a
            self._tentative[(a.sku, a.source)] += a.quantity
            self.stats.reserve_sent += 1
            self.feed.send(
                ReserveInventory(
                    envelope=inventory_envelope(
                        a.sku,
                        a.source,
                        "dom",
                        command_id=f"dom/{rid}",
                        correlation_id=saga.request.correlation_id,
                    ),
                    reservation_id=rid,
                    order_id=saga.order.order_id,
                    line_id=a.line_id,
                    quantity=a.quantity,
                    keep=a.keep,
                    requested_by=saga.action_id,
                )
            )
        if not saga.awaiting:
            self._round_over(saga)

    def reply(self, event: InventoryEvent) -> None:
        """An inventory event: a reply to one of our reservations, or a late grant to undo."""
        if not isinstance(event, InventoryReserved | ReservationRefused):
            return
        rid = event.reservation_id
        saga = self.running.get(event.requested_by)
        if saga is None:
            answered = self._finished.get(event.requested_by)
            if answered is not None and isinstance(event, InventoryReserved) and rid not in answered:
                self._release_late(event)
            return
        allocation = saga.awaiting.pop(rid, None)
        if allocation is None:
            if isinstance(event, InventoryReserved) and rid not in saga.held:
                saga.held[rid] = self._allocation(event)  # from an earlier incarnation: sorted out below
            return
        self._tentative[(allocation.sku, allocation.source)] -= allocation.quantity
        if isinstance(event, InventoryReserved):
            self.stats.granted += 1
            saga.held[rid] = allocation.model_copy(update={"reservation_id": rid})
        else:
            self.stats.refused += 1
            saga.refused = True
        if not saga.awaiting:
            self._round_over(saga)

    def _round_over(self, saga: Saga) -> None:
        if saga.refused and saga.round + 1 < self.max_rounds:
            saga.refused = False
            saga.round += 1
            self._plan_round(saga)
        else:
            self._finish(saga)

    def _release(self, saga: Saga, rid: str, reason: str) -> None:
        a = saga.held.pop(rid)
        self.stats.released += 1
        self.feed.send(
            ReleaseReservation(
                envelope=inventory_envelope(a.sku, a.source, "dom", command_id=f"dom/release/{rid}"),
                reservation_id=rid,
                reason=reason,
            )
        )

    def _release_late(self, event: InventoryReserved) -> None:
        env = event.envelope
        self.stats.released += 1
        self.feed.send(
            ReleaseReservation(
                envelope=inventory_envelope(
                    env.sku, env.source, "dom", command_id=f"dom/release/{event.reservation_id}"
                ),
                reservation_id=event.reservation_id,
                reason="granted after the order was answered",
            )
        )

    def _finish(self, saga: Saga) -> None:
        """Answer with what is held: whole lines only, all or none if partial is restricted."""
        for rid, a in list(saga.awaiting.items()):
            self._tentative[(a.sku, a.source)] -= a.quantity
            del saga.awaiting[rid]  # a late grant for it is released when it comes
        asked = {x.line_id: x.quantity for x in saga.ask.lines} if saga.ask else {}
        planned = {(a.line_id, a.source, a.quantity) for a in saga.plan.allocations} if saga.plan else set()
        held: Counter[str] = Counter()
        for a in saga.held.values():
            held[a.line_id] += a.quantity
        for rid, a in list(saga.held.items()):
            if rid in saga.locked:
                continue
            if held[a.line_id] != asked.get(a.line_id) or (a.line_id, a.source, a.quantity) not in planned:
                held[a.line_id] -= a.quantity
                self._release(saga, rid, "not part of the answer")
        strategy = self.config.strategy(saga.plan.strategy if saga.plan else self.config.default_strategy)
        complete = {line for line, quantity in asked.items() if held[line] == quantity}
        if strategy.constraints.restrict_partial and complete != set(asked):
            for rid in [r for r in saga.held if r not in saga.locked]:
                self._release(saga, rid, "partial fulfillment is restricted")
        order = {line.line_id: n for n, line in enumerate(saga.order.lines)}
        allocations = tuple(
            sorted(
                (a.model_copy(update={"reservation_id": rid}) for rid, a in saga.held.items()),
                key=lambda a: (order.get(a.line_id, 0), a.source),
            )
        )
        sourced = {a.line_id for a in allocations}
        unsourced = tuple(line for line in asked if line not in sourced)
        outcome: Outcome = (
            "fully sourced" if not unsourced else "partially sourced" if allocations else "not sourced"
        )
        plan = FulfillmentPlan(
            order_id=saga.order.order_id,
            strategy=strategy.name,
            outcome=outcome,
            allocations=allocations,
            unsourced=unsourced,
            relaxed=saga.plan.relaxed if saga.plan else (),
            notes=saga.plan.notes if saga.plan else (),
            promises=self._promises(saga, sourced, unsourced),
        )
        saga.done = True
        del self.running[saga.action_id]
        self._finished[saga.action_id] = {a.reservation_id or "" for a in allocations}
        while len(self._finished) > 50_000:
            self._finished.popitem(last=False)
        self.stats.outcomes[outcome] += 1
        self._answer(saga.request, plan)

    def _promises(self, saga: Saga, sourced: set[str], unsourced: tuple[str, ...]) -> tuple[LinePromise, ...]:
        """ATP dates of every line asked: today for what is reserved, the first day the
        scheduled receipts cover for what is not (none within the period: no date)."""
        settings = self.config.atp
        today = saga.request.not_before.date()
        out = [promise_sourced(line_id, today, settings) for line_id in sorted(sourced)]
        active = [s.id for s in self.config.sources if s.active]
        by_id = {x.line_id: x for x in saga.order.lines}
        for line_id in unsourced:
            line = by_id[line_id]
            available = {s: self.view.available(line.sku, s) for s in active}
            found = promise_unsourced(line_id, line.sku, line.quantity, available, active, today, settings)
            if found is not None:
                out.append(found)
        return tuple(out)

    def expire(self, now: datetime) -> None:
        """Answer every saga that reached its give-up time with what it holds."""
        for saga in [s for s in self.running.values() if s.give_up_at <= now]:
            log.warning(
                "%s: no settled plan before its deadline; answering with what is held", saga.order.order_id
            )
            self._finish(saga)


class DomCoordinator:
    """The process: requests in, sagas run, answers out, offsets committed behind them."""

    def __init__(
        self,
        settings: Settings,
        topics: TopicRegistry,
        codec: AvroCodec,
        config: DomConfig,
        batch_size: int = 500,
        max_rounds: int = MAX_ROUNDS,
    ) -> None:
        self.settings = settings
        self.topics = topics
        self.codec = codec
        self.config = config
        self.max_rounds = max_rounds
        self.stats = DomStats()
        self.view = InventoryView.stored(settings, topics, codec, "dom-view")
        self.feed = InventoryFeed(settings, topics, codec, **{"linger.ms": 2})
        self.loop: KafkaLoop[ProviderActionRequest] = KafkaLoop(
            settings,
            models(codec, ProviderActionRequest),
            group=topics.prefix + DOM_GROUP,
            dead_letters=topics.dead_letters,
            produces=True,
            batch_size=batch_size,
            consumer={"max.poll.interval.ms": 600_000, "session.timeout.ms": 10_000},
            producer={"linger.ms": 2},
            on_revoke=self._on_revoke,
            name="dom",
        )
        assert self.loop.publisher is not None
        self._answers = self.loop.publisher
        self.sagas = ReservationSagas(config, self.view, self.feed, self._answer, self.stats, max_rounds)

    # -- the loop
    def run(self, stop: threading.Event) -> None:
        self.loop.subscribe([self.topics.provider_requests("dom")])
        try:
            while not stop.is_set():
                self.step(0.05 if self.sagas.running else 0.2)
        finally:
            self.loop.close()
            self.feed.flush(10)
            self.view.close()

    def step(self, timeout: float) -> None:
        """Take new requests, read replies, answer what is settled, commit what is answered."""
        batch = self.loop.poll(timeout)
        for request, msg in zip(batch.records, batch.messages, strict=True):
            self._take(request, msg.partition() or 0, msg.offset() or 0)
        for event in self.view.poll(0.02 if self.sagas.running else 0.0):
            self.sagas.reply(event)
        self.sagas.expire(datetime.now(UTC))
        self._commit()

    def _take(self, request: ProviderActionRequest, partition: int, offset: int) -> None:
        if request.action_id in self.sagas.running:
            return
        self.stats.requests += 1
        if request.deadline <= datetime.now(UTC):
            # the order writer has counted this attempt as failed and retried it: an answer
            # now would be ignored, and reservations made for it would hold units for nobody
            self.stats.skipped += 1
            return
        if request.action in DESK_ACTIONS:
            self._desk(request)
            return
        if request.action != ACTION:
            self._answer_failure(request, f"DOM does not do '{request.action}'")
            return
        self.sagas.start(request, partition, offset)

    def _desk(self, request: ProviderActionRequest) -> None:
        """A cancel (release the lines' reservations) or a return (restock it): inventory
        commands out, then the answer."""
        order = order_of(request)
        try:
            if request.action == RESTOCK:
                commands = restocks(request, order, self.config)
            else:
                commands = releases(request, order)
        except CannotRestock as exc:
            self._answer_failure(request, str(exc))
            return
        for command in commands:
            self.feed.send(command)
        self.feed.flush(10)
        what = "units restocked" if request.action == RESTOCK else "reservations released"
        self._send_answer(request, True, f"{len(commands)} {what}")

    # -- answers and offsets
    def _answer(self, request: ProviderActionRequest, plan: FulfillmentPlan) -> None:
        self._send_answer(request, True, plan.summary(), plan=plan)

    def _answer_failure(self, request: ProviderActionRequest, details: str) -> None:
        self._send_answer(request, False, details)

    def _send_answer(
        self,
        request: ProviderActionRequest,
        success: bool,
        details: str,
        *,
        plan: FulfillmentPlan | None = None,
    ) -> None:
        answer = request.answer(
            source="dom", success=success, issued_at=datetime.now(UTC), details=details, plan=plan
        )
        self._answers.send(self.topics.commands, request.order_id.encode(), self.codec.encode(answer))
        self.stats.answered += 1

    def _commit(self) -> None:
        """Commit each partition up to its first request still in a saga, else its position
        (answers delivered first): a restart reads again exactly the unanswered requests,
        and a caught-up group's lag reads 0 (the position is past the writer's markers)."""
        first_open: dict[int, int] = {}
        for saga in self.sagas.running.values():
            first_open[saga.partition] = min(saga.offset, first_open.get(saga.partition, saga.offset))
        self.loop.commit(
            [
                TopicPartition(tp.topic, tp.partition, first_open.get(tp.partition, tp.offset))
                for tp in self.loop.positions()
            ]
        )

    def _on_revoke(self, partitions: list[TopicPartition]) -> None:
        """Sagas of partitions taken away are left to their next owner (which finds what
        they hold in its view); what was answered is committed first."""
        self._commit()
        self.sagas.drop({tp.partition for tp in partitions})
