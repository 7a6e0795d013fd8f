"""``oms topics``, ``oms writer``, ``oms replay``, ``oms show``, ``oms flows`` and
``oms reprocess``: the operator's commands for orders."""

from __future__ import annotations

import logging
import os
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from streams.adapters.command_bus import CommandBus
from streams.adapters.control_feed import ControlFeed
from streams.adapters.flow_definitions import FlowCatalogFeed, publish_flows, read_published
from streams.adapters.flow_files import FlowFileError, flow_paths, load_flows
from streams.adapters.http.app import reprocess_refusal
from streams.adapters.kafka import create_topics
from streams.adapters.order_store import OrderStore
from streams.bootstrap import bootstrap
from streams.domain.commands import CommandEnvelope, ReprocessOrder
from streams.domain.error_queue import ErrorCategory
from streams.entrypoints import ops_cli
from streams.entrypoints.output import err, live_counter, order_state, status_summary, timeline
from streams.entrypoints.running import connected, run_writer
from streams.services.replay import order_timeline, replay_summary
from streams.services.writer import WRITER_GROUP, OrderWriter
from streams.shell.commands import CommandFailed, with_settings
from streams.shell.lag import LagMonitor
from streams.shell.process import run_service
from streams.shell.settings import REPO_ROOT, Settings, WriterSettings

OrderId = Annotated[str, typer.Argument(help="the order's id, e.g. BC-100 or FNO-USMF-000123")]
Quiet = Annotated[bool, typer.Option("--quiet", help="no live progress line")]


def register(app: typer.Typer) -> None:
    topics = typer.Typer(help="Create and list the OMS topics.", no_args_is_help=True)
    topics.command("create", help="Create every topic of the registry that is missing (idempotent).")(
        _topics_create
    )
    topics.command("list", help="Show the registry: topics, keys, value schemas (no broker needed).")(
        _topics_list
    )
    app.add_typer(topics, name="topics")
    app.command(
        "writer",
        help="Run the order writer: consumes order.commands, decides each command and appends the "
        "events in Kafka transactions. Run one per host; the group shares the partitions. "
        "SIGTERM or Ctrl-C stops it.",
    )(_writer)
    app.command(
        "replay",
        help="Rebuild every order's state from the event topics (merged by seq, folded) and print "
        "orders by status and reason. Read-only.",
    )(_replay)
    app.command("show", help="Show one order: its current state and its timeline of events.")(_show)
    flows = typer.Typer(help="Publish and list orchestration flows.", no_args_is_help=True)
    flows.command(
        "publish",
        help="Validate the flow files (<dir>/*.yaml; policies.yaml holds shared policies) and publish "
        "each changed flow as version n+1. Orders keep the version they started with.",
    )(_flows_publish)
    flows.command("list", help="List every published flow version.")(_flows_list)
    app.add_typer(flows, name="flows")
    app.command(
        "reprocess",
        help="Restart an order on hold from its failed step, once the cause is fixed; or, with "
        "--error/--category/--provider/--since instead of ORDER_ID, reprocess the open errors of "
        "the error queues the filters find (one already resolved is a no-op that says so). "
        "Refused (exit 1) for an unknown order or one with no failed step, as the API's 404 and 409.",
    )(_reprocess)


@with_settings(Settings)
def _topics_create(settings: Settings) -> None:
    c = connected(settings, topics=False)
    created = create_topics(c.settings, c.topics)
    for name in created:
        print(f"created {name} ({c.topics.partitions} partitions)")
    if not created:
        print(f"all {len(c.topics.specs())} topics exist")


@with_settings(Settings)
def _topics_list(settings: Settings) -> None:
    c = bootstrap(settings)
    for spec in c.topics.specs():
        values = ", ".join(m.__name__ for m in spec.values) or "raw bytes"
        print(f"{c.topics.topic(spec.name):<32} key={spec.key:<14} values={values}")


@with_settings(WriterSettings)
def _writer(settings: WriterSettings) -> int:
    def work(stop: threading.Event) -> None:
        c = bootstrap(settings)
        create_topics(c.settings, c.topics)
        store = OrderStore(c.settings.state_dir / f"writer-{c.settings.instance_id}")
        flows = FlowCatalogFeed(c.settings, c.topics, c.codec)
        control = ControlFeed(c.settings, c.topics, c.codec)
        if len(control.pauses):
            logging.warning("paused: %s", ", ".join(p.target.key for p in control.pauses.paused()))
        writer = OrderWriter(
            c.settings,
            c.topics,
            c.codec,
            store,
            c.transitions,
            batch_size=settings.batch_size,
            flows=flows,
            control=control,
            handling=c.order_handling,
            products=c.products,
        )
        with LagMonitor(settings, c.topics.prefix + WRITER_GROUP, [c.topics.commands]).running():
            run_writer(writer, store, "order writer", settings.instance_id, stop)

    return run_service(settings, work)


