"""What-if: past orders replayed through a draft flow, with the providers answering as
they did. Pure: nothing is written anywhere.

From each order's recorded history we re-derive what came from outside the writer: the
create, the providers' answers to each step (success or failure, by attempt; the timer's
"no answer" too), their status reports (picked, shipped, invoiced), and operators'
commands (cancel, hold, reprocess). Those inputs go through ``process()`` with the draft
flow in the catalog, in recorded time order; each request the draft makes is answered
from the recorded answers of that step (or of that provider action, when the draft names
its steps differently), and by a stand-in that succeeds when the history has no answer
at all. The replayed order is compared with the recorded one: status, reason, step
results and provider actions.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from streams.domain.commands import (
    AssignOrderData,
    CancelOrder,
    CancelOrderLines,
    CheckBackorders,
    Command,
    CommandEnvelope,
    CreateOrder,
    HoldOrder,
    RecordActionResult,
    RecordChannelStatus,
    RecordInvoiced,
    RecordPicked,
    RecordSentToBilling,
    RecordSentToFulfillment,
    RecordShipped,
    RecordValidation,
    ReprocessOrder,
)
from streams.domain.errors import DomainError
from streams.domain.events import (
    BackorderCheckStarted,
    ChannelStatusUpdated,
    Event,
    FlowStepRecorded,
    FulfillmentPicked,
    OrderAssigned,
    OrderCanceled,
    OrderCreated,
    OrderHeld,
    OrderInvoiced,
    OrderLinesCanceled,
    OrderReprocessed,
    OrderSentToBilling,
    OrderSentToFulfillment,
    OrderShipped,
    OrderValidated,
    OrderValidationFailed,
    ProviderActionReleased,
    ProviderActionRequested,
)
from streams.domain.flows import Flow, FlowCatalog, FlowKind
from streams.domain.orchestration import FlowEngine, process
from streams.domain.order import INTERNAL_SOURCES, OrderState, fold
from streams.domain.transitions import DEFAULT_TRANSITIONS, TransitionTable

MAX_EVENTS = 1000
"""An order whose replay goes past this many events is stopped (a draft that loops)."""


@dataclass(frozen=True)
class RecordedAnswer:
    provider: str
    action: str
    step: str
    attempt: int
    success: bool
    details: str
    data: dict[str, str]
    at: datetime


@dataclass
class RecordedOrder:
    order_id: str
    inputs: list[Command]
    """What came from outside, in recorded order (answers apart)."""
    answers: list[RecordedAnswer]
    events: list[Event]


@dataclass(frozen=True)
class OrderSummary:
    """What the diff compares."""

    status: str
    reason: str
    steps: tuple[tuple[str, str], ...]
    """(step, latest result), by step id."""
    actions: tuple[tuple[str, str], ...]
    """(provider, action) of every step run that asked a provider, in order."""

    @staticmethod
    def of(state: OrderState | None, events: Iterable[Event]) -> OrderSummary:
        actions = tuple(
            (e.provider, e.action)
            for e in events
            if isinstance(e, ProviderActionRequested) and e.attempt == 1
        )
        if state is None:
            return OrderSummary("(none)", "(refused)", (), actions)
        steps = tuple(sorted((s, o.result) for s, o in state.steps.items()))
        return OrderSummary(state.status, state.status_reason, steps, actions)


# -- re-deriving the recorded inputs -----------------------------------------------------------


def _groups(events: Sequence[Event]) -> list[list[Event]]:
    """Consecutive events of one command (one causation id)."""
    return [list(g) for _, g in itertools.groupby(events, key=lambda e: e.envelope.causation_id)]


def _envelope(first: Event) -> CommandEnvelope:
    env = first.envelope
    return CommandEnvelope(
        command_id=env.causation_id,
        order_id=env.order_id,
        issued_at=env.occurred_at,
        correlation_id=env.correlation_id,
        source=env.source,
    )


def _body(event: Event, *names: str) -> dict[str, Any]:
    return {n: getattr(event, n) for n in names}


_REPORTS: dict[type[Event], tuple[type[Command], tuple[str, ...]]] = {
    FulfillmentPicked: (RecordPicked, ("provider", "picking_id")),
    OrderShipped: (RecordShipped, ("provider", "shipment_id", "carrier", "tracking_number")),
    OrderInvoiced: (RecordInvoiced, ("provider", "invoice_id", "amount")),
}
_OPERATOR: dict[type[Event], tuple[type[Command], tuple[str, ...]]] = {
    OrderReprocessed: (ReprocessOrder, ("reason",)),
    OrderCanceled: (CancelOrder, ("reason",)),
    OrderHeld: (HoldOrder, ("reason",)),
    BackorderCheckStarted: (CheckBackorders, ("job_run",)),
    ChannelStatusUpdated: (RecordChannelStatus, ("channel", "channel_status")),
    OrderSentToFulfillment: (RecordSentToFulfillment, ("provider", "provider_order_id")),
    OrderSentToBilling: (RecordSentToBilling, ("provider", "provider_order_id")),
    OrderAssigned: (AssignOrderData, ("company", "invoice_customer", "lines", "policy")),
}


def _answer_data(group: list[Event], step: str, provider: str) -> dict[str, str]:
    """What the provider's answer carried, as far as its events show it."""
    data: dict[str, str] = {}
    for e in group:
        if isinstance(e, OrderSentToFulfillment | OrderSentToBilling) and e.provider_order_id:
            data["provider_order_id"] = e.provider_order_id
        elif isinstance(e, ChannelStatusUpdated):
            data["channel_status"] = e.channel_status
        elif isinstance(e, OrderAssigned) and e.policy == f"{provider}:{step}":
            data.update({f"warehouse.{a.line_id}": a.warehouse for a in e.lines if a.warehouse})
    return data


