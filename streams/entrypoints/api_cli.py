"""``oms api`` (the read side: projection + HTTP API + dashboard) and ``oms projection``.

``oms api`` runs the projection's batched Kafka loop in a thread and the aiohttp server on
the event loop of the same process; this module is where the two meet (the HTTP adapter
may not import services). ``oms projection rebuild`` folds everything again from the
first offset, with progress, and exits.

With ``--shards N`` (``OMS_PROJECTION_SHARDS``) both fold in N processes, one per shard of
the partitions, into a store per shard; the API then serves and tails the shards' stores
in its own process (``streams.services.projection.sharded`` says why).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from aiohttp import web

from streams.adapters.alert_files import AlertRulesError, load_alert_rules
from streams.adapters.alert_webhook import AlertWebhook
from streams.adapters.command_bus import CommandBus
from streams.adapters.http.app import Reprocess, create_app
from streams.adapters.http.desk import Publish
from streams.adapters.http.read_model import Stats
from streams.adapters.kafka import create_topics
from streams.bootstrap import Components, bootstrap
from streams.domain.commands import Command, CommandEnvelope, ReprocessOrder
from streams.entrypoints.output import err, live_counter, status_summary
from streams.entrypoints.running import connected
from streams.services.operations import AlertSink, MonitorRunner, OperationsMonitor
from streams.services.projection import (
    FAR_BEHIND,
    Projection,
    ProjectionRunner,
    ProjectionStore,
    RunResult,
    ShardedProjection,
    behind,
    fold_shards,
    open_shards,
    store_path,
)
from streams.services.replay import Progress
from streams.services.shards import Interrupted, Shard
from streams.shell import metrics
from streams.shell.commands import CommandFailed, with_settings
from streams.shell.health import READINESS, Check, HealthServer, add_routes, before_scrape
from streams.shell.process import BrokerWatch, Stopper, start_up
from streams.shell.settings import ApiSettings, LogLevel

log = logging.getLogger(__name__)

MakeReprocess = Callable[[CommandEnvelope, str], Command]
"""Builds the command that asks the writer to reprocess an order, from its envelope and reason."""


def _reprocess_order(envelope: CommandEnvelope, reason: str) -> Command:
    return ReprocessOrder(envelope=envelope, reason=reason)


REPROCESS_COMMAND: MakeReprocess | None = _reprocess_order
"""``None`` turns ``POST /orders/{id}/reprocess`` off (it answers 501)."""


def register(app: typer.Typer) -> None:
    app.command(
        "api",
        help="Serve the read side: folds the event topics into a RocksDB projection (a thread of this "
        "process) and serves GET /orders/{id} (as_of, min_version), /orders/{id}/history, /orders, "
        "/stats, /events/stream, /openapi.json, the dashboard at /dashboard/, and /metrics, /health, "
        "/ready. Set OMS_API_TOKEN (or OMS_API_TOKEN_FILE) to require a bearer token. With --shards N "
        "the projection is N stores, one per shard of the partitions, caught up in a process each "
        "when far behind.",
    )(_api)
    projection = typer.Typer(help="Manage the read side's projection store.", no_args_is_help=True)
    projection.command(
        "rebuild",
        help="Delete the projection store and fold every event topic from the beginning, with live "
        "progress, then print orders by status. With --shards N, N processes each fold a shard of the "
        "partitions into its own store. Stop `oms api` first (it holds the store).",
    )(_rebuild)
    app.add_typer(projection, name="projection")


Quiet = Annotated[bool, typer.Option("--quiet", help="no live progress line")]
Rebuild = Annotated[
    bool,
    typer.Option("--rebuild", help="delete the projection store first and fold every event again"),
]


ReadSide = Projection | ShardedProjection
"""What ``oms api`` serves and tails: one store, or the stores of its shards."""


def _held(path: Path, exc: Exception) -> CommandFailed:
    return CommandFailed(
        f"cannot open the projection store {path}: {exc}\n"
        "(is another `oms api` or `oms projection` using it? give this one --name)"
    )


def open_projection(c: Components, name: str, *, fresh: bool = False) -> Projection:
    path = store_path(c.settings.state_dir, name)
    if fresh:
        ProjectionStore.destroy(path)
    try:
        store = ProjectionStore(path)
    except Exception as exc:  # rocksdict raises a bare Exception for a held lock
        raise _held(path, exc) from exc
    return Projection(store, c.codec.decode, topic_prefix=c.topics.prefix)


def _shards_path(c: Components, settings: ApiSettings) -> Path:
    return store_path(c.settings.state_dir, settings.name, Shard(0, settings.shards)).parent


def _check_shards(c: Components, settings: ApiSettings) -> None:
    if settings.shards > c.topics.partitions:
        raise CommandFailed(
            f"--shards {settings.shards} is more than the {c.topics.partitions} partitions: "
            "a shard would have none"
        )


def fold_in_shards(
    c: Components, settings: ApiSettings, stop: threading.Event, *, fresh: bool, quiet: bool
) -> list[RunResult]:
    """Every shard folded to the end of its partitions, a process per shard."""
    _check_shards(c, settings)
    if fresh:
        shutil.rmtree(_shards_path(c, settings), ignore_errors=True)
    err(f"folding projection '{settings.name}' in {settings.shards} processes ({_shards_path(c, settings)})")
    with live_counter("folded", quiet=quiet) as progress:
        try:
            return fold_shards(
                c.settings,
                settings.name,
                settings.shards,
                bootstrap,
                fresh=fresh,
                progress=lambda events, seconds: progress(Progress(events, 0, seconds)),
                stop=stop,
            )
        except Interrupted:
            raise
        except Exception as exc:
            raise CommandFailed(f"the sharded fold failed: {exc}") from exc


def open_sharded(c: Components, settings: ApiSettings) -> ShardedProjection:
    try:
        return open_shards(c.settings, settings.name, settings.shards, c)
    except Exception as exc:  # rocksdict raises a bare Exception for a held lock
        raise _held(_shards_path(c, settings), exc) from exc


def open_read_side(c: Components, settings: ApiSettings, stop: threading.Event, rebuild: bool) -> ReadSide:
    """The one store; or, with shards, the shards' stores, caught up in a process each
    first when they are far behind (or rebuilt)."""
    if settings.shards == 1:
        return open_projection(c, settings.name, fresh=rebuild)
    _check_shards(c, settings)
    try:
        far = rebuild or behind(c.settings, settings.name, settings.shards, c) >= FAR_BEHIND
    except Exception as exc:  # rocksdict raises a bare Exception for a held lock
        raise _held(_shards_path(c, settings), exc) from exc
    if far:  # /health and /ready (not ready: folding) answer meanwhile, as while the broker is awaited
        health = HealthServer(settings.host, settings.port).start()
        try:
            fold_in_shards(c, settings, stop, fresh=rebuild, quiet=not rebuild)
        finally:
            health.close()
    return open_sharded(c, settings)


def reprocess_publisher(c: Components, make: MakeReprocess | None) -> Reprocess | None:
    """``POST /orders/{id}/reprocess``: publish ``make(envelope)`` to order.commands."""
    if make is None:
        return None
    bus = CommandBus(c.settings, c.topics, c.codec)

    def send(order_id: str, reason: str) -> str:
        envelope = CommandEnvelope(
            command_id=f"api-reprocess-{uuid.uuid4()}",
            order_id=order_id,
            issued_at=datetime.now(UTC),
            correlation_id=f"reprocess-{order_id}",
            source="oms-api",
        )
        bus.send(make(envelope, reason))
        bus.flush(10)
        return envelope.command_id

    async def publish(order_id: str, reason: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(None, send, order_id, reason)

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


@with_settings(ApiSettings)
def _api(settings: ApiSettings, rebuild: Rebuild = False) -> int:
    stopper = Stopper().install()
    READINESS.require(Check.BROKER, Check.SERVING)
    if start_up(settings, stopper.stop, health_at=(settings.host, settings.port)) is None:
        return 0
    c = bootstrap(settings)
    create_topics(c.settings, c.topics)
    try:
        projection = open_read_side(c, settings, stopper.stop, rebuild)
    except Interrupted:
        return 0
    runner = ProjectionRunner(c.settings, c.topics, projection, name=settings.name)
    READINESS.probe(
        Check.CAUGHT_UP,
        lambda: (projection.caught_up, "read to the end" if projection.caught_up else "folding"),
    )
    before_scrape(lambda: _count_orders(projection))
    token = settings.api_token.get_secret_value() if settings.api_token else None
    monitor = operations_monitor(c, settings)
    app = create_app(
        projection,
        token=token,
        reprocess_order=reprocess_publisher(c, REPROCESS_COMMAND),
        operations=monitor,
        publish=command_publisher(c),
        handling=c.order_handling,
    )
    add_routes(app)
    try:
        with BrokerWatch(settings).running():
            return asyncio.run(_serve(app, runner, MonitorRunner(monitor), settings, stopper, rebuild))
    finally:
        projection.close()


def operations_monitor(c: Components, settings: ApiSettings) -> OperationsMonitor:
    """The error queues, alerts and insights, with the alert rules and the signed webhook of
    the settings."""
    try:
        rules = load_alert_rules(settings.alert_rules)
    except AlertRulesError as exc:
        raise CommandFailed(f"alert rules refused:\n{exc}") from exc
    sinks: list[AlertSink] = []
    if settings.alert_webhook_url:
        if settings.alert_webhook_secret is None:
            raise CommandFailed(
                "OMS_ALERT_WEBHOOK_URL needs OMS_ALERT_WEBHOOK_SECRET (whsec_<base64>) to sign with"
            )
        secret = settings.alert_webhook_secret.get_secret_value()
        sinks.append(AlertWebhook(settings.alert_webhook_url, secret))
    return OperationsMonitor(c.settings, c.topics, c.codec, rules, alert_sinks=sinks)


def _count_orders(projection: ReadSide) -> None:
    totals: Counter[str] = Counter()
    for row in projection.stats().by_status:
        totals[row.status] += row.orders
    for status, n in totals.items():
        metrics.ORDERS.labels(status=status).set(n)


def _wake(loop: asyncio.AbstractEventLoop, done: asyncio.Event) -> None:
    loop.call_soon_threadsafe(done.set)


async def _serve(
    app: web.Application,
    runner: ProjectionRunner,
    monitor: MonitorRunner,
    settings: ApiSettings,
    stopper: Stopper,
    rebuild: bool,
) -> int:
    """The projection and the operations monitor each in a thread; the HTTP server here."""
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    failed: list[BaseException] = []
    stopper.on_stop(lambda: _wake(loop, done))

    def fold() -> None:
        with live_counter("folded", quiet=not rebuild) as progress:
            runner.run(stopper.stop, progress=progress)

    def watch(work: Callable[[], object], name: str) -> None:
        try:
            work()
        except BaseException as exc:
            log.exception("the %s stopped", name)
            failed.append(exc)
        finally:
            loop.call_soon_threadsafe(done.set)

    threads = [
        threading.Thread(target=watch, args=(fold, "projection"), name="projection", daemon=True),
        threading.Thread(
            target=watch,
            args=(lambda: monitor.run(stopper.stop), "operations monitor"),
            name="operations",
            daemon=True,
        ),
    ]
    for thread in threads:
        thread.start()
    server = web.AppRunner(app, access_log=log if settings.log_level is LogLevel.DEBUG else None)
    await server.setup()
    try:
        await web.TCPSite(server, settings.host, settings.port).start()
        READINESS.set(Check.SERVING, True, f"http://{settings.host}:{settings.port}")
        log.info(
            "read side on http://%s:%s/dashboard/ (projection %s, group %s)",
            settings.host,
            settings.port,
            settings.name,
            runner.group,
        )
        await done.wait()
    finally:
        stopper.stop.set()
        await server.cleanup()
        for thread in threads:
            await loop.run_in_executor(None, thread.join, 3)
    return 1 if failed else 0


@with_settings(ApiSettings)
def _rebuild(
    settings: ApiSettings,
    quiet: Annotated[bool, typer.Option("--quiet", help="no live progress line")] = False,
) -> int:
    c = connected(settings)
    stopper = Stopper().install()
    began = time.monotonic()
    if settings.shards == 1:
        projection: ReadSide = open_projection(c, settings.name, fresh=True)
        err(f"rebuilding projection '{settings.name}' in {store_path(c.settings.state_dir, settings.name)}")
        try:
            runner = ProjectionRunner(c.settings, c.topics, projection, name=settings.name)
            with live_counter("folded", quiet=quiet) as progress:
                results = [runner.run(stopper.stop, until_caught_up=True, progress=progress)]
            stats = projection.stats()
        finally:
            projection.close()
    else:
        try:
            results = fold_in_shards(c, settings, stopper.stop, fresh=True, quiet=quiet)
        except Interrupted:
            print("interrupted before the end of the topics; run it again", file=sys.stderr)
            return 1
        projection = open_sharded(c, settings)
        try:
            stats = projection.stats()
        finally:
            projection.close()
    return _rebuilt(settings, stats, results, time.monotonic() - began)


def _rebuilt(settings: ApiSettings, stats: Stats, results: list[RunResult], seconds: float) -> int:
    """What a rebuild says at its end, and its exit code."""
    records = sum(r.records for r in results)
    processes = f", {settings.shards} processes" if settings.shards > 1 else ""
    print(
        f"rebuilt {stats.events:,} events of {stats.orders:,} orders in {seconds:.1f}s "
        f"({records / seconds if seconds else 0:,.0f} events/s{processes}); "
        f"{stats.duplicates} duplicates ignored, {stats.undecodable} undecodable"
    )
    waiting = sum(len(s) for s in stats.waiting.values())
    if waiting:
        print(f"WARNING: {waiting} events wait for missing predecessors")
    print("orders by status / reason:")
    print(status_summary(Counter({(s.status, s.reason): s.orders for s in stats.by_status})))
    if not all(r.caught_up for r in results):
        print("interrupted before the end of the topics; run it again", file=sys.stderr)
        return 1
    return 1 if waiting or stats.undecodable else 0
