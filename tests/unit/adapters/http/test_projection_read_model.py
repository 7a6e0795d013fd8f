"""The projection behind the API: exactly-once into its store, whatever the delivery.

(The projection is a service; its tests live beside the API it serves, fed in memory.)
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest
from read_side_fixtures import CODEC, Clock, Feed, Reader, flat, held_order, journeys

from streams.adapters.http.read_model import OrderQuery
from streams.domain.events import Event
from streams.domain.history import OrderHistories
from streams.domain.order import evolve
from streams.services.projection import Projection, ProjectionStore


def _reopen(projection: Projection, path: Path, clock: Clock) -> Projection:
    projection.store.close()
    return Projection(ProjectionStore(path), CODEC.decode, clock=clock)


def test_shuffled_cross_topic_delivery_in_many_batches_gives_the_in_order_states(
    tmp_path: Path, clock: Clock
) -> None:
    histories = journeys(20)
    in_order = Projection(ProjectionStore(tmp_path / "a"), CODEC.decode, clock=clock)
    in_order.apply(Feed().records(flat(histories)))
    shuffled = Projection(ProjectionStore(tmp_path / "b"), CODEC.decode, clock=clock)
    records = Feed().records(flat(histories))
    random.Random(3).shuffle(records)
    merge = OrderHistories()  # what the projection says waits, worked out on its own
    for start in range(0, len(records), 17):
        shuffled.apply(records[start : start + 17])
        for record in records[start : start + 17]:
            event = CODEC.decode(record[3])
            assert isinstance(event, Event)
            merge.add(event)
        assert shuffled.stats().waiting == merge.held_orders()

    for i in range(1, 21):
        order_id = f"ORD-{i:06d}"
        assert shuffled.order(order_id) == in_order.order(order_id)
        assert [r.event for r in shuffled.history(order_id)] == [r.event for r in in_order.history(order_id)]
    assert shuffled.stats().events == in_order.stats().events == 200
    assert shuffled.stats().waiting == {}


def test_every_view_read_back_is_the_state_folded_in_memory(projection: Projection) -> None:
    """The store writes a view without its fields at their defaults; reading fills them in."""
    feed = Feed()
    for history in [*journeys(2), held_order("HOLD-1", failed_step="validate-header")]:
        state = None
        for event in history:
            state = evolve(state, event)
            projection.apply(feed.records([event]))
            assert projection.order(event.envelope.order_id) == state


def test_an_early_arrival_survives_a_restart_between_its_batch_and_its_predecessor(
    tmp_path: Path, clock: Clock
) -> None:
    history = journeys(1)[0]
    feed = Feed()
    projection = Projection(ProjectionStore(tmp_path / "p"), CODEC.decode, clock=clock)
    projection.apply(feed.records(history[:5]))
    projection.apply(feed.records(history[6:8]))  # seq 7 and 8 come before 6
    assert projection.stats().waiting == {"ORD-000001": [7, 8]}
    before = projection.stats()

    projection = _reopen(projection, tmp_path / "p", clock)
    projection.apply(feed.since(projection.offsets()))  # what the runner reads on restart

    again = projection.stats()
    assert again.waiting == {"ORD-000001": [7, 8]}
    assert (again.events, again.duplicates) == (before.events, before.duplicates) == (5, 0)
    projection.apply(feed.records([history[5]]))
    state = projection.order("ORD-000001")
    assert state is not None and state.version == 8
    assert projection.stats().waiting == {}

    projection = _reopen(projection, tmp_path / "p", clock)
    assert feed.since(projection.offsets()) == []
    projection.apply(feed.records(history[8:]))
    assert [r.event.envelope.seq for r in projection.history("ORD-000001")] == list(range(1, 11))
    assert (projection.stats().events, projection.stats().duplicates) == (10, 0)
    projection.store.close()


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_restarts_mid_stream_read_again_from_held_records_and_count_nothing_twice(
    tmp_path: Path, clock: Clock, seed: int
) -> None:
    feed = Feed()
    feed.records(flat(journeys(30)))
    rng = random.Random(seed)
    projection = Projection(ProjectionStore(tmp_path / "p"), CODEC.decode, clock=clock)
    reader = Reader(feed, {}, rng)
    restarts = 0
    while batch := reader.read(20):
        projection.apply(batch)
        if rng.random() < 0.5:
            assert projection.stats().waiting or restarts  # the interleaving holds some
            projection = _reopen(projection, tmp_path / "p", clock)
            reader = Reader(feed, projection.offsets(), rng)
            restarts += 1

    stats = projection.stats()
    assert restarts > 3
    assert (stats.orders, stats.events, stats.duplicates, stats.waiting) == (30, 300, 0, {})
    assert {(s.status, s.reason, s.orders) for s in stats.by_status} == {("Completed", "Fulfilled", 30)}
    for i in (1, 17, 30):
        assert [r.event.envelope.seq for r in projection.history(f"ORD-{i:06d}")] == list(range(1, 11))
    projection.store.close()


def test_redelivered_records_change_nothing_and_are_counted_as_duplicates(
    tmp_path: Path, clock: Clock, projection: Projection
) -> None:
    records = Feed().records(flat(journeys(5)))
    projection.apply(records)
    before = projection.stats()

    projection.apply(records[10:30])

    after = projection.stats()
    assert (after.events, after.orders, after.by_status) == (before.events, before.orders, before.by_status)
    assert after.duplicates == before.duplicates + 20


def test_counters_and_listings_after_a_restart_equal_those_before_it(tmp_path: Path, clock: Clock) -> None:
    projection = Projection(ProjectionStore(tmp_path / "p"), CODEC.decode, clock=clock)
    histories = journeys(8)
    projection.apply(
        Feed().records(flat([h[: 3 + i] for i, h in enumerate(histories)]) + held_order("HOLD-1"))
    )
    before = projection.stats()
    listing = projection.orders(OrderQuery(limit=100))

    projection = _reopen(projection, tmp_path / "p", clock)

    after = projection.stats()
    assert (after.orders, after.events, after.by_status, after.on_hold, after.held_orders) == (
        before.orders,
        before.events,
        before.by_status,
        before.on_hold,
        before.held_orders,
    )
    assert [p.provider for p in after.providers] == ["fno"]
    assert after.providers[0].events == before.providers[0].events
    assert projection.orders(OrderQuery(limit=100)) == listing
    projection.store.close()


def test_a_listing_page_stops_after_max_scan_and_its_cursor_continues(projection: Projection) -> None:
    histories = journeys(13)
    histories[-1] = histories[-1][:6]  # ORD-000013 is picked; the others completed
    projection.apply(Feed().records(flat(histories)))
    query = OrderQuery(provider="fno", status="Fulfillment in progress", limit=5)

    pages = []
    after = None
    while True:
        page = projection.orders(replace(query, after=after), max_scan=4)
        pages.append([s.order_id for s in page.orders])
        after = page.next_after
        if after is None:
            break

    assert pages == [[], [], [], ["ORD-000013"]]
