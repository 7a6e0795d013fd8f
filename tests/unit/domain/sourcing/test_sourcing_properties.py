"""Properties of the sourcing function over random sources, stock, strategies and orders:
hard constraints never break, no plan promises more than is available, the closest
source wins (ties decided as specified), and the plan does not depend on the order the
sources are listed in."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import time, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sourcing_fixtures import AT, HOME, east, source

from streams.domain.sourcing import (
    Availability,
    ConstraintName,
    Constraints,
    DomConfig,
    FulfillmentPlan,
    Source,
    SourcingLine,
    SourcingRequest,
    Strategy,
    distance_km,
    source_order,
)

SKUS = ("TEE", "MUG", "CAP")
CONSTRAINT_NAMES: tuple[ConstraintName, ...] = (
    "max_distance",
    "restrict_partial",
    "max_sources_per_order",
    "max_sources_per_line",
    "safety_stock",
    "cutoff",
    "priority",
)

# Few distinct distances and priorities, so that ties are common.
sources_st = st.lists(
    st.builds(
        lambda i, km, priority, safety, active, cutoff, limit: source(
            f"S{i:02d}",
            km,
            priority=priority,
            safety_stock=safety,
            active=active,
            cutoff=cutoff,
            max_distance_km=limit,
        ),
        st.integers(0, 99),
        st.sampled_from([0.0, 100.0, 100.0, 400.0, 900.0, 2500.0]),
        st.sampled_from([1, 5, 5, 9]),
        st.integers(0, 3),
        st.sampled_from([True, True, True, False]),  # mostly active
        st.none() | st.sampled_from([time(9), time(16), time(23)]),
        st.none() | st.sampled_from([300.0, 1000.0]),
    ),
    min_size=1,
    max_size=10,
    unique_by=lambda s: s.id,
)

constraints_st = st.builds(
    Constraints,
    max_distance_km=st.none() | st.sampled_from([150.0, 500.0, 1000.0]),
    restrict_partial=st.booleans(),
    max_sources_per_order=st.none() | st.integers(1, 3),
    max_sources_per_line=st.integers(1, 3),
    safety_stock=st.booleans(),
    respect_cutoff=st.booleans(),
    priority_first=st.booleans(),
    soft=st.frozensets(st.sampled_from(CONSTRAINT_NAMES)),
)

lines_st = st.lists(
    st.builds(lambda sku, q: (sku, q), st.sampled_from(SKUS), st.integers(1, 6)), min_size=1, max_size=5
)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[DomConfig, SourcingRequest, dict[tuple[str, str], int]]:
    sources = draw(sources_st)
    ids = [s.id for s in sources]
    default = Strategy(
        name="default",
        sources=tuple(draw(st.lists(st.sampled_from(ids), unique=True, max_size=len(ids)))),
        constraints=draw(constraints_st),
    )
    strategies = [default]
    alternate = None
    if draw(st.booleans()):
        strategies.append(Strategy(name="alternate", constraints=draw(constraints_st)))
        alternate = "alternate"
    config = DomConfig(
        sources=tuple(sources),
        strategies=tuple(strategies),
        default_strategy="default",
        alternate_strategy=alternate,
    )
    lines = draw(lines_st)
    request = SourcingRequest(
        order_id="ORD-P",
        ship_to=draw(st.sampled_from([HOME, HOME, east(50), None])),
        lines=tuple(SourcingLine(line_id=str(i), sku=sku, quantity=q) for i, (sku, q) in enumerate(lines, 1)),
        at=AT,
    )
    stock = {(sku, sid): draw(st.integers(0, 8)) for sku in SKUS for sid in ids if draw(st.booleans())}
    return config, request, stock


def _hard_constraints_hold(
    plan: FulfillmentPlan, config: DomConfig, request: SourcingRequest, stock: Availability
) -> None:
    """Everything but the soft constraints the plan says it dropped."""
    strategy = config.strategy(plan.strategy)
    c = strategy.constraints
    dropped = set(plan.relaxed)
    assert dropped <= c.soft, "only soft constraints may be dropped"

    def on(name: ConstraintName) -> bool:
        return name not in dropped

    by_line: dict[str, list[tuple[Source, int]]] = defaultdict(list)
    used: dict[tuple[str, str], int] = Counter()
    for a in plan.allocations:
        s = config.source(a.source)
        by_line[a.line_id].append((s, a.quantity))
        used[(a.sku, a.source)] += a.quantity
        assert s.active
        assert not strategy.sources or s.id in strategy.sources
        assert a.warehouse == s.warehouse
        limits = [x for x in (c.max_distance_km, s.max_distance_km) if x is not None]
        if on("max_distance") and c.distance_limits and limits:
            assert request.ship_to is not None
            assert distance_km(request.ship_to, s.location) <= min(limits) + 1e-9
        if on("cutoff") and c.respect_cutoff and s.cutoff is not None:
            assert (AT + timedelta(hours=s.utc_offset_hours)).time() < s.cutoff
    for line in request.lines:
        got = by_line.get(line.line_id, [])
        assert sum(q for _, q in got) in (0, line.quantity), "a line ships whole or not at all"
        if on("max_sources_per_line"):
            assert len(got) <= c.max_sources_per_line
        assert (line.line_id in plan.unsourced) == (not got)
    if on("max_sources_per_order") and c.max_sources_per_order is not None:
        assert len({a.source for a in plan.allocations}) <= c.max_sources_per_order
    if on("restrict_partial") and c.restrict_partial:
        assert plan.outcome in ("fully sourced", "not sourced")
    for (sku, sid), units in used.items():
        keep = config.source(sid).safety_stock if on("safety_stock") and c.safety_stock else 0
        assert units <= stock.get((sku, sid), 0) - keep


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_hard_constraints_always_hold_and_no_plan_uses_more_than_is_available(
    scenario: tuple[DomConfig, SourcingRequest, dict[tuple[str, str], int]],
) -> None:
    config, request, stock = scenario
    plan = source_order(request, config, stock)

    _hard_constraints_hold(plan, config, request, stock)
    used: Counter[tuple[str, str]] = Counter()
    for a in plan.allocations:
        used[(a.sku, a.source)] += a.quantity
    assert all(units <= stock.get(key, 0) for key, units in used.items())
    expected = {0: "not sourced", len(request.lines): "fully sourced"}.get(
        len(request.lines) - len(plan.unsourced), "partially sourced"
    )
    assert plan.outcome == expected


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.randoms(use_true_random=False))
def test_the_plan_does_not_depend_on_the_order_sources_are_listed_in(
    scenario: tuple[DomConfig, SourcingRequest, dict[tuple[str, str], int]], rnd: object
) -> None:
    config, request, stock = scenario
    shuffled = list(config.sources)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert source_order(
        request, config.model_copy(update={"sources": tuple(shuffled)}), stock
    ) == source_order(request, config, stock)


@settings(max_examples=400, deadline=None)
@given(
    sources_st,
    st.sampled_from(SKUS),
    st.integers(1, 6),
    st.dictionaries(st.integers(0, 99), st.integers(0, 9)),
    st.booleans(),
)
def test_a_line_goes_to_the_closest_source_that_can_ship_it_ties_to_priority_then_id(
    sources: list[Source], sku: str, quantity: int, units: dict[int, int], safety: bool
) -> None:
    config = DomConfig(
        sources=tuple(sources),
        strategies=(Strategy(name="closest", constraints=Constraints(safety_stock=safety)),),
        default_strategy="closest",
    )
    stock = {(sku, f"S{i:02d}"): n for i, n in units.items()}
    request = SourcingRequest(
        order_id="ORD-C", ship_to=HOME, lines=(SourcingLine(line_id="1", sku=sku, quantity=quantity),), at=AT
    )

    plan = source_order(request, config, stock)

    def can_ship(s: Source) -> bool:
        near_enough = s.max_distance_km is None or distance_km(HOME, s.location) <= s.max_distance_km
        return (
            s.active
            and near_enough
            and stock.get((sku, s.id), 0) - (s.safety_stock if safety else 0) >= quantity
        )

    def key(s: Source) -> tuple[float, int, str]:
        return (distance_km(HOME, s.location), s.priority, s.id)

    able = sorted((s for s in sources if can_ship(s)), key=key)
    if not able:
        assert plan.outcome == "not sourced"
        return
    (chosen,) = plan.allocations
    best = able[0]
    assert chosen.source == best.id
    assert math.isclose(chosen.distance_km or 0.0, round(key(best)[0], 3), abs_tol=1e-6)
