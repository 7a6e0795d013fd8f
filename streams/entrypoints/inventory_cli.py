"""``oms inventory-writer``, ``oms inventory ...`` and ``oms backorders ...``: inventory,
reservations and the backorder job, for operators. DOM itself is ``oms dom``."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.status import Status

from streams.adapters.kafka import create_topics
from streams.adapters.state_store import InventoryStore
from streams.bootstrap import bootstrap
from streams.domain.backorders import BackorderJobRun
from streams.domain.inventory import (
    AdjustOnHand,
    InventoryCommand,
    RecordReceipt,
    RecordShipment,
    SetOnHand,
)
from streams.entrypoints.output import err
from streams.entrypoints.running import connected, run_writer
from streams.services.backorders import BackorderJob, job_log
from streams.services.inventory import InventoryFeed, InventoryView, inventory_envelope
from streams.services.inventory_writer import INVENTORY_GROUP, InventoryWriter
from streams.services.sourcing_config import (
    DEFAULT_DOM_CONFIG,
    DEFAULT_OPENING_STOCK,
    ConfigFileError,
    load_dom_config,
    load_opening_stock,
)
from streams.shell.commands import CommandFailed, with_settings
from streams.shell.lag import LagMonitor
from streams.shell.process import run_service
from streams.shell.settings import BackorderSettings, InventoryWriterSettings, Settings

Reference = Annotated[str, typer.Option(help="receipt, shipment or reason text")]
Sku = Annotated[str, typer.Argument(help="the SKU")]
Source = Annotated[str, typer.Argument(help="the source (site or warehouse), as in config/dom.yaml")]
Quantity = Annotated[int, typer.Argument(help="units")]
ConfigFile = Annotated[
    Path, typer.Option("--config", exists=True, dir_okay=False, help="the sources to check against")
]


def register(app: typer.Typer) -> None:
    app.command(
        "inventory-writer",
        help="Run the inventory writer: consumes inventory.commands and appends inventory.on-hand and "
        "inventory.reservations in Kafka transactions, per SKU@source. Run one per host.",
    )(_writer)
    inventory = typer.Typer(help="Report stock to the inventory and look at it.", no_args_is_help=True)
    inventory.command(
        "load", help="Send on-hand snapshots from a stock file (default config/inventory.yaml)."
    )(_load)
    inventory.command("set", help="A count: on hand is now QUANTITY.")(_set)
    inventory.command("receive", help="A receipt: QUANTITY more on hand.")(_receive)
    inventory.command("adjust", help="An adjustment: on hand changes by QUANTITY (may be negative).")(_adjust)
    inventory.command(
        "ship", help="A shipment: QUANTITY fewer on hand (of a reservation, with --reservation)."
    )(_ship)
    inventory.command("show", help="On hand, reserved and available per SKU@source.")(_show)
    app.add_typer(inventory, name="inventory")
    backorders = typer.Typer(help="The backorder job and its log.", no_args_is_help=True)
    backorders.command(
        "run",
        help="Run the backorder job: re-source held lines that have stock, cancel those past their SLA. "
        "Once, or every --every seconds until stopped. Each run is logged on backorder.job-runs.",
    )(_backorders_run)
    backorders.command("log", help="Show what the job's last runs processed.")(_backorders_log)
    app.add_typer(backorders, name="backorders")


@with_settings(InventoryWriterSettings)
def _writer(settings: InventoryWriterSettings) -> int:
    def work(stop: threading.Event) -> None:
        c = bootstrap(settings)
        create_topics(c.settings, c.topics)
        store = InventoryStore(c.settings.state_dir / f"inventory-{c.settings.instance_id}")
        writer = InventoryWriter(c.settings, c.topics, c.codec, store, batch_size=settings.batch_size)
        group = c.topics.prefix + INVENTORY_GROUP
        with LagMonitor(settings, group, [c.topics.inventory_commands]).running():
            run_writer(writer, store, "inventory writer", settings.instance_id, stop)

    return run_service(settings, work)


@with_settings(Settings)
def _load(
    settings: Settings,
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="the stock file")
    ] = DEFAULT_OPENING_STOCK,
    config: ConfigFile = DEFAULT_DOM_CONFIG,
) -> int:
    try:
        stock = load_opening_stock(file, load_dom_config(config))
    except ConfigFileError as exc:
        err(f"not loaded:\n{exc}")
        return 2
    c = connected(settings, topics=False)
    create_topics(c.settings, c.topics)
    feed = InventoryFeed(c.settings, c.topics, c.codec)
    n = feed.send_all(
        SetOnHand(envelope=inventory_envelope(sku, source, "operator:load"), quantity=units)
        for sku, source, units in stock.entries()
    )
    feed.flush()
    print(f"sent {n} on-hand snapshots from {file}")
    return 0


def _send(settings: Settings, command: InventoryCommand) -> None:
    c = connected(settings)
    feed = InventoryFeed(c.settings, c.topics, c.codec)
    feed.send(command)
    feed.flush()
    print(f"{type(command).__name__} for {command.envelope.key} sent (command {command.envelope.command_id})")


@with_settings(Settings)
def _set(settings: Settings, sku: Sku, source: Source, quantity: Quantity) -> None:
    _send(settings, SetOnHand(envelope=inventory_envelope(sku, source, "operator:cli"), quantity=quantity))


@with_settings(Settings)
def _receive(
    settings: Settings, sku: Sku, source: Source, quantity: Quantity, reference: Reference = ""
) -> None:
    env = inventory_envelope(sku, source, "operator:cli")
    _send(settings, RecordReceipt(envelope=env, quantity=quantity, reference=reference))


@with_settings(Settings)
def _adjust(
    settings: Settings, sku: Sku, source: Source, quantity: Quantity, reference: Reference = ""
) -> None:
    env = inventory_envelope(sku, source, "operator:cli")
    _send(settings, AdjustOnHand(envelope=env, delta=quantity, reason=reference))


@with_settings(Settings)
def _ship(
    settings: Settings,
    sku: Sku,
    source: Source,
    quantity: Quantity,
    reference: Reference = "",
    reservation: Annotated[str | None, typer.Option(help="the reservation the units were held by")] = None,
) -> None:
    env = inventory_envelope(sku, source, "operator:cli")
    _send(
        settings,
        RecordShipment(envelope=env, quantity=quantity, reservation_id=reservation, reference=reference),
    )


@with_settings(Settings)
def _show(
    settings: Settings, sku: Annotated[str | None, typer.Argument(help="only this SKU")] = None
) -> None:
    c = connected(settings)
    view = InventoryView(c.settings, c.topics, c.codec)
    view.close()
    rows = [env for env in view.levels.values() if sku in (None, env.sku)]
    if not rows:
        print("no inventory yet (oms inventory load)")
        return
    print(f"{'SKU@source':<28} {'on hand':>8} {'reserved':>9} {'available':>10}")
    for env in sorted(rows, key=lambda e: e.key):
        print(f"{env.key:<28} {env.on_hand:>8} {env.reserved:>9} {env.available:>10}")


def _print_run(run: BackorderJobRun) -> None:
    took = (run.finished_at - run.started_at).total_seconds()
    print(
        f"{run.started_at:%Y-%m-%d %H:%M:%S} {run.run_id} ({run.trigger}, {took:.1f}s): "
        f"{run.orders_examined} orders, {run.lines_held} lines held; "
        f"re-sourcing {len(run.rechecked)}, canceled lines of {len(run.canceled)}, {run.waiting} waiting"
    )
    for what, entries in (("re-source", run.rechecked), ("canceled", run.canceled)):
        for entry in entries:
            print(f"    {what:<9} {entry}")


@with_settings(BackorderSettings)
def _backorders_run(
    settings: BackorderSettings,
    as_of: Annotated[
        datetime | None,
        typer.Option(
            "--as-of",
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"],
            help="run once as if it were then (e.g. a preorder's launch date, 2030-01-15T08:00:00+0000)",
        ),
    ] = None,
) -> int:
    try:
        config = load_dom_config(settings.config)
    except ConfigFileError as exc:
        raise CommandFailed(str(exc)) from None
    if settings.every is None:
        c = connected(settings, topics=False, owns_state=True)
        create_topics(c.settings, c.topics)
        job = BackorderJob(c.settings, c.topics, c.codec, config)
        try:
            with Status("backorder job running", console=Console(stderr=True)):
                run = job.run_once(now=_aware(as_of))
        finally:
            job.close()
        _print_run(run)
        return 0
    every = settings.every

    def work(stop: threading.Event) -> None:
        c = bootstrap(settings)
        create_topics(c.settings, c.topics)
        BackorderJob(c.settings, c.topics, c.codec, config).run_every(every, stop, _print_run)

    return run_service(settings, work)


def _aware(at: datetime | None) -> datetime | None:
    """A time without an offset is UTC."""
    return at if at is None or at.tzinfo else at.replace(tzinfo=UTC)


@with_settings(Settings)
def _backorders_log(
    settings: Settings, last: Annotated[int, typer.Option(min=1, help="how many of the latest runs")] = 10
) -> None:
    c = connected(settings)
    runs = job_log(c.settings, c.topics, c.codec)
    if not runs:
        print("the backorder job has not run yet (oms backorders run)")
    for run in runs[-last:]:
        _print_run(run)
