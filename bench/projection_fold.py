"""The projection's fold in memory, without Kafka: CPU microseconds per event.

``python -m bench.projection_fold --orders 20000 --batch 5000``: journey-1 orders decided
and encoded by the real domain and codec, read back as a rebuild's consumer delivers them
(each partition of each topic in ~256 KB fetches, the fetches round robin), folded by
``Projection.apply`` in batches into a fresh store (a tmpfs one by default). See
``notes-projection.md`` for what it measured.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from devkit.scenarios import journey1_orders
from streams.adapters.kafka import partition_for
from streams.bootstrap import Components, bootstrap
from streams.domain.decider import decide
from streams.domain.order import evolve
from streams.services.projection import Projection, ProjectionStore, Record
from streams.settings import Settings

FETCH_BYTES = 262_144
"""The projection reader's ``max.partition.fetch.bytes``."""


def rebuild_order(components: Components, orders: int) -> list[Record]:
    """Every event of ``orders`` journey-1 orders, in the order a rebuild reads them."""
    logs: dict[tuple[str, int], list[Record]] = {}
    topics, partitions = components.topics, components.topics.partitions
    for commands in journey1_orders(orders):
        state = None
        for command in commands:
            for event in decide(command, state, components.transitions):
                state = evolve(state, event)
                where = (topics.event_topic(type(event)), partition_for(event.envelope.order_id, partitions))
                log = logs.setdefault(where, [])
                log.append((*where, len(log), components.codec.encode(event)))
    out: list[Record] = []
    cursors = dict.fromkeys(logs, 0)
    while cursors:
        for where, at in list(cursors.items()):
            log, size = logs[where], 0
            while at < len(log) and size < FETCH_BYTES:
                out.append(log[at])
                size += len(log[at][3])
                at += 1
            cursors[where] = at
            if at == len(log):
                del cursors[where]
    return out


def fold_seconds(components: Components, records: list[Record], batch: int, path: Path) -> float:
    """CPU seconds of folding ``records`` into a fresh store at ``path``, ``batch`` at a time."""
    shutil.rmtree(path, ignore_errors=True)
    projection = Projection(ProjectionStore(path), components.codec.decode, components.topics.prefix)
    began = time.process_time()
    for start in range(0, len(records), batch):
        projection.apply(records[start : start + batch])
    spent = time.process_time() - began
    assert projection.stats().events == len(records)
    projection.close()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path("/dev/shm" if Path("/dev/shm").is_dir() else "/tmp"))
    args = parser.parse_args()
    components = bootstrap(Settings(partitions=6))
    records = rebuild_order(components, args.orders)
    with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
        runs = [
            fold_seconds(components, records, args.batch, Path(scratch) / "p") for _ in range(args.repeat)
        ]
    us = [1e6 * s / len(records) for s in runs]
    print(
        f"{len(records):,} events, batches of {args.batch}: us/event {' '.join(f'{u:.1f}' for u in us)}"
        f" (best {min(us):.1f} = {len(records) / min(runs):,.0f} events/s)"
    )


if __name__ == "__main__":
    main()
