"""Insights by windowed aggregation: digests that merge and stay within their error bound,
and the KPIs of real journeys."""

from __future__ import annotations

import math
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from journey_driver import START, Journey, Providers

from streams.domain.events import Event
from streams.domain.insights import GAMMA, Digest, Insights, InsightSettings
from streams.domain.order import OrderState, fold

latencies = st.lists(st.floats(min_value=0.002, max_value=86_400, allow_nan=False), min_size=1, max_size=300)


def _exact(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


@settings(max_examples=80, deadline=None)
@given(latencies, st.sampled_from((0.5, 0.95, 0.99)))
def test_a_quantile_is_within_the_digests_relative_error(values: list[float], q: float) -> None:
    digest = Digest()
    for v in values:
        digest.add(v)

    found = digest.quantile(q)

    assert found is not None
    assert abs(found - _exact(values, q)) <= _exact(values, q) * (GAMMA - 1) / 2 * 1.0001


@settings(max_examples=50, deadline=None)
@given(latencies, latencies)
def test_merging_two_digests_is_the_digest_of_both(a: list[float], b: list[float]) -> None:
    left, right, both = Digest(), Digest(), Digest()
    for v in a:
        left.add(v)
        both.add(v)
    for v in b:
        right.add(v)
        both.add(v)

    left.merge(right)

    assert left.buckets == both.buckets and left.count == both.count


def _observe(insights: Insights, events: list[Event]) -> OrderState:
    state: OrderState | None = None
    for event in events:
        state = fold([event], state)
        assert state is not None
        insights.observe(event, state)
    assert state is not None
    return state


def test_a_completed_journey_counts_as_shipped_on_time_fully_filled_with_its_step_cycle_times() -> None:
    j = Journey()
    j.run(j.order(1, "ORD-1"))
    insights = Insights(InsightSettings(default_promise_hours=72))
    _observe(insights, j.events)

    snap = insights.snapshot(START + timedelta(minutes=5))

    assert snap.by_status == {("Completed", "Done"): 1}  # journey 1, as the brief words it
    assert (snap.shipped, snap.on_time_ship_ratio, snap.fill_rate) == (1, 1.0, 1.0)
    assert snap.book_to_ship.count == 1 and snap.past_due == 0 and snap.open_orders == 0
    assert {(s.flow, s.step) for s in snap.steps} >= {("bigcommerce-fno", "send-to-fno")}
    fno = next(p for p in snap.providers if (p.provider, p.action) == ("fno", "send_to_fulfillment"))
    assert (fno.requests, fno.failures, fno.sla_percent) == (1, 0, 100.0)


def test_provider_failures_count_every_attempt_and_lower_the_sla() -> None:
    j = Journey(providers=Providers(failures={("fno", "send_to_fulfillment"): 2}))
    j.run(j.order(1, "ORD-1"))
    insights = Insights()
    _observe(insights, j.events)

    snap = insights.snapshot(START + timedelta(minutes=5))

    fno = next(p for p in snap.providers if (p.provider, p.action) == ("fno", "send_to_fulfillment"))
    assert (fno.requests, fno.failures) == (3, 2)
    assert fno.sla_percent is not None and round(fno.sla_percent) == 33
    assert fno.latency.count == 3 and fno.latency.p99 is not None


def test_an_open_order_is_in_jeopardy_before_its_date_and_past_due_after_it() -> None:
    j = Journey(providers=Providers(silent=frozenset({("fno", "send_to_fulfillment")})))
    j.run(j.order(1, "ORD-1"))
    insights = Insights(InsightSettings(default_promise_hours=48, jeopardy_hours=24))
    _observe(insights, j.events)

    assert (insights.snapshot(START + timedelta(hours=1)).in_jeopardy, insights.snapshot(START).past_due) == (
        0,
        0,
    )
    assert insights.snapshot(START + timedelta(hours=30)).in_jeopardy == 1
    later = insights.snapshot(START + timedelta(hours=49))
    assert (later.in_jeopardy, later.past_due, later.open_orders) == (0, 1, 1)


def test_a_window_counts_only_its_minutes() -> None:
    j = Journey()
    j.run(j.order(1, "ORD-1"))
    insights = Insights()
    _observe(insights, j.events)

    assert insights.snapshot(START + timedelta(minutes=30), window_minutes=60).shipped == 1
    assert insights.snapshot(START + timedelta(hours=3), window_minutes=60).shipped == 0
    assert insights.snapshot(START + timedelta(hours=3)).shipped == 1  # since the stream began
