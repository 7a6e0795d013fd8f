"""The projection in shards answers as the projection in one store: each order from the
store of its shard, listings and statistics merged across the shards."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from read_side_fixtures import CODEC, TOPICS, Clock, Feed, flat, held_order, journeys

from streams.adapters.http.read_model import OrderPage, OrderQuery
from streams.services.projection import Projection, ProjectionStore, ShardedProjection
from streams.services.shards import shard_of

ORDERS = [f"ORD-{i:06d}" for i in range(1, 31)] + [f"HOLD-{i}" for i in range(5)]


def _projection(path: Path, clock: Clock) -> Projection:
    return Projection(ProjectionStore(path), CODEC.decode, clock=clock)


@pytest.fixture
def fed(tmp_path: Path, clock: Clock) -> Iterator[tuple[Projection, ShardedProjection]]:
    """The same shuffled records, in batches, into one store and into two shards' stores."""
    events = flat(journeys(30)) + flat([held_order(f"HOLD-{i}", reason=f"reason {i % 2}") for i in range(5)])
    records = Feed().records(events)
    random.Random(7).shuffle(records)
    one = _projection(tmp_path / "one", clock)
    sharded = ShardedProjection(
        [_projection(tmp_path / f"shard-{i}", clock) for i in range(2)], TOPICS.partitions
    )
    for start in range(0, len(records), 23):
        one.apply(records[start : start + 23])
        sharded.apply(records[start : start + 23])
    yield one, sharded
    one.close()
    sharded.close()


def _pages(read: Projection | ShardedProjection, query: OrderQuery) -> list[OrderPage]:
    pages = [read.orders(query)]
    while pages[-1].next_after is not None:
        pages.append(read.orders(OrderQuery(**{**vars(query), "after": pages[-1].next_after})))
    return pages


def test_given_the_same_records_when_sharded_then_every_order_and_history_is_the_same(
    fed: tuple[Projection, ShardedProjection],
) -> None:
    one, sharded = fed

    for order_id in ORDERS:
        assert sharded.order(order_id) == one.order(order_id) is not None
        assert [r.event for r in sharded.history(order_id)] == [r.event for r in one.history(order_id)]
        as_of = one.history(order_id)[1].event.envelope.occurred_at
        assert sharded.order_as_of(order_id, as_of) == one.order_as_of(order_id, as_of)


def test_each_order_lives_in_the_store_of_its_shard_only(fed: tuple[Projection, ShardedProjection]) -> None:
    _, sharded = fed

    for order_id in ORDERS:
        home = shard_of(order_id, TOPICS.partitions, 2)
        assert [s.store.view(order_id) is not None for s in sharded.shards] == [i == home for i in range(2)]
    assert all(s.stats().orders > 0 for s in sharded.shards)


@pytest.mark.parametrize(
    "query",
    [
        OrderQuery(limit=7),
        OrderQuery(limit=1),
        OrderQuery(limit=100),
        OrderQuery(status="On hold", limit=2),
        OrderQuery(reason="reason 1"),
        OrderQuery(status="Completed", reason="Fulfilled", limit=4, after="ORD-000010"),
    ],
)
def test_listings_merge_across_the_shards_page_for_page(
    fed: tuple[Projection, ShardedProjection], query: OrderQuery
) -> None:
    one, sharded = fed

    assert _pages(sharded, query) == _pages(one, query)


def test_statistics_add_up_across_the_shards(fed: tuple[Projection, ShardedProjection]) -> None:
    one, sharded = fed
    expected, merged = one.stats(), sharded.stats()

    assert merged == expected
    assert (merged.orders, merged.on_hold, merged.duplicates) == (35, 5, 0)


def test_the_shards_resume_where_the_one_store_does_and_listeners_hear_every_shard(
    fed: tuple[Projection, ShardedProjection],
) -> None:
    one, sharded = fed
    assert sharded.offsets() == one.offsets()
    assert sharded.read_offsets() == one.read_offsets()
    heard: list[str] = []
    unsubscribe = sharded.subscribe(lambda changes: heard.extend(c.order_id for c in changes))
    more = Feed()
    more.next_offset = {where: offset for where, offset in one.offsets().items()}
    records = more.records(flat(journeys(4, prefix="NEW")))

    sharded.apply(records)
    unsubscribe()
    sharded.apply(Feed().records(flat(journeys(1, prefix="LATE"))))

    assert sharded.offsets().keys() == one.offsets().keys() | {(r[0], r[1]) for r in records}
    assert sorted(set(heard)) == [f"NEW-{i:06d}" for i in range(1, 5)]
    assert len(heard) == 40
