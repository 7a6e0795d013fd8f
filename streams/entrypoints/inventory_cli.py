"""``oms inventory-writer``, ``oms inventory ...`` and ``oms backorders ...``: inventory,
reservations and the backorder job, for operators. DOM itself runs as
``python -m streams.entrypoints.dom_cli``."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
from streams.entrypoints.running import run_writer
from streams.services.backorders import BackorderJob, job_log
from streams.services.inventory import InventoryFeed, InventoryView, inventory_envelope
from streams.services.inventory_writer import InventoryWriter
from streams.services.sourcing_config import (
    DEFAULT_DOM_CONFIG,
    DEFAULT_OPENING_STOCK,
    ConfigFileError,
    load_dom_config,
    load_opening_stock,
)


def register(sub: Any) -> None:
    writer = sub.add_parser(
        "inventory-writer",
        help="run the inventory writer: counts, receipts, shipments and reservations decided per SKU@source",
        description="Consumes inventory.commands and appends inventory.on-hand and inventory.reservations "
        "in Kafka transactions. Run one per host; partitions are shared by the group.",
    )
    writer.add_argument("--batch-size", type=int, default=2000, help="commands per transaction")
    writer.add_argument("--log-level", default="INFO")
    writer.set_defaults(run=_writer)

    inventory = sub.add_parser("inventory", help="report stock to the inventory and look at it")
    actions = inventory.add_subparsers(dest="action", required=True, metavar="ACTION")
    load = actions.add_parser(
        "load", help="on-hand snapshots from a stock file (default config/inventory.yaml)"
    )
    load.add_argument("file", type=Path, nargs="?", default=DEFAULT_OPENING_STOCK)
    load.add_argument(
        "--config", type=Path, default=DEFAULT_DOM_CONFIG, help="the sources to check it against"
    )
    load.set_defaults(run=_load)
    for name, helptext in (
        ("set", "a count: on hand is now QUANTITY"),
        ("receive", "a receipt: QUANTITY more on hand"),
        ("adjust", "an adjustment: on hand changes by QUANTITY (may be negative)"),
        ("ship", "a shipment: QUANTITY fewer on hand (of a reservation, with --reservation)"),
    ):
        one = actions.add_parser(name, help=helptext)
        one.add_argument("sku")
        one.add_argument("source")
        one.add_argument("quantity", type=int)
        one.add_argument("--reference", default="", help="receipt, shipment or reason text")
        if name == "ship":
            one.add_argument("--reservation", default=None)
        one.set_defaults(run=_report, kind=name)
    show = actions.add_parser("show", help="on hand, reserved and available per SKU@source")
    show.add_argument("sku", nargs="?", help="only this SKU")
    show.set_defaults(run=_show)

    backorders = sub.add_parser("backorders", help="the backorder job and its log")
    jobs = backorders.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = jobs.add_parser(
        "run",
        help="run the backorder job: re-source held lines that have stock, cancel those past their SLA",
        description="Once, or periodically with --every. Each run is logged on backorder.job-runs.",
    )
    run.add_argument("--every", type=float, default=None, metavar="SECONDS", help="repeat until Ctrl-C")
    run.add_argument("--config", type=Path, default=DEFAULT_DOM_CONFIG, help="sources (safety stock)")
    run.add_argument(
        "--as-of",
        type=datetime.fromisoformat,
        default=None,
        metavar="ISO-TIME",
        help="run as if it were then (e.g. a preorder's launch date, 2030-01-15T08:00:00+00:00)",
    )
    run.set_defaults(run=_backorders_run)
    log = jobs.add_parser("log", help="what the job's runs processed")
    log.add_argument("--last", type=int, default=10)
    log.set_defaults(run=_backorders_log)


def _writer(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    c = bootstrap()
    create_topics(c.settings, c.topics)
    store = InventoryStore(c.settings.state_dir / f"inventory-{c.settings.instance_id}")
    writer = InventoryWriter(c.settings, c.topics, c.codec, store, batch_size=args.batch_size)
    run_writer(writer, store, "inventory writer", c.settings.instance_id)
    return 0


def _load(args: argparse.Namespace) -> int:
    c = bootstrap()
    try:
        stock = load_opening_stock(args.file, load_dom_config(args.config))
    except ConfigFileError as exc:
        err(f"not loaded:\n{exc}")
        return 2
    create_topics(c.settings, c.topics)
    feed = InventoryFeed(c.settings, c.topics, c.codec)
    n = feed.send_all(
        SetOnHand(envelope=inventory_envelope(sku, source, "operator:load"), quantity=units)
        for sku, source, units in stock.entries()
    )
    feed.flush()
    print(f"sent {n} on-hand snapshots from {args.file}")
    return 0


def _report(args: argparse.Namespace) -> int:
    c = bootstrap()
    env = inventory_envelope(args.sku, args.source, "operator:cli")
    command: InventoryCommand
    if args.kind == "set":
        command = SetOnHand(envelope=env, quantity=args.quantity)
    elif args.kind == "receive":
        command = RecordReceipt(envelope=env, quantity=args.quantity, reference=args.reference)
    elif args.kind == "adjust":
        command = AdjustOnHand(envelope=env, delta=args.quantity, reason=args.reference)
    else:
        command = RecordShipment(
            envelope=env, quantity=args.quantity, reservation_id=args.reservation, reference=args.reference
        )
    feed = InventoryFeed(c.settings, c.topics, c.codec)
    feed.send(command)
    feed.flush()
    print(f"{type(command).__name__} for {env.key} sent (command {env.command_id})")
    return 0


def _show(args: argparse.Namespace) -> int:
    c = bootstrap()
    view = InventoryView(c.settings, c.topics, c.codec)
    view.close()
    rows = [env for env in view.levels.values() if args.sku in (None, env.sku)]
    if not rows:
        print("no inventory yet (oms inventory load)")
        return 0
    print(f"{'SKU@source':<28} {'on hand':>8} {'reserved':>9} {'available':>10}")
    for env in sorted(rows, key=lambda e: e.key):
        print(f"{env.key:<28} {env.on_hand:>8} {env.reserved:>9} {env.available:>10}")
    return 0


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


def _backorders_run(args: argparse.Namespace) -> int:
    logging.basicConfig(level="WARNING")
    c = bootstrap()
    try:
        config = load_dom_config(args.config)
    except ConfigFileError as exc:
        err(str(exc))
        return 2
    create_topics(c.settings, c.topics)
    job = BackorderJob(c.settings, c.topics, c.codec, config)
    if args.every is None:
        as_of = args.as_of if args.as_of is None or args.as_of.tzinfo else args.as_of.replace(tzinfo=UTC)
        _print_run(job.run_once(now=as_of))
        return 0
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    job.run_every(args.every, stop, _print_run)
    return 0


def _backorders_log(args: argparse.Namespace) -> int:
    c = bootstrap()
    runs = job_log(c.settings, c.topics, c.codec)
    if not runs:
        print("the backorder job has not run yet (oms backorders run)")
    for run in runs[-args.last :]:
        _print_run(run)
    return 0
