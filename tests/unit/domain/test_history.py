"""OrderHistories: many orders' events from many topics, folded strictly by seq."""

from __future__ import annotations

import pytest
from given import cmd, create_order, given

from streams.domain.commands import (
    RecordChannelStatus,
    RecordPicked,
    RecordShipped,
    RecordValidation,
)
from streams.domain.errors import UnknownOrder
from streams.domain.events import Event
from streams.domain.history import OrderHistories
from streams.domain.transitions import FULFILLMENT_IN_PROGRESS

# created, validated, picked, shipped (seq 1..4) of one order F&O took from the start
CREATED, VALIDATED, PICKED, SHIPPED = given(
    create_order("o-1", channel="fo"),
    cmd(RecordValidation, "o-1", policy="p", passed=True),
    cmd(RecordPicked, "o-1", provider="fo"),
    cmd(RecordShipped, "o-1", provider="fo", tracking_number="1Z"),
).events


def deliver(*events: Event) -> OrderHistories:
    h = OrderHistories()
    for event in events:
        h.add(event)
    return h


def test_shipped_read_before_picked_waits_for_it() -> None:
    h = deliver(CREATED, VALIDATED, SHIPPED)
    assert h.states["o-1"].version == 2
    assert (h.held, h.held_orders()) == (1, {"o-1": [4]})

    h.add(PICKED)
    state = h.states["o-1"]
    assert (state.version, state.status, state.status_reason) == (
        4,
        FULFILLMENT_IN_PROGRESS,
        "Packed",
    )
    assert (h.held, h.held_orders(), h.duplicates) == (0, {}, 0)


def test_on_applied_sees_every_event_once_in_seq_order() -> None:
    seen: list[int] = []
    h = OrderHistories(on_applied=lambda e, s: seen.append(e.envelope.seq))
    for event in (SHIPPED, VALIDATED, CREATED, PICKED, CREATED, SHIPPED):
        h.add(event)
    assert seen == [1, 2, 3, 4]
    assert h.duplicates == 2


def test_a_gap_that_never_fills_is_reported() -> None:
    h = deliver(CREATED, PICKED, SHIPPED)
    assert h.states["o-1"].version == 1
    assert h.held_orders() == {"o-1": [3, 4]}


def test_an_event_for_an_order_never_created_is_refused_by_the_fold() -> None:
    first_of_other = given(
        create_order("o-2"), cmd(RecordChannelStatus, "o-2", channel="bc", channel_status="x")
    ).events[1]
    orphan = first_of_other.model_copy(
        update={"envelope": first_of_other.envelope.model_copy(update={"seq": 1})}
    )
    with pytest.raises(UnknownOrder, match="order o-2: cannot fold 'Channel status updated'"):
        deliver(orphan)


def test_a_duplicate_counts_once_when_the_original_was_applied() -> None:
    h = deliver(CREATED, VALIDATED, PICKED, PICKED)
    assert h.duplicates == 1


def test_a_second_copy_of_an_early_arrival_counts_as_a_duplicate() -> None:
    h = deliver(CREATED, VALIDATED, SHIPPED, SHIPPED, PICKED)
    assert (h.states["o-1"].version, h.held) == (4, 0)
    assert h.duplicates == 1
