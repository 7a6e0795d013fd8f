"""Fulfillment optimization, told as examples: the closest source ships, ties are decided
by fewest shipments, then priority, then id; each constraint, hard and soft; the
alternate strategy; and the configuration's own checks."""

from __future__ import annotations

from datetime import time

import pytest
from pydantic import ValidationError
from sourcing_fixtures import AT, config, east, request, source

from streams.domain.sourcing import (
    Constraints,
    DomConfig,
    GeoPoint,
    Strategy,
    distance_km,
    source_order,
)
from streams.domain.values import Address


def _chosen(plan_lines: object) -> list[tuple[str, str, int]]:
    return [(a.line_id, a.source, a.quantity) for a in plan_lines]  # type: ignore[attr-defined]


def test_each_line_ships_whole_from_the_closest_source_that_has_it() -> None:
    cfg = config(source("NEAR", 100), source("MID", 500), source("FAR", 1500))
    stock = {("TEE", "NEAR"): 1, ("TEE", "MID"): 5, ("MUG", "FAR"): 3, ("MUG", "NEAR"): 9}

    plan = source_order(request(("TEE", 2), ("MUG", 1)), cfg, stock)

    assert plan.outcome == "fully sourced"
    assert _chosen(plan.allocations) == [("1", "MID", 2), ("2", "NEAR", 1)]  # NEAR has only 1 tee
    assert [fo.source for fo in plan.fulfillment_orders()] == ["MID", "NEAR"]
    assert plan.allocations[0].warehouse == "W-MID"


def test_at_equal_distance_a_source_the_order_already_uses_wins_then_priority_then_id() -> None:
    cfg = config(source("B", 300, priority=5), source("A", 300, priority=5), source("C", 300, priority=1))
    stock = {("TEE", "A"): 9, ("TEE", "B"): 9, ("TEE", "C"): 1, ("MUG", "A"): 9, ("MUG", "B"): 9}

    plan = source_order(request(("MUG", 1), ("TEE", 1), ("TEE", 1)), cfg, stock)

    # MUG: C has none; A and B tie on distance and priority: A by id. TEE: A is used already
    # (fewest shipments) though C has the better priority. The third line likewise.
    assert _chosen(plan.allocations) == [("1", "A", 1), ("2", "A", 1), ("3", "A", 1)]


def test_priority_decides_between_unused_sources_at_equal_distance() -> None:
    cfg = config(source("A", 300, priority=5), source("C", 300, priority=1))
    plan = source_order(request(("TEE", 1)), cfg, {("TEE", "A"): 9, ("TEE", "C"): 9})
    assert _chosen(plan.allocations) == [("1", "C", 1)]


def test_priority_first_ranks_priority_tiers_before_distance() -> None:
    cfg = config(source("NEAR", 100, priority=9), source("FAR", 900, priority=1), priority_first=True)
    plan = source_order(request(("TEE", 1)), cfg, {("TEE", "NEAR"): 9, ("TEE", "FAR"): 9})
    assert _chosen(plan.allocations) == [("1", "FAR", 1)]


def test_a_hard_maximum_distance_leaves_lines_unsourced_rather_than_ship_from_afar() -> None:
    cfg = config(source("FAR", 1500), max_distance_km=1000)
    plan = source_order(request(("TEE", 1)), cfg, {("TEE", "FAR"): 9})
    assert (plan.outcome, plan.unsourced, plan.allocations) == ("not sourced", ("1",), ())


def test_a_soft_maximum_distance_is_dropped_in_the_second_pass() -> None:
    cfg = config(source("FAR", 1500), max_distance_km=1000, soft=frozenset({"max_distance"}))
    plan = source_order(request(("TEE", 1)), cfg, {("TEE", "FAR"): 9})
    assert plan.outcome == "fully sourced"
    assert plan.relaxed == ("max_distance",)
    assert "soft constraints dropped: max_distance" in plan.summary()


def test_a_source_s_own_distance_limit_applies_and_the_lower_limit_wins() -> None:
    cfg = config(source("STORE", 600, max_distance_km=500), source("DC", 900), max_distance_km=1000)
    plan = source_order(request(("TEE", 1)), cfg, {("TEE", "STORE"): 9, ("TEE", "DC"): 9})
    assert _chosen(plan.allocations) == [("1", "DC", 1)]