def recorded_order(events: Sequence[Event]) -> RecordedOrder:
    """An order's recorded inputs and answers, re-derived from its events (in seq order)."""
    order_id = events[0].envelope.order_id
    inputs: list[Command] = []
    answers: list[RecordedAnswer] = []
    asked: dict[str, tuple[str, str]] = {}
    for group in _groups(events):
        first = group[0]
        for e in group:
            if isinstance(e, ProviderActionRequested):
                asked[e.step] = (e.provider, e.action)
        if first.envelope.source.startswith("flow:") or first.envelope.source == "writer:resume":
            continue
        command = _command(group, first)
        if command is not None:
            inputs.append(command)
            continue
        for e in group:
            if isinstance(e, FlowStepRecorded) and e.step in asked:
                provider, action = asked[e.step]
                answers.append(
                    RecordedAnswer(
                        provider=provider,
                        action=action,
                        step=e.step,
                        attempt=e.attempt,
                        success=e.result == "succeeded",
                        details=e.details,
                        data=_answer_data(group, e.step, provider),
                        at=e.envelope.occurred_at,
                    )
                )
                break
    return RecordedOrder(order_id, inputs, answers, list(events))


def _command(group: list[Event], first: Event) -> Command | None:
    """The outside command behind ``group``, unless it was a provider's answer (None)."""
    env = _envelope(first)
    kinds = {type(e): e for e in group}
    if OrderCreated in kinds:
        created = kinds[OrderCreated]
        fields = {n: getattr(created, n) for n in CreateOrder.model_fields if n != "envelope"}
        return CreateOrder(envelope=env, **fields)
    for kind, (cls, names) in _REPORTS.items():
        if kind in kinds:
            return cls(envelope=env, **_body(kinds[kind], *names))
    if OrderLinesCanceled in kinds:
        canceled = kinds[OrderLinesCanceled]
        assert isinstance(canceled, OrderLinesCanceled)
        return CancelOrderLines(
            envelope=env, line_ids=tuple(c.line_id for c in canceled.lines), reason=canceled.reason
        )
    if any(isinstance(e, FlowStepRecorded) for e in group) or first.envelope.source.startswith(
        INTERNAL_SOURCES
    ):
        return None  # a provider's answer (or the timer's): looked up when the draft asks
    for kind, (cls, names) in _OPERATOR.items():
        if kind in kinds:
            return cls(envelope=env, **_body(kinds[kind], *names))
    if OrderValidated in kinds or OrderValidationFailed in kinds:
        verdict = kinds.get(OrderValidated) or kinds[OrderValidationFailed]
        reasons = verdict.reasons if isinstance(verdict, OrderValidationFailed) else ()
        return RecordValidation(
            envelope=env, policy=getattr(verdict, "policy", ""), passed=not reasons, reasons=reasons
        )
    return None


# -- replaying through the draft -------------------------------------------------------------


class WhatIfCatalog(FlowCatalog):
    """The published flows, with the draft standing in for its name: an order that ran the
    draft's flow (any version) runs the draft; others keep the version they ran."""

    def __init__(self, published: Iterable[Flow], draft: Flow) -> None:
        super().__init__(published)
        versions = [f.version for f in self.latest() if f.name == draft.name]
        self.draft = draft.model_copy(update={"version": (max(versions) if versions else 0) + 1})
        self.add(self.draft)
        self._pinned: dict[str, tuple[str, int]] = {}

    def pin(self, order_id: str, flow: str | None, version: int | None) -> None:
        if flow is not None and version is not None:
            self._pinned[order_id] = (flow, version)

    def select(self, state: OrderState, kind: FlowKind = "order") -> Flow | None:
        if kind != self.draft.kind:
            return super().select(state, kind)
        pinned = self._pinned.get(state.order_id)
        if pinned is None or pinned[0] == self.draft.name:
            return self.draft if self.draft.takes(state) else super().select(state, kind)
        return self.get(*pinned) or super().select(state, kind)


@dataclass
class ReplayedOrder:
    order_id: str
    recorded: OrderSummary
    replayed: OrderSummary
    refused: list[str] = field(default_factory=list)
    stand_ins: int = 0
    """Requests the history had no answer for (answered by a stand-in)."""

    @property
    def changes(self) -> list[str]:
        r, d = self.recorded, self.replayed
        out = []
        if (r.status, r.reason) != (d.status, d.reason):
            out.append(f"status: {r.status} / {r.reason} -> {d.status} / {d.reason}")
        if r.steps != d.steps:
            out.append("steps")
        if r.actions != d.actions:
            out.append("provider actions")
        return out


