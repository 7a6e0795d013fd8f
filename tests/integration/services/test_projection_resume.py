"""The projection on the real broker: stopped mid-stream and restarted, it counts every
event exactly once; rebuilt from scratch, it equals the resumed one."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

from order_watch import send
from writer_harness import components, drop_topics, running_writer

from devkit.scenarios import journey1_orders
from streams.adapters.kafka import admin
from streams.adapters.lag import consumer_lag, wait_until_caught_up
from streams.bootstrap import Components
from streams.services.projection import (
    PROJECTION_GROUP,
    Projection,
    ProjectionRunner,
    ProjectionStore,
    RunResult,
)

ORDERS = 300
EVENTS = ORDERS * 10


def _projection(c: Components, path: Path) -> Projection:
    return Projection(ProjectionStore(path), c.codec.decode, topic_prefix=c.topics.prefix)


def _run_until(c: Components, projection: Projection, events: int) -> RunResult:
    """Fold in small batches until at least ``events`` are folded, then stop (mid-stream)."""
    stop = threading.Event()
    unsubscribe = projection.subscribe(lambda _: stop.set() if projection.stats().events >= events else None)
    try:
        return ProjectionRunner(c.settings, c.topics, projection, name="test", batch_size=150).run(stop)
    finally:
        unsubscribe()


def _run_to_end(c: Components, projection: Projection) -> RunResult:
    return ProjectionRunner(c.settings, c.topics, projection, name="test").run(until_caught_up=True)


def test_stopped_mid_stream_and_restarted_the_projection_counts_every_event_once(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    c = components(kafka_bootstrap, topic_prefix, tmp_path)
    path = tmp_path / "projection"
    try:
        send(c, (cmd for order in journey1_orders(ORDERS) for cmd in order))
        with running_writer(c) as writer:
            # The projection starts while the writer is still appending, and stops and
            # restarts three times on the way: each time mid-stream.
            stops = []
            for target in (EVENTS // 5, EVENTS // 2, (EVENTS * 3) // 4):
                projection = _projection(c, path)
                _run_until(c, projection, target)
                stops.append(projection.stats().events)
                projection.store.close()
            writer.wait_for(lambda w: w.stats.events >= EVENTS, timeout=120)

        projection = _projection(c, path)
        resumed = _run_to_end(c, projection)
        stats = projection.stats()

        assert all(0 < n < EVENTS for n in stops), stops
        assert resumed.caught_up
        assert (stats.orders, stats.events, stats.duplicates, stats.undecodable) == (ORDERS, EVENTS, 0, 0)
        assert stats.waiting == {}
        assert {(s.status, s.reason): s.orders for s in stats.by_status} == {
            ("Completed", "Fulfilled"): ORDERS
        }
        histories = {f"ORD-{i:06d}": projection.history(f"ORD-{i:06d}") for i in range(1, ORDERS + 1)}
        assert all([r.event.envelope.seq for r in h] == list(range(1, 11)) for h in histories.values())
        resumed_states = {oid: projection.order(oid) for oid in histories}
        projection.store.close()

        # Rebuilt from scratch, by a projection of its own, the read model is the same.
        rebuilt = _projection(c, tmp_path / "rebuilt")
        _run_to_end(c, rebuilt)
        again = rebuilt.stats()
        assert (again.orders, again.events, again.duplicates) == (ORDERS, EVENTS, 0)
        assert Counter({(s.status, s.reason): s.orders for s in again.by_status}) == Counter(
            {(s.status, s.reason): s.orders for s in stats.by_status}
        )
        assert {oid: rebuilt.order(oid) for oid in histories} == resumed_states
        assert {oid: [r.event for r in rebuilt.history(oid)] for oid in histories} == {
            oid: [r.event for r in h] for oid, h in histories.items()
        }
        assert [p.events for p in again.providers] == [p.events for p in stats.providers]
        rebuilt.store.close()

        # Caught up, the group reads lag 0 on every partition, past the writer's commit markers.
        group = f"{c.topics.prefix}{PROJECTION_GROUP}-test"
        assert wait_until_caught_up(admin(c.settings), [group], timeout=30) == {}
        lag = consumer_lag(admin(c.settings), group)
        assert {(c.topics.topic("order.invoiced"), p) for p in range(3)} <= lag.keys()
    finally:
        drop_topics(c)