def test_restricted_partial_fulfillment_sources_all_lines_or_none() -> None:
    cfg = config(source("A", 100), restrict_partial=True)
    plan = source_order(request(("TEE", 1), ("MUG", 1)), cfg, {("TEE", "A"): 9})
    assert (plan.outcome, plan.allocations, plan.unsourced) == ("not sourced", (), ("1", "2"))
    assert "partial fulfillment is restricted" in plan.notes[0]


def test_without_the_restriction_the_lines_in_stock_are_sourced() -> None:
    cfg = config(source("A", 100))
    plan = source_order(request(("TEE", 1), ("MUG", 1)), cfg, {("TEE", "A"): 9})
    assert (plan.outcome, plan.sourced_lines(), plan.unsourced) == ("partially sourced", ["1"], ("2",))


def test_a_cap_on_sources_per_order_finds_the_one_source_that_has_everything() -> None:
    # Closest first would use NEAR (tee) and MID (mug) and then run out of its one source;
    # consolidation finds FAR, which has both.
    cfg = config(source("NEAR", 100), source("MID", 200), source("FAR", 900), max_sources_per_order=1)
    stock = {("TEE", "NEAR"): 9, ("MUG", "MID"): 9, ("TEE", "FAR"): 9, ("MUG", "FAR"): 9}
    plan = source_order(request(("TEE", 1), ("MUG", 1)), cfg, stock)
    assert _chosen(plan.allocations) == [("1", "FAR", 1), ("2", "FAR", 1)]


def test_a_line_splits_over_sources_only_when_allowed_and_then_over_the_closest() -> None:
    stock = {("TEE", "A"): 2, ("TEE", "B"): 2, ("TEE", "C"): 9}
    one = config(source("A", 100), source("B", 200), source("C", 3000), max_distance_km=1000)
    two = config(
        source("A", 100), source("B", 200), source("C", 3000), max_distance_km=1000, max_sources_per_line=2
    )

    assert source_order(request(("TEE", 4)), one, stock).outcome == "not sourced"
    split = source_order(request(("TEE", 4)), two, stock)
    assert _chosen(split.allocations) == [("1", "A", 2), ("1", "B", 2)]
    assert split.shipping_warehouse("1") is not None


def test_safety_stock_is_never_promised_and_the_reservation_must_keep_it() -> None:
    cfg = config(source("A", 100, safety_stock=3), source("B", 800))
    plan = source_order(request(("TEE", 2)), cfg, {("TEE", "A"): 4, ("TEE", "B"): 2})
    assert _chosen(plan.allocations) == [("1", "B", 2)]  # A can promise only 1

    plan = source_order(request(("TEE", 1)), cfg, {("TEE", "A"): 4})
    assert (plan.allocations[0].source, plan.allocations[0].keep) == ("A", 3)


def test_a_source_past_its_cutoff_takes_nothing_when_timings_are_respected() -> None:
    late = source("A", 100, cutoff=time(14, 0))  # AT is 15:00 UTC
    cfg = config(late, source("B", 700), respect_cutoff=True)
    assert _chosen(
        source_order(request(("TEE", 1)), cfg, {("TEE", "A"): 9, ("TEE", "B"): 9}).allocations
    ) == [("1", "B", 1)]
    local = source("A", 100, cutoff=time(14, 0), utc_offset_hours=-5)  # 10:00 there
    cfg = config(local, source("B", 700), respect_cutoff=True)
    assert _chosen(
        source_order(request(("TEE", 1)), cfg, {("TEE", "A"): 9, ("TEE", "B"): 9}).allocations
    ) == [("1", "A", 1)]


def test_an_inactive_source_never_ships() -> None:
    cfg = config(source("A", 100, active=False))
    assert source_order(request(("TEE", 1)), cfg, {("TEE", "A"): 9}).outcome == "not sourced"


