"""The projection in shards: each shard's store holds the orders of a share of the partitions.

One process folds ~0.4x of consume + decode, CPU-bound (Avro, pydantic, the merge: see
BENCHMARKS.md), which is what a rebuild or a long catch-up costs. No order spans
partitions, so shard ``i`` of ``n`` (``streams.services.shards``) folds its partitions into
a store of its own, ``STATE_DIR/projection-NAME-shards/shard-i-of-n``, apart from the others.

The design, and why (``oms api --shards N``, ``oms projection rebuild --shards N``):

- **Catch up in N processes** (``fold_shards``): one worker process per shard folds its
  partitions from its store's offsets to their end, with the replay's fan-out
  (``in_processes``), and closes its store. The API runs it at start when the stores are
  far behind (``behind``), then serves.
- **Serve and tail in one process** (``ShardedProjection``): the API opens every shard's
  store and one runner reads every partition, each batch's records going to the shard of
  their partition. Live traffic is small next to a rebuild, so one process keeps up, and
  one process keeps what the API already is: one address, one ``subscribe``, no router.
  An order is read from the store of its shard (``partition_for(order_id) % n``); listings
  and statistics merge across the shards.

The alternative, one long-lived ``oms projection --shard i/n`` process per shard, would need
the API to ask N processes (RocksDB lets one process open a store to write) or a router in
front of them: more moving parts for a speed only a rebuild needs.
"""

from __future__ import annotations

import functools
import heapq
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path

from streams.adapters.http.read_model import (
    HeldOrder,
    Listener,
    OrderPage,
    OrderQuery,
    ProviderActivity,
    RecordedEvent,
    Stats,
    StatusCount,
)
from streams.adapters.kafka import admin
from streams.adapters.lag import end_offsets
from streams.domain.order import OrderState
from streams.services.projection.fold import Projection, Record
from streams.services.projection.runner import ProjectionRunner, RunResult
from streams.services.projection.store import ProjectionStore
from streams.services.shards import Shard, Wiring, in_processes, shard_of, shards
from streams.settings import Settings

Where = tuple[str, int]

FAR_BEHIND = 50_000
"""Records behind from which ``oms api --shards N`` catches up in N processes first: below
it, the processes' start-up (a fresh interpreter each, once the API runs threads) costs
more than the one process's fold."""


def store_path(state_dir: Path, name: str, shard: Shard | None = None) -> Path:
    """The store of projection ``name`` (``shard``: of that shard of it; one shard of one is
    the unsharded store)."""
    if shard is None or shard.count == 1:
        return state_dir / f"projection-{name}"
    return state_dir / f"projection-{name}-shards" / f"shard-{shard.index}-of-{shard.count}"


def projection_at(path: Path, c: Wiring) -> Projection:
    return Projection(ProjectionStore(path), c.codec.decode, topic_prefix=c.topics.prefix)


def _fold_share(
    name: str, fresh: bool, settings: Settings, shard: Shard, report: Callable[[int], None], c: Wiring
) -> RunResult:
    """A worker's job: fold the shard's partitions into its store, to their end."""
    path = store_path(settings.state_dir, name, shard)
    if fresh:
        ProjectionStore.destroy(path)
    projection = projection_at(path, c)
    try:
        partitions = shard.partitions(c.topics.partitions)
        runner = ProjectionRunner(settings, c.topics, projection, name=name, partitions=partitions)
        return runner.run(until_caught_up=True, progress=lambda p: report(p.events), progress_every=0.5)
    finally:
        projection.close()


def fold_shards(
    settings: Settings,
    name: str,
    count: int,
    wire: Callable[[Settings], Wiring],
    *,
    fresh: bool = False,
    progress: Callable[[int, float], None] | None = None,
    stop: threading.Event | None = None,
) -> list[RunResult]:
    """Fold every shard's partitions into its store, to their end, a process per shard
    (``fresh``: into emptied stores). Returns each shard's run; raises ``Interrupted``
    when ``stop`` is set first."""
    job = functools.partial(_fold_share, name, fresh)
    return in_processes(job, settings, count, wire, progress, stop, fork=False)


def open_shards(settings: Settings, name: str, count: int, c: Wiring) -> ShardedProjection:
    """Every shard's store of projection ``name``, as one read model and one fold."""
    opened: list[Projection] = []
    try:
        for shard in shards(count):
            opened.append(projection_at(store_path(settings.state_dir, name, shard), c))
    except BaseException:
        for projection in opened:
            projection.close()
        raise
    return ShardedProjection(opened, c.topics.partitions)


def behind(settings: Settings, name: str, count: int, c: Wiring) -> int:
    """Records between where the shards' stores resume and the event partitions' ends
    (opens the stores for a moment: nothing else may hold them)."""
    sharded = open_shards(settings, name, count, c)
    try:
        resume = sharded.offsets()
    finally:
        sharded.close()
    wanted = [(t, p) for t in c.topics.event_topics() for p in range(c.topics.partitions)]
    ends = end_offsets(admin(settings), wanted)
    return sum(end - max(resume.get(where, earliest), earliest) for where, (earliest, end) in ends.items())


