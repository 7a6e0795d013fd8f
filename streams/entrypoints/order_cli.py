"""``oms topics``, ``oms writer``, ``oms replay`` and ``oms show``: the operator's commands."""

from __future__ import annotations

import argparse
import logging
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from streams.adapters.command_bus import CommandBus
from streams.adapters.flow_definitions import FlowCatalogFeed, publish_flows, read_published
from streams.adapters.flow_files import FlowFileError, flow_paths, load_flows
from streams.adapters.kafka import create_topics
from streams.adapters.order_store import OrderStore
from streams.bootstrap import bootstrap
from streams.domain.commands import CommandEnvelope, ReprocessOrder
from streams.entrypoints.output import err, order_state, status_summary, timeline
from streams.entrypoints.running import run_writer
from streams.services.replay import Progress, order_timeline, replay_summary
from streams.services.writer import OrderWriter
from streams.settings import REPO_ROOT


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
    rep.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="processes, each folding a share of the partitions (default: up to 2)",
    )
    rep.set_defaults(run=_replay)

    show = sub.add_parser("show", help="one order: its current state and its timeline of events")
    show.add_argument("order_id")
    show.set_defaults(run=_show)

    flows = sub.add_parser("flows", help="publish and list orchestration flows")
    flows_sub = flows.add_subparsers(dest="action", required=True, metavar="ACTION")
    publish = flows_sub.add_parser(
        "publish",
        help="validate the flow files and publish every changed flow as a new version",
        description="Reads <dir>/*.yaml (policies.yaml holds shared policies). A flow whose "
        "content changed gets version n+1; an unchanged flow keeps its version. Orders keep "
        "the version they started with.",
    )
    publish.add_argument("--dir", type=Path, default=REPO_ROOT / "flows", help="default: ./flows")
    publish.set_defaults(run=_flows_publish)
    listing_flows = flows_sub.add_parser("list", help="every published flow version")
    listing_flows.set_defaults(run=_flows_list)

    reprocess = sub.add_parser(
        "reprocess", help="restart an order on hold from its failed step (after the cause is fixed)"
    )
    reprocess.add_argument("order_id")
    reprocess.add_argument("--reason", default="reprocessed by an operator")
    reprocess.set_defaults(run=_reprocess)


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
    flows = FlowCatalogFeed(c.settings, c.topics, c.codec)
    logging.info("loaded %d published flow versions", len(flows.catalog))
    writer = OrderWriter(
        c.settings,
        c.topics,
        c.codec,
        store,
        c.transitions,
        batch_size=args.batch_size,
        flows=flows,
        handling=c.order_handling,
        products=c.products,
    )
    run_writer(writer, store, "order writer", c.settings.instance_id)
    return 0


def _replay(args: argparse.Namespace) -> int:
    c = bootstrap()

    def progress(p: Progress) -> None:
        orders = f", {p.orders:,} orders" if p.orders else ""
        err(f"  replayed {p.events:,} events{orders} ({p.rate:,.0f} events/s)")

    result = replay_summary(
        c.settings,
        c.topics,
        c.codec,
        workers=args.workers,
        progress=None if args.quiet else progress,
        wire=bootstrap,
    )
    print(
        f"replayed {result.events:,} events of {result.orders:,} orders in "
        f"{result.seconds:.1f}s ({result.rate:,.0f} events/s, {args.workers} processes); "
        f"{result.duplicates} duplicates ignored, {result.undecodable} undecodable"
    )
    if result.held:
        print(f"WARNING: {sum(map(len, result.held.values()))} events wait for missing predecessors")
    print("orders by status / reason:")
    print(status_summary(result.by_status))
    return 1 if result.held or result.undecodable else 0


def _flows_publish(args: argparse.Namespace) -> int:
    c = bootstrap()
    try:
        flows = load_flows(args.dir)
    except FlowFileError as exc:
        err(f"not published:\n{exc}")
        return 2
    create_topics(c.settings, c.topics)
    paths = {f.name: str(p.relative_to(args.dir)) for f, p in zip(flows, flow_paths(args.dir), strict=True)}
    for result in publish_flows(c.settings, c.topics, c.codec, [(f, paths[f.name]) for f in flows]):
        what = "published" if result.new else "unchanged"
        print(f"{what:<10} {result.name} v{result.version}  ({result.source})")
    return 0


def _flows_list(args: argparse.Namespace) -> int:
    c = bootstrap()
    for record in sorted(read_published(c.settings, c.topics, c.codec), key=lambda r: (r.name, r.version)):
        published = f"{record.published_at:%Y-%m-%d %H:%M}"
        print(f"{record.name:<24} v{record.version:<3} {record.content_hash}  {published}  {record.source}")
    return 0


def _reprocess(args: argparse.Namespace) -> int:
    c = bootstrap()
    bus = CommandBus(c.settings, c.topics, c.codec)
    command = ReprocessOrder(
        envelope=CommandEnvelope(
            command_id=f"reprocess-{uuid.uuid4()}",
            order_id=args.order_id,
            issued_at=datetime.now(UTC),
            correlation_id=f"reprocess-{args.order_id}",
            source="operator:cli",
        ),
        reason=args.reason,
    )
    bus.send(command)
    bus.flush()
    print(
        f"reprocess of {args.order_id} requested (command {command.envelope.command_id}); "
        f"`oms show {args.order_id}` shows what happens"
    )
    return 0


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
