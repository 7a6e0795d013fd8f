"""Pausing a provider or a flow version: given a paused target, when orders reach its
step, then their requests are recorded and held (nothing sent); when it is resumed, they
go out in the order they queued and the orders go on."""

from __future__ import annotations

from collections import deque
from datetime import timedelta

from journey_driver import DONE, FULFILLED, START, Journey, Providers

from streams.domain.commands import Command
from streams.domain.control import Pauses, PauseTarget, TargetKind, TargetPaused, TargetResumed, releases
from streams.domain.events import ProviderActionHeld, ProviderActionReleased, ProviderActionRequested
from streams.domain.order import OrderState

FNO = PauseTarget(kind=TargetKind.PROVIDER, name="fno")


def _paused(target: PauseTarget) -> TargetPaused:
    return TargetPaused(target=target, paused_at=START, by="ops", reason="F&O outage")


class Writer:
    """Journeys of several orders, with the writer's outbox rule: a request is sent (and
    answered) only if the order's state after the command does not hold it."""

    def __init__(self, pauses: Pauses, providers: Providers | None = None) -> None:
        self.journeys: dict[str, Journey] = {}
        self.pauses = pauses
        self.providers = providers or Providers()
        self.sent: list[tuple[str, str, str]] = []

    def journey(self, order_id: str) -> Journey:
        if order_id not in self.journeys:
            j = Journey(providers=self.providers)
            assert j.engine is not None
            j.engine.pauses = self.pauses
            self.journeys[order_id] = j
        return self.journeys[order_id]

    def run(self, *commands: Command) -> None:
        queue: deque[Command] = deque(commands)
        while queue:
            command = queue.popleft()
            j = self.journey(command.envelope.order_id)
            outcome = j.process(command)
            state = outcome.state
            for event in outcome.events:
                if not isinstance(event, ProviderActionRequested | ProviderActionReleased) or state is None:
                    continue
                pending = state.pending(event.action_id)
                if pending is None or pending.held is not None:
                    continue
                request = next(e for e in reversed(j.requests()) if e.action_id == event.action_id)
                self.sent.append((state.order_id, request.provider, request.action))
                queue.extend(self.providers.answer(j.factory, request, state))

    def states(self) -> list[OrderState]:
        return [j.state for j in self.journeys.values() if j.state is not None]


def test_a_paused_provider_holds_the_request_and_resume_sends_it_and_the_order_completes() -> None:
    pauses = Pauses([_paused(FNO)])
    w = Writer(pauses)
    j = w.journey("ORD-1")
    w.run(j.order(1, "ORD-1"))

    assert j.state is not None and j.state.status == "In progress"
    (held,) = j.of(ProviderActionHeld)
    assert (held.provider, held.step, held.target) == ("fno", "send-to-fno", "provider:fno")
    assert ("ORD-1", "fno", "send_to_fulfillment") not in w.sent
    assert j.state.live_actions == () and j.state.pending_actions[0].held == "provider:fno"

    pauses.apply(TargetResumed(target=FNO, resumed_at=START, by="ops"))
    w.run(*releases(w.states(), pauses, START + timedelta(hours=1)))

    assert j.statuses()[-1] == DONE
    (released,) = j.of(ProviderActionReleased)
    asked = j.requests()[0]
    assert released.not_before == START + timedelta(hours=1)  # a full timeout from the release
    assert released.deadline - released.not_before == asked.deadline - asked.not_before


def test_resume_sends_the_queued_orders_in_the_order_they_queued() -> None:
    pauses = Pauses([_paused(FNO)])
    w = Writer(pauses)
    for n in (3, 1, 2):
        j = w.journey(f"ORD-{n}")
        j.factory._clock = START + timedelta(minutes=n)  # ORD-1 reaches the step first
        w.run(j.order(1, f"ORD-{n}"))
    pauses.apply(TargetResumed(target=FNO, resumed_at=START, by="ops"))

    released = releases(w.states(), pauses, START + timedelta(hours=1))

    assert [c.envelope.order_id for c in released] == ["ORD-1", "ORD-2", "ORD-3"]


def test_nothing_is_released_while_the_target_is_still_paused() -> None:
    pauses = Pauses([_paused(FNO)])
    w = Writer(pauses)
    w.run(w.journey("ORD-1").order(1, "ORD-1"))

    assert releases(w.states(), pauses, START) == []


def test_a_retry_while_the_provider_is_paused_is_held_too() -> None:
    pauses = Pauses()
    w = Writer(pauses, Providers(silent=frozenset({("fno", "send_to_fulfillment")})))
    j = w.journey("ORD-1")
    w.run(j.order(1, "ORD-1"))
    first = j.requests()[-1]
    pauses.apply(_paused(FNO))

    assert j.state is not None
    w.run(j.state.pending_actions[0].timed_out("ORD-1", START + timedelta(minutes=3)))

    retry = j.requests()[-1]
    assert retry.attempt == 2
    assert [h.action_id for h in j.of(ProviderActionHeld)] == [first.action_id]


def test_a_paused_flow_version_holds_only_its_own_orders() -> None:
    pauses = Pauses([_paused(PauseTarget(kind=TargetKind.FLOW, name="bigcommerce-fno", flow_version=1))])
    w = Writer(pauses)
    w.run(w.journey("ORD-1").order(1, "ORD-1"), w.journey("ORD-2").order(2, "ORD-2"))

    assert w.journey("ORD-1").of(ProviderActionHeld) != []
    assert w.journey("ORD-2").of(ProviderActionHeld) == []
    assert w.journey("ORD-2").statuses()[-1] == FULFILLED