class ShardedProjection:
    """Shards' projections as one read model (the HTTP API's ``ReadModel``) and one fold
    (what ``ProjectionRunner`` feeds): records go to the shard of their partition."""

    def __init__(self, shards: Sequence[Projection], partitions: int, held_shown: int = 20) -> None:
        self.shards = list(shards)
        self._partitions = partitions
        self._held_shown = held_shown

    @property
    def caught_up(self) -> bool:
        return all(s.caught_up for s in self.shards)

    @caught_up.setter
    def caught_up(self, value: bool) -> None:
        for s in self.shards:
            s.caught_up = value

    def close(self) -> None:
        for s in self.shards:
            s.close()

    # -- the fold
    def offsets(self) -> dict[Where, int]:
        return {where: o for s in self.shards for where, o in s.offsets().items()}

    def read_offsets(self) -> dict[Where, int]:
        return {where: o for s in self.shards for where, o in s.read_offsets().items()}

    def apply(self, records: Iterable[Record]) -> int:
        """Each shard folds and commits its partitions' records (in their order)."""
        count = len(self.shards)
        parts: list[list[Record]] = [[] for _ in self.shards]
        for record in records:
            parts[record[1] % count].append(record)
        return sum(s.apply(part) for s, part in zip(self.shards, parts, strict=True) if part)

    # -- the queries
    def _of(self, order_id: str) -> Projection:
        return self.shards[shard_of(order_id, self._partitions, len(self.shards))]

    def order(self, order_id: str) -> OrderState | None:
        return self._of(order_id).order(order_id)

    def history(self, order_id: str) -> list[RecordedEvent]:
        return self._of(order_id).history(order_id)

    def order_as_of(self, order_id: str, as_of: datetime) -> OrderState | None:
        return self._of(order_id).order_as_of(order_id, as_of)

    def orders(self, query: OrderQuery) -> OrderPage:
        """Each shard's page, merged by order id. A shard that stopped early (a full page, or
        its scan bound) has not looked past its ``next_after``: the merged page ends there."""
        pages = [s.orders(query) for s in self.shards]
        ends = [p.next_after for p in pages if p.next_after is not None]
        end = min(ends) if ends else None
        merged = heapq.merge(*(p.orders for p in pages), key=lambda state: state.order_id)
        found = [state for state in merged if end is None or state.order_id <= end]
        if len(found) > query.limit:
            found = found[: query.limit]
            return OrderPage(found, found[-1].order_id)
        return OrderPage(found, end)

    def stats(self) -> Stats:
        parts = [s.stats() for s in self.shards]
        by_status: Counter[tuple[str, str]] = Counter()
        on_hold_by_reason: Counter[str] = Counter()
        for part in parts:
            by_status.update({(row.status, row.reason): row.orders for row in part.by_status})
            on_hold_by_reason.update(part.on_hold_by_reason)
        held = heapq.merge(*(p.held_orders for p in parts), key=lambda h: h.order_id)
        return Stats(
            orders=sum(p.orders for p in parts),
            events=sum(p.events for p in parts),
            duplicates=sum(p.duplicates for p in parts),
            undecodable=sum(p.undecodable for p in parts),
            by_status=[StatusCount(s, r, n) for (s, r), n in sorted(by_status.items())],
            events_per_second=sum(p.events_per_second for p in parts),
            throughput=[sum(second) for second in zip(*(p.throughput for p in parts), strict=True)],
            on_hold=sum(p.on_hold for p in parts),
            on_hold_by_reason=dict(on_hold_by_reason),
            held_orders=_first(held, self._held_shown),
            waiting={oid: seqs for p in parts for oid, seqs in p.waiting.items()},
            providers=_merged_providers([a for p in parts for a in p.providers]),
            caught_up=all(p.caught_up for p in parts),
        )

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        unsubscribes = [s.subscribe(listener) for s in self.shards]

        def unsubscribe() -> None:
            for each in unsubscribes:
                each()

        return unsubscribe


def _first(items: Iterable[HeldOrder], n: int) -> list[HeldOrder]:
    out: list[HeldOrder] = []
    for item in items:
        if len(out) == n:
            break
        out.append(item)
    return out


def _merged_providers(activities: Iterable[ProviderActivity]) -> list[ProviderActivity]:
    merged: dict[str, ProviderActivity] = {}
    for a in activities:
        seen = merged.get(a.provider)
        if seen is None:
            merged[a.provider] = a
            continue
        lasts = [t for t in (seen.last_event_at, a.last_event_at) if t is not None]
        merged[a.provider] = ProviderActivity(
            provider=a.provider,
            events=seen.events + a.events,
            last_event_at=max(lasts) if lasts else None,
            events_last_minute=seen.events_last_minute + a.events_last_minute,
        )
    return [merged[name] for name in sorted(merged)]
