"""The soak's plan: the same seed gives the same plan; journeys mixed evenly; every process
kind killed (at the default size, whatever the seed) and the broker taken down once (of a
cluster: one node SIGKILLed); outages that never overlap; fault specs whose chained draws
give the rates."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devkit.soak.schedule import (
    BROKER,
    DEFAULT_KILLS,
    JOURNEYS,
    ChaosKind,
    FaultRates,
    ProcessKind,
    broker_node,
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


@given(
    seed=st.integers(0, 10**6), kills=st.integers(0, 20), outage=st.booleans(), nodes=st.sampled_from([1, 3])
)
def test_outages_never_overlap_and_end_inside_the_window(
    seed: int, kills: int, outage: bool, nodes: int
) -> None:
    plan = plan_soak(300, seed, rate=3, kills=kills, broker_outage=outage, nodes=nodes)

    brokers = [e for e in plan.chaos if e.kind is not ChaosKind.KILL]
    assert len(brokers) == int(outage)
    assert all(e.kind is (ChaosKind.BROKER_OUTAGE if nodes == 1 else ChaosKind.BROKER_KILL) for e in brokers)
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


@given(seed=st.integers(0, 10**6))
def test_the_default_soak_kills_every_process_kind_and_takes_the_broker_down_once(seed: int) -> None:
    plan = plan_soak(1000, seed, rate=3.0, kills=DEFAULT_KILLS)

    assert {e.target for e in plan.kills()} == {k.value for k in ProcessKind}
    outages = [e for e in plan.chaos if e.kind is not ChaosKind.KILL]
    assert [(e.kind, e.target, e.node) for e in outages] == [(ChaosKind.BROKER_OUTAGE, BROKER, None)]


@given(seed=st.integers(0, 10**6))
def test_the_default_cluster_soak_kills_every_process_kind_and_one_broker_of_three(seed: int) -> None:
    plan = plan_soak(1000, seed, rate=3.0, kills=DEFAULT_KILLS, nodes=3)

    assert {e.target for e in plan.kills()} == {k.value for k in ProcessKind}
    outages = [e for e in plan.chaos if e.kind is not ChaosKind.KILL]
    assert len(outages) == 1 and outages[0].kind is ChaosKind.BROKER_KILL
    assert outages[0].node in {1, 2, 3} and outages[0].target == broker_node(outages[0].node)


@given(seed=st.integers(0, 10**6), kills=st.integers(0, 20))
def test_a_cluster_soak_keeps_the_arrivals_and_the_single_broker_soak_has_no_node(
    seed: int, kills: int
) -> None:
    single = plan_soak(300, seed, rate=3, kills=kills)
    cluster = plan_soak(300, seed, rate=3, kills=kills, nodes=3)

    assert single.arrivals == cluster.arrivals
    assert all(e.node is None for e in single.chaos) and single.nodes == 1
    assert [e.node is not None for e in cluster.chaos].count(True) == 1


def test_the_cluster_plan_says_which_broker_is_killed_and_when_it_comes_back() -> None:
    plan = plan_soak(120, 5, rate=4, kills=2, nodes=3)
    (kill,) = [e for e in plan.chaos if e.kind is ChaosKind.BROKER_KILL]

    text = plan.describe()

    assert "brokers: a 3-node KRaft cluster; a broker outage SIGKILLs one node" in text
    assert f"SIGKILL broker-{kill.node} (cluster node {kill.node}), back after {kill.down_for:.1f}s" in text
    assert "stop broker" not in text


def test_the_single_broker_plan_says_the_broker_is_stopped() -> None:
    plan = plan_soak(120, 5, rate=4, kills=2)

    text = plan.describe()

    assert "stop broker, back after" in text and "cluster" not in text
