"""The projection in shards on the real broker: a 2-shard rebuild, a process per shard,
answers as the one-process projection, and tails live in one process after it."""

from __future__ import annotations

from pathlib import Path

from order_watch import send
from writer_harness import components, drop_topics, running_writer

from devkit.scenarios import journey1_orders
from streams.adapters.http.read_model import OrderPage, OrderQuery, ReadModel, Stats
from streams.bootstrap import Components, bootstrap
from streams.services.projection import (
    Projection,
    ProjectionRunner,
    ProjectionStore,
    fold_shards,
    open_shards,
    store_path,
)
from streams.services.shards import Shard

ORDERS = 200


def _write(c: Components, orders: int, prefix: str) -> None:
    send(c, (cmd for order in journey1_orders(orders, prefix=prefix) for cmd in order))
    with running_writer(c, store_name=f"writer-{prefix}") as writer:
        writer.wait_for(lambda w: w.stats.events >= orders * 10, timeout=120)


def _pages(read: ReadModel, query: OrderQuery) -> list[OrderPage]:
    pages = [read.orders(query)]
    while pages[-1].next_after is not None:
        pages.append(read.orders(OrderQuery(**{**vars(query), "after": pages[-1].next_after})))
    return pages


def _counts(stats: Stats) -> tuple[object, ...]:
    """What must agree (throughput is per wall-clock second of each run: it may not)."""
    by_status = {(s.status, s.reason): s.orders for s in stats.by_status}
    providers = [(p.provider, p.events, p.last_event_at) for p in stats.providers]
    return (
        stats.orders,
        stats.events,
        stats.duplicates,
        stats.undecodable,
        by_status,
        providers,
        stats.waiting,
    )


def _same(one: Projection, other: ReadModel, order_ids: list[str]) -> None:
    assert _counts(other.stats()) == _counts(one.stats())
    for order_id in order_ids:
        assert other.order(order_id) == one.order(order_id) is not None
        assert [r.event for r in other.history(order_id)] == [r.event for r in one.history(order_id)]
    for query in (OrderQuery(limit=37), OrderQuery(status="Completed", reason="Fulfilled", limit=50)):
        assert _pages(other, query) == _pages(one, query)


def test_a_two_shard_rebuild_gives_the_one_process_projections_states_and_queries(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    c = components(kafka_bootstrap, topic_prefix, tmp_path)
    one = Projection(ProjectionStore(tmp_path / "one"), c.codec.decode, topic_prefix=c.topics.prefix)
    try:
        _write(c, ORDERS, "ORD")
        ProjectionRunner(c.settings, c.topics, one, name="one").run(until_caught_up=True)

        runs = fold_shards(c.settings, "two", 2, bootstrap, fresh=True)

        assert all(run.caught_up for run in runs)
        assert sum(run.records for run in runs) == ORDERS * 10
        assert all(store_path(c.settings.state_dir, "two", Shard(i, 2)).is_dir() for i in range(2))
        sharded = open_shards(c.settings, "two", 2, c)
        try:
            assert [s.stats().orders for s in sharded.shards] != [ORDERS, 0]
            _same(one, sharded, [f"ORD-{i:06d}" for i in range(1, ORDERS + 1)])

            # Then, as `oms api --shards 2` does: one process tails every partition into the shards.
            _write(c, 30, "NEW")
            ProjectionRunner(c.settings, c.topics, one, name="one").run(until_caught_up=True)
            tail = ProjectionRunner(c.settings, c.topics, sharded, name="two").run(until_caught_up=True)

            assert tail.caught_up and tail.records == 300
            orders = [f"ORD-{i:06d}" for i in range(1, ORDERS + 1)] + [f"NEW-{i:06d}" for i in range(1, 31)]
            _same(one, sharded, orders)
            assert sharded.stats().orders == ORDERS + 30
        finally:
            sharded.close()
    finally:
        one.close()
        drop_topics(c)