def test_the_alternate_strategy_runs_when_the_default_cannot_source_everything() -> None:
    anywhere = Strategy(name="anywhere", constraints=Constraints(max_sources_per_line=3))
    cfg = config(source("A", 100), source("B", 2000), alternate=anywhere, max_distance_km=1000)
    plan = source_order(request(("TEE", 3)), cfg, {("TEE", "A"): 1, ("TEE", "B"): 2})
    assert (plan.strategy, plan.outcome) == ("anywhere", "fully sourced")
    assert _chosen(plan.allocations) == [("1", "A", 1), ("1", "B", 2)]


def test_a_strategy_only_uses_its_source_list() -> None:
    cfg = DomConfig(
        sources=(source("A", 100), source("B", 900)),
        strategies=(Strategy(name="b-only", sources=("B",)),),
        default_strategy="b-only",
    )
    plan = source_order(request(("TEE", 1)), cfg, {("TEE", "A"): 9, ("TEE", "B"): 9})
    assert _chosen(plan.allocations) == [("1", "B", 1)]


def test_an_unknown_ship_to_location_checks_no_distance_and_fails_a_distance_limit() -> None:
    free = config(source("A", 100, priority=9), source("B", 900, priority=1))
    plan = source_order(request(("TEE", 1), ship_to=None), free, {("TEE", "A"): 9, ("TEE", "B"): 9})
    assert _chosen(plan.allocations) == [("1", "B", 1)] and "ship-to location unknown" in plan.notes[0]

    limited = config(source("A", 100), max_distance_km=1000)
    assert (
        source_order(request(("TEE", 1), ship_to=None), limited, {("TEE", "A"): 9}).outcome == "not sourced"
    )


def test_the_ship_to_location_comes_from_attributes_or_the_postal_code_table() -> None:
    cfg = DomConfig(
        sources=(source("A", 100),),
        strategies=(Strategy(name="s"),),
        default_strategy="s",
        geocodes={"US-98101": GeoPoint(lat=47.6, lon=-122.3), "CA-M5V": GeoPoint(lat=43.6, lon=-79.4)},
    )
    seattle = Address(name="n", line1="l", city="Seattle", postal_code="98101", country="US")
    toronto = Address(name="n", line1="l", city="Toronto", postal_code="M5V 3L9", country="CA")
    assert cfg.locate(seattle) == GeoPoint(lat=47.6, lon=-122.3)
    assert cfg.locate(toronto) == GeoPoint(lat=43.6, lon=-79.4)  # by its first three characters
    assert cfg.locate(seattle, {"ship_to_lat": "1.5", "ship_to_lon": "2"}) == GeoPoint(lat=1.5, lon=2.0)
    assert cfg.locate(seattle.model_copy(update={"postal_code": "10001"})) is None


def test_distance_is_the_great_circle() -> None:
    seattle, new_york = GeoPoint(lat=47.6062, lon=-122.3321), GeoPoint(lat=40.7128, lon=-74.0060)
    assert 3860 < distance_km(seattle, new_york) < 3880
    assert distance_km(seattle, seattle) == 0
    assert 99 < distance_km(east(0), east(100)) < 101


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sources": (source("A", 1), source("A", 2))}, "source ids must be unique"),
        ({"strategies": (Strategy(name="s", sources=("Z",)),)}, "lists unknown sources"),
        ({"default_strategy": "nope"}, "default strategy 'nope' is not defined"),
        ({"alternate_strategy": "nope"}, "alternate strategy 'nope' is not defined"),
    ],
)
def test_the_configuration_refuses_what_it_cannot_run(change: dict[str, object], message: str) -> None:
    valid: dict[str, object] = {
        "sources": (source("A", 1),),
        "strategies": (Strategy(name="s"),),
        "default_strategy": "s",
    }
    with pytest.raises(ValidationError, match=message):
        DomConfig.model_validate({**valid, **change})


def test_the_shipped_configuration_sources_the_demo_cities_from_nearby() -> None:
    from streams.services.sourcing_config import load_dom_config, load_opening_stock

    cfg = load_dom_config()
    stock = {(sku, s): n for sku, s, n in load_opening_stock(config=cfg).entries()}
    austin = cfg.locate(Address(name="n", line1="l", city="Austin", postal_code="73301", country="US"))
    plan = source_order(request(("SKU-TSHIRT-M", 2), ship_to=austin, at=AT), cfg, stock)
    assert [(a.source, a.warehouse) for a in plan.allocations] == [("DAL-DC", "13")]
