"""The soak's plan: the same seed gives the same plan; journeys mixed evenly; every process
kind killed; outages that never overlap; fault specs whose chained draws give the rates."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devkit.soak.schedule import (
    BROKER,
    JOURNEYS,
    ChaosKind,
    FaultRates,
    ProcessKind,
    fault_specs,
    plan_soak,
)


def test_the_same_seed_gives_the_same_plan_and_another_seed_another() -> None:
    first = plan_soak(120, 7, rate=4, kills=12)
    again = plan_soak(120, 7, rate=4, kills=12)
    other = plan_soak(120, 8, rate=4, kills=12)

    assert first == again
    assert first.chaos != other.chaos


@given(orders=st.integers(1, 400), seed=st.integers(0, 10**6))
def test_orders_mix_the_six_journeys_evenly_and_arrive_in_order_within_the_window(
    orders: int, seed: int
) -> None:
    plan = plan_soak(orders, seed, rate=5, kills=3)

    per = Counter(a.journey for a in plan.arrivals)
    assert sum(per.values()) == orders
    assert set(per) <= set(JOURNEYS)
    assert max(per.values()) - min(per.get(j, 0) for j in JOURNEYS) <= 1
    times = [a.at for a in plan.arrivals]
    assert times == sorted(times)
    assert times[0] >= 0 and times[-1] <= orders / 5


def test_every_process_kind_is_killed_when_there_are_kills_enough() -> None:
    plan = plan_soak(600, 3, rate=4, kills=len(ProcessKind) + 4)

    killed = Counter(e.target for e in plan.kills())
    assert set(killed) == {k.value for k in ProcessKind}
    assert sum(killed.values()) == len(ProcessKind) + 4


def test_fewer_kills_than_kinds_hit_that_many_different_kinds() -> None:
    plan = plan_soak(100, 3, rate=2, kills=3)

    assert len({e.target for e in plan.kills()}) == 3


@given(seed=st.integers(0, 10**6), kills=st.integers(0, 20), outage=st.booleans())
def test_outages_never_overlap_and_end_inside_the_window(seed: int, kills: int, outage: bool) -> None:
    plan = plan_soak(300, seed, rate=3, kills=kills, broker_outage=outage)

    brokers = [e for e in plan.chaos if e.kind is ChaosKind.BROKER_OUTAGE]
    assert len(brokers) == int(outage) and all(e.target == BROKER for e in brokers)
    assert len(plan.kills()) == kills
    for earlier, later in zip(plan.chaos, plan.chaos[1:], strict=False):
        assert earlier.ends_at <= later.at
    window = 300 / 3
    assert all(e.at > 0 and e.ends_at <= window and e.down_for > 0 for e in plan.chaos)
    assert plan.last_fault_at >= plan.faults_until


def _effective(specs: list[dict[str, object]]) -> dict[str, float]:
    """The share of requests each armed fault hits: each draws only if the earlier did not."""
    left, shares = 1.0, Counter[str]()
    for spec in specs:
        if spec["kind"] == "duplicate_webhook":
            continue
        p = float(spec["probability"])  # type: ignore[arg-type]
        shares[str(spec["kind"])] += left * p
        left *= 1 - p
    return dict(shares)


@given(
    five=st.floats(0, 0.5),
    throttle=st.floats(0, 0.2),
    timeout=st.floats(0, 0.2),
)
def test_chained_fault_draws_hit_the_planned_shares(five: float, throttle: float, timeout: float) -> None:
    specs = fault_specs(FaultRates(five, throttle, timeout, 0.0), seed=1)

    shares = _effective(specs)
    assert shares.get("5xx", 0) == pytest.approx(five, abs=1e-9)
    assert shares.get("429", 0) == pytest.approx(throttle, abs=1e-9)
    assert shares.get("timeout", 0) == pytest.approx(timeout, abs=1e-9)
    assert all(0 < float(s["probability"]) <= 1 for s in specs)  # type: ignore[arg-type]


def test_the_default_rates_arm_five_request_faults_and_duplicate_webhooks_with_distinct_seeds() -> None:
    specs = fault_specs(FaultRates(), seed=4)

    assert [s["kind"] for s in specs] == ["5xx", "429", "timeout", "timeout", "duplicate_webhook"]
    assert {s.get("when") for s in specs if s["kind"] == "timeout"} == {"before", "after"}
    assert len({s["seed"] for s in specs}) == len(specs)


def test_rates_that_cover_every_request_are_refused() -> None:
    with pytest.raises(ValueError, match="more than every request"):
        fault_specs(FaultRates(0.7, 0.2, 0.2), seed=1)
