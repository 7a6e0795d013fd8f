"""Alerts on the live stream: given orders and provider answers as they happen, when the
clock ticks, then alerts fire, are taken and resolve; and the heap-indexed evaluation
agrees with a full scan of every order."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from journey_driver import Journey, Providers

from devkit.scenarios import CommandFactory, journey_order
from streams.domain.alerts import (
    AlertEngine,
    AlertRules,
    AlertState,
    DeadLetterRule,
    FailureRateRule,
    NotSentRule,
    NotShippedRule,
    OnHoldRule,
    OrderRule,
    OrderWatch,
    due,
)
from streams.domain.decider import decide
from streams.domain.delivery import REQUESTED_DELIVERY, requested_delivery
from streams.domain.events import Envelope, Event, OrderHeld, OrderShipped
from streams.domain.order import OrderState, fold
from streams.domain.transitions import COMPLETED, FULFILLMENT_IN_PROGRESS, IN_PROGRESS, ON_HOLD

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
ORDER_RULES: tuple[OrderRule, ...] = (
    NotSentRule(name="not-sent", kind="not_sent_to_fulfillment", hours_before_delivery=48),
    NotShippedRule(name="not-shipped", kind="not_shipped", hours_before_delivery=24),
    OnHoldRule(name="on-hold", kind="on_hold_longer_than", hours=4),
)
RULES = AlertRules(rules=ORDER_RULES, default_promise_hours=72)


def _feed(engine: AlertEngine, events: list[Event]) -> None:
    state: OrderState | None = None
    for event in events:
        state = fold([event], state)
        assert state is not None
        engine.observe(event, state)


def _active(engine: AlertEngine) -> set[str]:
    return {a.alert_id for a in engine.alerts()}


def test_an_order_held_too_long_raises_an_alert_that_resolves_when_it_is_released() -> None:
    j = Journey(providers=Providers(failures={("fno", "send_to_fulfillment"): 4}))
    j.run(j.order(1, "ORD-1"))
    engine = AlertEngine(RULES)
    _feed(engine, j.events)
    held_at = j.events[-1].envelope.occurred_at

    assert engine.tick(held_at + timedelta(hours=3)) == []
    (fired,) = engine.tick(held_at + timedelta(hours=4, seconds=1))
    assert (fired.alert_id, fired.state, fired.order_id) == ("on-hold:ORD-1", AlertState.ACTIVE, "ORD-1")

    taken = engine.acknowledge("on-hold:ORD-1", held_at + timedelta(hours=5), "ops@example")
    assert taken is not None and taken.state == AlertState.IN_PROGRESS

    assert j.state is not None
    released = OrderHeld(
        envelope=j.events[-1].envelope.model_copy(
            update={
                "seq": j.state.version + 1,
                "status": IN_PROGRESS,
                "status_reason": "Reprocessed",
                "occurred_at": held_at + timedelta(hours=6),
            }
        ),
        reason="back",
    )
    (resolved,) = engine.observe(released, fold([released], j.state))  # type: ignore[arg-type]
    assert resolved.state == AlertState.RESOLVED and "resolved" in resolved.message


def test_an_order_not_sent_two_days_before_its_requested_date_fires_and_a_sent_one_does_not() -> None:
    factory = CommandFactory(source="unit", start=T0)
    late = journey_order(1, factory, "ORD-LATE", random.Random(1))
    late = late.model_copy(update={"attributes": {**late.attributes, REQUESTED_DELIVERY: "2026-12-02"}})
    engine = AlertEngine(RULES)
    _feed(engine, decide(late, None))  # created, never validated nor sent

    fired = engine.tick(T0 + timedelta(minutes=1))

    assert {a.alert_id for a in fired} == {"not-sent:ORD-LATE"}  # due 2026-12-01 00:00 already
    assert "requested delivery" in fired[0].message


def test_a_provider_failing_a_quarter_of_its_answers_in_the_window_fires_and_clears() -> None:
    rule = FailureRateRule(
        name="failing", kind="provider_failure_rate", percent=20, window_minutes=15, min_requests=4
    )
    j = Journey(providers=Providers(failures={("fno", "send_to_fulfillment"): 4}))
    j.run(j.order(1, "ORD-1"))
    engine = AlertEngine(AlertRules(rules=(rule,)))
    _feed(engine, j.events)
    at = j.events[-1].envelope.occurred_at

    (fired,) = engine.tick(at)
    assert (fired.alert_id, fired.provider) == ("failing:fno", "fno")
    assert "100% of 4 answers failed" in fired.message
    (cleared,) = engine.tick(at + timedelta(minutes=16))
    assert cleared.state == AlertState.RESOLVED


def test_dead_letters_raise_an_alert_for_the_window() -> None:
    engine = AlertEngine(
        AlertRules(rules=(DeadLetterRule(name="dlq", kind="dead_letters_present", window_minutes=60),))
    )
    assert engine.tick(T0) == []
    engine.observe_dead_letter(T0)

    assert [a.state for a in engine.tick(T0 + timedelta(minutes=1))] == [AlertState.ACTIVE]
    assert [a.state for a in engine.tick(T0 + timedelta(minutes=61))] == [AlertState.RESOLVED]


def test_a_terminal_order_stops_being_watched() -> None:
    j = Journey()
    j.run(j.order(1, "ORD-1"))
    engine = AlertEngine(RULES)
    _feed(engine, j.events)
    assert engine.watched == 0
    assert engine.tick(T0 + timedelta(days=30)) == []


# -- the index equals a full scan -------------------------------------------------------------

KINDS = ("hold", "release", "send", "ship", "complete")
_BASE = fold(
    decide(journey_order(1, CommandFactory(source="unit", start=T0), "BASE", random.Random(1)), None)
)


def _synthetic(
    order_id: str, seq: int, at: datetime, kind: str, state: OrderState
) -> tuple[Event, OrderState]:
    status = {
        "hold": ON_HOLD,
        "release": IN_PROGRESS,
        "send": IN_PROGRESS,
        "ship": FULFILLMENT_IN_PROGRESS,
        "complete": COMPLETED,
    }[kind]
    env = Envelope(
        event_id=f"{order_id}-{seq}",
        order_id=order_id,
        seq=seq,
        occurred_at=at,
        correlation_id="c",
        causation_id=f"k{seq}",
        source="unit",
        status=status,
        status_reason=kind,
    )
    event: Event = (
        OrderShipped(envelope=env, provider="fno") if kind == "ship" else OrderHeld(envelope=env, reason=kind)
    )
    update: dict[str, object] = {"status": status, "version": seq, "updated_at": at}
    if kind == "send":
        update["fulfillment_provider"] = "fno"
    return event, state.model_copy(update=update)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 7), st.sampled_from((*KINDS, "tick")), st.integers(0, 600)),
        min_size=1,
        max_size=60,
    ),
    st.lists(st.integers(-96, 96), min_size=8, max_size=8),
)
def test_the_heap_index_agrees_with_a_full_scan_of_every_order(
    steps: list[tuple[int, str, int]], delivery_hours: list[int]
) -> None:
    engine = AlertEngine(RULES)
    clock = T0
    states: dict[str, OrderState] = {}
    watches: dict[str, OrderWatch] = {}
    for n, hours in enumerate(delivery_hours):  # each order created at T0, due at its own time
        oid = f"O{n}"
        attrs = {**_BASE.attributes, REQUESTED_DELIVERY: (T0 + timedelta(hours=hours)).isoformat()}
        states[oid] = _BASE.model_copy(update={"order_id": oid, "attributes": attrs, "status": "New"})
        created, _ = _synthetic(oid, 1, T0, "release", states[oid])
        engine.observe(created, states[oid])
        watches[oid] = OrderWatch(requested_delivery(states[oid]), False, False, None, False)
    for index, kind, minutes in steps:
        clock += timedelta(minutes=minutes)
        oid = f"O{index}"
        if kind == "tick":
            engine.tick(clock)
            continue
        if index >= len(states) or watches[oid].terminal:
            continue
        event, states[oid] = _synthetic(oid, states[oid].version + 1, clock, kind, states[oid])
        engine.observe(event, states[oid])
        w = watches[oid]
        watches[oid] = OrderWatch(
            delivery=w.delivery,
            sent=w.sent or kind in ("send", "ship", "complete"),
            shipped=w.shipped or kind in ("ship", "complete"),
            on_hold_since=(w.on_hold_since or clock) if kind == "hold" else None,
            terminal=kind == "complete",
        )
    engine.tick(clock)

    scanned = {
        f"{rule.name}:{oid}"
        for oid, w in watches.items()
        for rule in ORDER_RULES
        if (when := due(rule, w)) is not None and when <= clock
    }
    assert _active(engine) == scanned
