"""``oms api`` (the read side: projection + HTTP API + dashboard) and ``oms projection``.

``oms api`` runs the projection's batched Kafka loop in a thread and the aiohttp server on
the event loop of the same process; this module is where the two meet (the HTTP adapter
may not import services). ``oms projection rebuild`` folds everything again from the
first offset, with progress, and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from streams.adapters.command_bus import CommandBus
from streams.adapters.http.app import Reprocess, create_app
from streams.adapters.http.desk import Publish
from streams.adapters.kafka import create_topics
from streams.bootstrap import Components, bootstrap
from streams.domain.commands import Command, CommandEnvelope, ReprocessOrder
from streams.entrypoints.output import err, status_summary
from streams.services.projection import Projection, ProjectionRunner, ProjectionStore, RunResult
from streams.services.replay import Progress

log = logging.getLogger(__name__)

TOKEN_VARIABLE = "OMS_API_TOKEN"

MakeReprocess = Callable[[CommandEnvelope], Command]
"""Builds the command that asks the writer to reprocess an order, from its envelope."""


def _reprocess_order(envelope: CommandEnvelope) -> Command:
    return ReprocessOrder(envelope=envelope, reason="requested through the read-side API")


REPROCESS_COMMAND: MakeReprocess | None = _reprocess_order
"""``None`` turns ``POST /orders/{id}/reprocess`` off (it answers 501)."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    api = sub.add_parser(
        "api",
        help="serve the read side: order query API, live events and the dashboard",
        description="Folds the event topics into a RocksDB projection (a thread of this "
        "process) and serves it over HTTP: GET /orders/{id} (as_of, min_version), "
        "/orders/{id}/history, /orders, /stats, /events/stream, /openapi.json, and the "
        "dashboard at /dashboard/. Set OMS_API_TOKEN to require a bearer token.",
    )
    api.add_argument("--host", default="127.0.0.1", help="address to listen on")
    api.add_argument("--port", type=int, default=8080)
    api.add_argument(
        "--rebuild",
        action="store_true",
        help="delete the projection store first and fold every event again (progress on "
        "stderr; /healthz says caught_up when done)",
    )
    _name_argument(api)
    api.add_argument("--log-level", default="INFO")
    api.set_defaults(run=_api)

    projection = sub.add_parser("projection", help="manage the read side's projection store")
    actions = projection.add_subparsers(dest="action", required=True, metavar="ACTION")
    rebuild = actions.add_parser(
        "rebuild",
        help="delete the projection store and fold every event topic from the beginning",
        description="Stop `oms api` first (it holds the store). Prints progress to stderr "
        "and a summary by status when every partition is read to its end.",
    )
    _name_argument(rebuild)
    rebuild.add_argument("--quiet", action="store_true", help="no progress lines")
    rebuild.set_defaults(run=_rebuild)


def _name_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--name",
        default="default",
        help="the projection's name: its store (OMS_STATE_DIR/projection-NAME) and consumer "
        "group; projections with different names are independent",
    )


def store_path(c: Components, name: str) -> Path:
    return c.settings.state_dir / f"projection-{name}"


def open_projection(c: Components, name: str, *, fresh: bool = False) -> Projection:
    path = store_path(c, name)
    if fresh:
        ProjectionStore.destroy(path)
    try:
        store = ProjectionStore(path)
    except Exception as exc:  # rocksdict raises a bare Exception for a held lock
        raise SystemExit(
            f"cannot open the projection store {path}: {exc}\n"
            "(is another `oms api` or `oms projection` using it? give this one --name)"
        ) from exc
    return Projection(store, c.codec.decode, topic_prefix=c.topics.prefix)


