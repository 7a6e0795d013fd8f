"""The inventory aggregate per SKU@source: counts, receipts, shipments, adjustments, and
reservations that never promise a unit twice."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.domain.history import StockHistories
from streams.domain.inventory import (
    ON_HAND_EVENTS,
    AdjustOnHand,
    InventoryCommand,
    InventoryCommandEnvelope,
    InventoryEvent,
    InventoryReserved,
    InventoryShipped,
    InventoryState,
    OnHandCounted,
    RecordReceipt,
    RecordShipment,
    ReleaseReservation,
    ReservationRefused,
    ReservationReleased,
    ReserveInventory,
    SetOnHand,
    availability,
    decide_inventory,
    evolve_inventory,
    inventory_key,
)

AT = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
_n = [0]


def cmd(kind: type[InventoryCommand], command_id: str | None = None, **payload: Any) -> InventoryCommand:
    _n[0] += 1
    env = InventoryCommandEnvelope(
        command_id=command_id or f"c-{_n[0]}",
        sku="TEE",
        source="SEA-DC",
        issued_at=AT,
        correlation_id="corr",
        issued_by="tests",
    )
    return kind(envelope=env, **payload)


def reserve(rid: str, quantity: int = 1, keep: int = 0, **extra: Any) -> InventoryCommand:
    return cmd(
        ReserveInventory,
        reservation_id=rid,
        order_id=f"O-{rid}",
        line_id="1",
        quantity=quantity,
        keep=keep,
        **extra,
    )


def run(
    *commands: InventoryCommand, state: InventoryState | None = None
) -> tuple[InventoryState | None, list[InventoryEvent]]:
    events: list[InventoryEvent] = []
    for command in commands:
        new = decide_inventory(command, state)
        for event in new:
            state = evolve_inventory(state, event)
        events += new
    return state, events


def test_a_count_sets_on_hand_and_a_receipt_adds_to_it() -> None:
    state, events = run(cmd(SetOnHand, quantity=10), cmd(RecordReceipt, quantity=5, reference="ASN-1"))
    assert state is not None
    assert (state.on_hand, state.reserved, state.available) == (15, 0, 15)
    assert [type(e) for e in events] == [OnHandCounted, type(events[1])]
    assert events[0].envelope.seq == 1 and events[1].envelope.seq == 2
    assert state.key == inventory_key("TEE", "SEA-DC") == "TEE@SEA-DC"


def test_a_reservation_holds_units_and_a_release_gives_them_back() -> None:
    state, events = run(cmd(SetOnHand, quantity=3), reserve("r1", 2))
    assert state is not None and (state.reserved, state.available) == (2, 1)
    assert isinstance(events[-1], InventoryReserved) and events[-1].envelope.available == 1

    state, events = run(cmd(ReleaseReservation, reservation_id="r1", reason="plan changed"), state=state)
    assert state is not None and (state.reserved, state.available) == (0, 3)
    assert isinstance(events[-1], ReservationReleased) and events[-1].quantity == 2


def test_a_reservation_beyond_what_is_available_is_refused_with_the_reason() -> None:
    state, events = run(cmd(SetOnHand, quantity=3), reserve("r1", 2), reserve("r2", 2))
    refused = events[-1]
    assert isinstance(refused, ReservationRefused)
    assert (refused.available, refused.reason) == (1, "2 wanted, 1 available")
    assert state is not None and state.reserved == 2


def test_safety_stock_stays_unpromised() -> None:
    _, events = run(cmd(SetOnHand, quantity=5), reserve("r1", 3, keep=2), reserve("r2", 1, keep=2))
    assert isinstance(events[1], InventoryReserved)
    assert isinstance(events[2], ReservationRefused)
    assert events[2].reason == "1 wanted, 2 available, 2 kept back as safety stock"


def test_a_reservation_id_is_decided_once_granted_refused_or_released() -> None:
    state, _ = run(cmd(SetOnHand, quantity=1), reserve("r1"), reserve("r2"))
    assert decide_inventory(reserve("r1"), state) == []  # granted: the first reply stands
    state, _ = run(cmd(RecordReceipt, quantity=5), state=state)
    assert decide_inventory(reserve("r2"), state) == []  # refused before: no late grant
    state, _ = run(cmd(ReleaseReservation, reservation_id="r1"), state=state)
    assert decide_inventory(reserve("r1"), state) == []
    assert decide_inventory(cmd(ReleaseReservation, reservation_id="r1"), state) == []


def test_a_command_delivered_twice_counts_once() -> None:
    receipt = cmd(RecordReceipt, command_id="asn-7", quantity=5)
    state, events = run(cmd(SetOnHand, quantity=1), receipt, receipt)
    assert state is not None and state.on_hand == 6 and len(events) == 2


def test_a_shipment_consumes_its_reservation_and_the_units() -> None:
    state, _ = run(cmd(SetOnHand, quantity=5), reserve("r1", 2))
    state, events = run(cmd(RecordShipment, quantity=2, reservation_id="r1"), state=state)
    shipped = events[-1]
    assert isinstance(shipped, InventoryShipped) and shipped.consumed == 2
    assert state is not None and (state.on_hand, state.reserved, state.reservations) == (3, 0, {})


def test_a_count_below_what_is_held_shows_a_shortage_and_promises_nothing_more() -> None:
    state, _ = run(
        cmd(SetOnHand, quantity=5), reserve("r1", 4), cmd(AdjustOnHand, delta=-3, reason="damaged")
    )
    assert state is not None and (state.on_hand, state.reserved, state.available) == (2, 4, -2)
    _, events = run(reserve("r2"), state=state)
    assert isinstance(events[-1], ReservationRefused) and events[-1].reason == "1 wanted, 0 available"
    state, _ = run(cmd(AdjustOnHand, delta=-10), state=state)
    assert state is not None and state.on_hand == 0  # never below zero


def test_a_thousand_orders_competing_for_a_hundred_units_get_exactly_a_hundred() -> None:
    rng = random.Random(1)
    ids = [f"order-{i}" for i in range(1000)]
    asks = [reserve(rid) for rid in ids] + [
        reserve(rng.choice(ids)) for _ in range(300)
    ]  # retried saga steps
    rng.shuffle(asks)
    state, events = run(cmd(SetOnHand, quantity=100), *asks)
    granted = [e.reservation_id for e in events if isinstance(e, InventoryReserved)]
    assert len(granted) == len(set(granted)) == 100
    assert state is not None and (state.reserved, state.available) == (100, 0)


# --- properties over random command sequences -------------------------------------------------

RIDS = [f"r{i}" for i in range(8)]
commands_st = st.lists(
    st.one_of(
        st.builds(lambda q: cmd(SetOnHand, quantity=q), st.integers(0, 12)),
        st.builds(lambda d: cmd(AdjustOnHand, delta=d), st.integers(-5, 5)),
        st.builds(lambda q: cmd(RecordReceipt, quantity=q), st.integers(1, 6)),
        st.builds(
            lambda q, r: cmd(RecordShipment, quantity=q, reservation_id=r),
            st.integers(1, 4),
            st.none() | st.sampled_from(RIDS),
        ),
        st.builds(
            lambda r, q, k: reserve(r, q, k), st.sampled_from(RIDS), st.integers(1, 5), st.integers(0, 2)
        ),
        st.builds(lambda r: cmd(ReleaseReservation, reservation_id=r), st.sampled_from(RIDS)),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands_st)
def test_no_unit_is_promised_twice_and_the_fold_agrees_with_the_envelopes(
    commands: Sequence[InventoryCommand],
) -> None:
    state, events = run(*commands)
    granted = Counter(e.reservation_id for e in events if isinstance(e, InventoryReserved))
    assert all(n == 1 for n in granted.values()), "a reservation id is granted at most once"
    for e in events:
        if isinstance(e, InventoryReserved):
            assert e.envelope.reserved <= e.envelope.on_hand, "a grant never exceeds what is on hand"
    if state is not None:
        last = events[-1].envelope
        assert (state.on_hand, state.reserved) == (last.on_hand, last.reserved)
        assert state.reserved == sum(r.quantity for r in state.reservations.values())
        assert state.on_hand >= 0


@settings(max_examples=200, deadline=None)
@given(commands_st, st.randoms(use_true_random=False))
def test_events_read_from_two_topics_in_any_interleaving_fold_to_the_same_state(
    commands: Sequence[InventoryCommand], rnd: random.Random
) -> None:
    state, events = run(*commands)
    on_hand = [e for e in events if isinstance(e, ON_HAND_EVENTS)]
    reservations = [e for e in events if not isinstance(e, ON_HAND_EVENTS)]
    merged: list[InventoryEvent] = []
    while on_hand or reservations:  # each topic keeps its own order; the two interleave at random
        source = on_hand if (on_hand and (not reservations or rnd.random() < 0.5)) else reservations
        merged.append(source.pop(0))
    merged += merged[: len(merged) // 3]  # and some are delivered again
    histories = StockHistories()
    for event in merged:
        histories.add(event)
    assert histories.held == 0
    assert histories.states.get("TEE@SEA-DC") == state
    if state is not None:
        assert availability({state.key: events[-1].envelope}) == {("TEE", "SEA-DC"): state.available}


def test_commands_that_make_no_sense_are_refused_by_their_model() -> None:
    with pytest.raises(ValueError):
        reserve("r1", 0)
    with pytest.raises(ValueError):
        cmd(RecordReceipt, quantity=-1)