@with_settings(Settings)
def _replay(
    settings: Settings,
    quiet: Quiet = False,
    workers: Annotated[
        int,
        typer.Option(min=1, max=64, help="processes, each folding a share of the partitions"),
    ] = min(2, os.cpu_count() or 1),
) -> int:
    c = connected(settings)
    with live_counter("replayed", quiet=quiet) as progress:
        result = replay_summary(
            c.settings, c.topics, c.codec, workers=workers, progress=progress, wire=bootstrap
        )
    print(
        f"replayed {result.events:,} events of {result.orders:,} orders in "
        f"{result.seconds:.1f}s ({result.rate:,.0f} events/s, {workers} processes); "
        f"{result.duplicates} duplicates ignored, {result.undecodable} undecodable"
    )
    if result.held:
        print(f"WARNING: {sum(map(len, result.held.values()))} events wait for missing predecessors")
    print("orders by status / reason:")
    print(status_summary(result.by_status))
    return 1 if result.held or result.undecodable else 0


@with_settings(Settings)
def _flows_publish(
    settings: Settings,
    directory: Annotated[
        Path, typer.Option("--dir", file_okay=False, help="the folder of flow files")
    ] = REPO_ROOT / "flows",
) -> int:
    try:
        flows = load_flows(directory)
    except FlowFileError as exc:
        err(f"not published:\n{exc}")
        return 2
    c = connected(settings, topics=False)
    create_topics(c.settings, c.topics)
    paths = {f.name: str(p.relative_to(directory)) for f, p in zip(flows, flow_paths(directory), strict=True)}
    for result in publish_flows(c.settings, c.topics, c.codec, [(f, paths[f.name]) for f in flows]):
        what = "published" if result.new else "unchanged"
        print(f"{what:<10} {result.name} v{result.version}  ({result.source})")
    return 0


@with_settings(Settings)
def _flows_list(settings: Settings) -> None:
    c = connected(settings)
    for record in sorted(read_published(c.settings, c.topics, c.codec), key=lambda r: (r.name, r.version)):
        published = f"{record.published_at:%Y-%m-%d %H:%M}"
        print(f"{record.name:<24} v{record.version:<3} {record.content_hash}  {published}  {record.source}")


@with_settings(Settings)
def _reprocess(
    settings: Settings,
    order_id: Annotated[
        str | None, typer.Argument(help="the order's id, e.g. BC-100 (or use the error filters)")
    ] = None,
    reason: Annotated[
        str, typer.Option(help="why, as recorded on the order's OrderReprocessed event")
    ] = "reprocessed by an operator",
    error: Annotated[
        list[str] | None, typer.Option("--error", help="an error id of the error queues (repeatable)")
    ] = None,
    category: Annotated[ErrorCategory | None, typer.Option(help="every open error of this queue")] = None,
    provider: Annotated[str | None, typer.Option(help="every open error of this provider")] = None,
    since: Annotated[
        str | None, typer.Option(help="open errors at or after this time (ISO 8601, e.g. 2026-12-01T08:00Z)")
    ] = None,
) -> int | None:
    if order_id is None:
        if not (error or category or provider or since):
            raise typer.BadParameter(
                "give an ORDER_ID, or --error/--category/--provider/--since for the error queues"
            )
        filters = ops_cli.ErrorFilters(error or [], category, provider, ops_cli.parse_time(since))
        return ops_cli.reprocess_errors(settings, filters)
    c = connected(settings)
    refused = reprocess_refusal(order_id, order_timeline(c.settings, c.topics, c.codec, order_id).state)
    if refused is not None:
        raise CommandFailed(refused[1])
    bus = CommandBus(c.settings, c.topics, c.codec)
    command = ReprocessOrder(
        envelope=CommandEnvelope(
            command_id=f"reprocess-{uuid.uuid4()}",
            order_id=order_id,
            issued_at=datetime.now(UTC),
            correlation_id=f"reprocess-{order_id}",
            source="operator:cli",
        ),
        reason=reason,
    )
    bus.send(command)
    bus.flush()
    print(
        f"reprocess of {order_id} requested (command {command.envelope.command_id}); "
        f"`oms show {order_id}` shows what happens"
    )
    return None


@with_settings(Settings)
def _show(settings: Settings, order_id: OrderId) -> None:
    c = connected(settings)
    found = order_timeline(c.settings, c.topics, c.codec, order_id)
    if found.state is None:
        raise CommandFailed(f"order {order_id} not found in {c.settings.bootstrap_servers}")
    print(order_state(found.state))
    print("  timeline:")
    print(timeline(found.events))
