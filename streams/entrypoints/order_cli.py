"""``oms topics``, ``oms writer``, ``oms replay`` and ``oms show``: the operator's commands."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from typing import Any

from streams.adapters.kafka import create_topics
from streams.adapters.order_store import OrderStore
from streams.bootstrap import bootstrap
from streams.entrypoints.output import err, order_state, status_summary, timeline
from streams.services.replay import Progress, order_timeline, replay
from streams.services.writer import OrderWriter


def register(sub: Any) -> None:
    topics = sub.add_parser("topics", help="manage the OMS topics")
    topics_sub = topics.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = topics_sub.add_parser(
        "create", help="create every topic of the registry that is missing (idempotent)"
    )
    create.set_defaults(run=_topics_create)
    listing = topics_sub.add_parser("list", help="show the registry: topics, keys, value schemas")
    listing.set_defaults(run=_topics_list)

    writer = sub.add_parser(
        "writer",
        help="run the order writer: commands in, events appended (Ctrl-C to stop)",
        description="Consumes order.commands, decides each command and appends the events "
        "in Kafka transactions. Run one per host; partitions are shared by the group.",
    )
    writer.add_argument("--batch-size", type=int, default=2000, help="commands per transaction")
    writer.add_argument("--log-level", default="INFO")
    writer.set_defaults(run=_writer)

    rep = sub.add_parser(
        "replay",
        help="rebuild every order's state from the event topics and summarise it",
        description="Reads every event topic from the beginning, merges by seq, folds, "
        "and prints orders by status and reason. Read-only.",
    )
    rep.add_argument("--quiet", action="store_true", help="no progress lines")
    rep.set_defaults(run=_replay)

    show = sub.add_parser("show", help="one order: its current state and its timeline of events")
    show.add_argument("order_id")
    show.set_defaults(run=_show)


def _topics_create(args: argparse.Namespace) -> int:
    c = bootstrap()
    created = create_topics(c.settings, c.topics)
    for name in created:
        print(f"created {name} ({c.topics.partitions} partitions)")
    if not created:
        print(f"all {len(c.topics.specs())} topics exist")
    return 0


def _topics_list(args: argparse.Namespace) -> int:
    c = bootstrap()
    for spec in c.topics.specs():
        values = ", ".join(m.__name__ for m in spec.values) or "raw bytes"
        print(f"{c.topics.topic(spec.name):<32} key={spec.key:<14} values={values}")
    return 0


def _writer(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    c = bootstrap()
    create_topics(c.settings, c.topics)
    store = OrderStore(c.settings.state_dir / f"writer-{c.settings.instance_id}")
    writer = OrderWriter(c.settings, c.topics, c.codec, store, c.transitions, batch_size=args.batch_size)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    last = [time.monotonic(), 0]

    def report() -> None:
        now = time.monotonic()
        if now - last[0] >= 5:
            s = writer.stats
            logging.info(
                "commands %d, events %d, rejected %d, dead letters %d (%.0f events/s)",
                s.commands,
                s.events,
                s.rejected,
                s.dead_letters,
                (s.events - last[1]) / (now - last[0]),
            )
            last[0], last[1] = now, s.events

    logging.info("order writer %s on %s", c.settings.instance_id, c.settings.bootstrap_servers)
    try:
        writer.run(stop, on_batch=report)
    finally:
        store.close()
    return 0


def _replay(args: argparse.Namespace) -> int:
    c = bootstrap()

    def progress(p: Progress) -> None:
        err(f"  replayed {p.events:,} events, {p.orders:,} orders ({p.rate:,.0f} events/s)")

    result = replay(c.settings, c.topics, c.codec, progress=None if args.quiet else progress)
    print(
        f"replayed {result.events:,} events of {len(result.states):,} orders in "
        f"{result.seconds:.1f}s ({result.rate:,.0f} events/s); "
        f"{result.duplicates} duplicates ignored, {result.undecodable} undecodable"
    )
    if result.held:
        print(f"WARNING: {sum(map(len, result.held.values()))} events wait for missing predecessors")
    print("orders by status / reason:")
    print(status_summary(result.by_status()))
    return 1 if result.held or result.undecodable else 0


def _show(args: argparse.Namespace) -> int:
    c = bootstrap()
    found = order_timeline(c.settings, c.topics, c.codec, args.order_id)
    if found.state is None:
        print(f"order {args.order_id} not found in {c.settings.bootstrap_servers}")
        return 1
    print(order_state(found.state))
    print("  timeline:")
    print(timeline(found.events))
    return 0