def reprocess_publisher(c: Components, make: MakeReprocess | None) -> Reprocess | None:
    """``POST /orders/{id}/reprocess``: publish ``make(envelope)`` to order.commands."""
    if make is None:
        return None
    bus = CommandBus(c.settings, c.topics, c.codec)

    def send(order_id: str) -> str:
        envelope = CommandEnvelope(
            command_id=f"api-reprocess-{uuid.uuid4()}",
            order_id=order_id,
            issued_at=datetime.now(UTC),
            correlation_id=f"reprocess-{order_id}",
            source="oms-api",
        )
        bus.send(make(envelope))
        bus.flush(10)
        return envelope.command_id

    async def publish(order_id: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(None, send, order_id)

    return publish


def command_publisher(c: Components) -> Publish:
    """The order desk's write routes: publish their commands to order.commands."""
    bus = CommandBus(c.settings, c.topics, c.codec)

    def send(command: Command) -> None:
        bus.send(command)
        bus.flush(10)

    async def publish(command: Command) -> None:
        await asyncio.get_running_loop().run_in_executor(None, send, command)

    return publish


def _progress_printer(label: str) -> Callable[[Progress], None]:
    def progress(p: Progress) -> None:
        err(f"  {label} {p.events:,} events, {p.orders:,} orders ({p.rate:,.0f} events/s)")

    return progress


def _api(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    c = bootstrap()
    create_topics(c.settings, c.topics)
    projection = open_projection(c, args.name, fresh=args.rebuild)
    runner = ProjectionRunner(c.settings, c.topics, projection, name=args.name)
    token = os.environ.get(TOKEN_VARIABLE) or None
    app = create_app(
        projection,
        token=token,
        reprocess_order=reprocess_publisher(c, REPROCESS_COMMAND),
        publish=command_publisher(c),
        handling=c.order_handling,
    )
    try:
        return asyncio.run(_serve(app, runner, args))
    finally:
        projection.store.close()


async def _serve(app: web.Application, runner: ProjectionRunner, args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    failed: list[BaseException] = []
    stop = threading.Event()

    def fold() -> None:
        try:
            runner.run(stop, progress=_progress_printer("folded") if args.rebuild else None)
        except BaseException as exc:
            log.exception("the projection stopped")
            failed.append(exc)
        finally:
            loop.call_soon_threadsafe(done.set)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    thread = threading.Thread(target=fold, name="projection", daemon=True)
    thread.start()
    server = web.AppRunner(app, access_log=log if args.log_level == "DEBUG" else None)
    await server.setup()
    try:
        await web.TCPSite(server, args.host, args.port).start()
        log.info(
            "read side on http://%s:%s/dashboard/ (projection %s, group %s)",
            args.host,
            args.port,
            args.name,
            runner.group,
        )
        await done.wait()
    finally:
        await server.cleanup()
        stop.set()
        await loop.run_in_executor(None, thread.join, 30)
    return 1 if failed else 0


def _rebuild(args: argparse.Namespace) -> int:
    logging.basicConfig(level="WARNING", format="%(levelname)s %(name)s: %(message)s")
    c = bootstrap()
    projection = open_projection(c, args.name, fresh=True)
    err(f"rebuilding projection '{args.name}' in {store_path(c, args.name)}")
    try:
        runner = ProjectionRunner(c.settings, c.topics, projection, name=args.name)
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        began = time.monotonic()
        result: RunResult = runner.run(
            stop,
            until_caught_up=True,
            progress=None if args.quiet else _progress_printer("folded"),
        )
        stats = projection.stats()
    finally:
        projection.store.close()
    seconds = time.monotonic() - began
    print(
        f"rebuilt {stats.events:,} events of {stats.orders:,} orders in {seconds:.1f}s "
        f"({result.records / seconds if seconds else 0:,.0f} events/s); "
        f"{stats.duplicates} duplicates ignored, {stats.undecodable} undecodable"
    )
    waiting = sum(len(s) for s in stats.waiting.values())
    if waiting:
        print(f"WARNING: {waiting} events wait for missing predecessors")
    print("orders by status / reason:")
    print(status_summary(Counter({(s.status, s.reason): s.orders for s in stats.by_status})))
    if not result.caught_up:
        print("interrupted before the end of the topics; run it again", file=sys.stderr)
        return 1
    return 1 if waiting or stats.undecodable else 0