class _Answers:
    """The recorded answers, handed out by step (then by provider action) in attempt order."""

    def __init__(self, answers: list[RecordedAnswer]) -> None:
        self._by_step: dict[str, deque[RecordedAnswer]] = defaultdict(deque)
        self._by_action: dict[tuple[str, str], deque[RecordedAnswer]] = defaultdict(deque)
        for a in answers:
            self._by_step[a.step].append(a)
            self._by_action[(a.provider, a.action)].append(a)
        self._last: dict[tuple[str, str], RecordedAnswer] = {}

    def next(self, step: str, provider: str, action: str) -> RecordedAnswer | None:
        queue = self._by_step.get(step)
        if not queue or (queue[0].provider, queue[0].action) != (provider, action):
            queue = self._by_action.get((provider, action))
        if queue:
            answer = queue.popleft()
            self._last[(provider, action)] = answer
            return answer
        return self._last.get((provider, action))  # more attempts than recorded: as the last one


def replay_order(
    recorded: RecordedOrder, engine: FlowEngine, table: TransitionTable = DEFAULT_TRANSITIONS
) -> ReplayedOrder:
    """One order through ``engine``'s flows, its inputs and answers as recorded."""
    answers = _Answers(recorded.answers)
    result = ReplayedOrder(
        recorded.order_id,
        OrderSummary.of(fold(recorded.events), recorded.events),
        OrderSummary("", "", (), ()),
    )
    queue: list[tuple[datetime, int, Command]] = []
    counter = itertools.count()
    for command in recorded.inputs:
        heapq.heappush(queue, (command.envelope.issued_at, next(counter), command))
    state: OrderState | None = None
    events: list[Event] = []
    while queue and len(events) < MAX_EVENTS:
        _, _, command = heapq.heappop(queue)
        try:
            outcome = process(command, state, engine, table)
        except DomainError as exc:
            result.refused.append(f"{type(command).__name__}: {exc}")
            continue
        state = outcome.state
        events += outcome.events
        result.refused += [f"{type(c).__name__}: {e}" for c, e in outcome.refused]
        for event in outcome.events:
            if isinstance(event, ProviderActionRequested | ProviderActionReleased) and state is not None:
                answer = _answer(event, state, answers, result)
                if answer is not None:
                    heapq.heappush(queue, (answer.envelope.issued_at, next(counter), answer))
    result.replayed = OrderSummary.of(state, events)
    return result


def _answer(
    event: ProviderActionRequested | ProviderActionReleased,
    state: OrderState,
    answers: _Answers,
    result: ReplayedOrder,
) -> RecordActionResult | None:
    pending = state.pending(event.action_id)
    if pending is None or pending.held is not None:
        return None
    recorded = answers.next(pending.step, pending.provider, pending.action)
    if recorded is None:
        result.stand_ins += 1
        data = (
            {"channel_status": pending.params.get("status_id", "")}
            if pending.action == "update_channel_status"
            else {}
        )
        recorded = RecordedAnswer(
            pending.provider,
            pending.action,
            pending.step,
            pending.attempt,
            True,
            "what-if stand-in",
            data,
            pending.not_before,
        )
    return RecordActionResult(
        envelope=CommandEnvelope(
            command_id=f"what-if/{pending.action_id}/{pending.attempt}",
            order_id=state.order_id,
            issued_at=recorded.at,  # as recorded: reports that came after it still do
            correlation_id=f"what-if/{state.order_id}",
            source=f"what-if:{pending.provider}",
        ),
        action_id=pending.action_id,
        success=recorded.success,
        details=recorded.details,
        data=recorded.data,
        attempt=pending.attempt,
    )


@dataclass
class WhatIfReport:
    draft: str
    orders: list[ReplayedOrder]

    @property
    def changed(self) -> list[ReplayedOrder]:
        return [o for o in self.orders if o.changes]

    def summary(self) -> list[tuple[str, int]]:
        """(how, orders), most common first: the table the CLI and the API show."""
        counts: Counter[str] = Counter()
        for order in self.orders:
            changes = order.changes
            counts["unchanged" if not changes else "changed"] += 1
            counts.update(changes)
            if order.stand_ins:
                counts["answered by a stand-in"] += 1
        return counts.most_common()


def what_if(
    histories: Iterable[Sequence[Event]],
    published: Iterable[Flow],
    draft: Flow,
    table: TransitionTable = DEFAULT_TRANSITIONS,
) -> WhatIfReport:
    """Replay every history through the published flows with ``draft`` standing in for its
    name. Histories must start with the order's creation (seq 1)."""
    catalog = WhatIfCatalog(published, draft)
    engine = FlowEngine(catalog)
    orders = []
    for events in histories:
        recorded = recorded_order(events)
        state = fold(events)
        if state is not None:
            catalog.pin(state.order_id, state.flow, state.flow_version)
        orders.append(replay_order(recorded, engine, table))
    return WhatIfReport(f"{catalog.draft.name} v{catalog.draft.version} (draft)", orders)
