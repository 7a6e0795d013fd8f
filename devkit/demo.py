"""``oms demo``: a broker, the order writer, the providers and orders through all six journeys.

Everything is real: a local Apache Kafka broker (fetched and started if none answers),
the six shipped flows published to ``flow.definitions``, the order writer, the four
provider connectors and the four provider simulators (BigCommerce, F&O, Flexe, SAP), each
a process of its own talking HTTP. Orders start where they start in life (a shopper in
BigCommerce, a clerk confirming in F&O) through the simulators' control planes, and the
people at the providers pick, pack, ship, invoice and bill there too; the summary is a
replay of the event topics.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from devkit.local_broker import LocalBroker, broker_answers
from devkit.scenarios import CommandFactory, journey_order
from devkit.world import World, drive_journeys, start_world
from streams.adapters.command_bus import CommandBus
from streams.adapters.flow_definitions import publish_flows
from streams.adapters.flow_files import flow_paths, load_flows
from streams.adapters.kafka import create_topics
from streams.bootstrap import Components, bootstrap
from streams.domain.order import OrderState
from streams.entrypoints.output import err, order_state, status_summary, timeline
from streams.services.replay import order_timeline, replay
from streams.settings import REPO_ROOT

TITLES = {
    1: "BigCommerce > F&O fulfillment > F&O accounting",
    2: "BigCommerce > Flexe fulfillment > F&O accounting",
    3: "F&O > Flexe fulfillment > F&O accounting",
    4: "F&O > F&O fulfillment > F&O accounting",
    5: "F&O > Flexe fulfillment > SAP accounting",
    6: "BigCommerce > DOM > F&O fulfillment > F&O accounting",
}


def register(sub: Any) -> None:
    demo = sub.add_parser(
        "demo",
        help="start a broker, the writer and the providers; run orders through all six journeys",
    )
    demo.add_argument("--orders", type=int, default=5, help="orders per journey (default 5)")
    demo.add_argument(
        "--timeout", type=float, default=60.0, help="seconds an order may wait for its next step"
    )
    demo.add_argument("--keep-broker", action="store_true", help="leave a broker the demo started running")
    demo.set_defaults(run=run)


def _port(bootstrap_servers: str) -> int:
    return int(bootstrap_servers.split(",")[0].rsplit(":", 1)[1])


def run(args: argparse.Namespace) -> int:
    c = bootstrap()
    settings = c.settings
    started: LocalBroker | None = None
    if not broker_answers(settings.bootstrap_servers):
        broker = LocalBroker(home=settings.kafka_home, port=_port(settings.bootstrap_servers))
        err(f"[1/6] no broker at {settings.bootstrap_servers}: starting a local Apache Kafka (KRaft)")
        broker.start()
        started = broker
    else:
        err(f"[1/6] using the broker at {settings.bootstrap_servers}")
    writer: subprocess.Popen[bytes] | None = None
    helpers: list[subprocess.Popen[bytes]] = []
    world: World | None = None
    try:
        created = create_topics(settings, c.topics)
        err(f"[2/6] topics ready ({len(created)} created, {c.topics.partitions} partitions each)")
        folder = REPO_ROOT / "flows"
        flows = load_flows(folder)
        names = [p.name for p in flow_paths(folder)]
        published = publish_flows(settings, c.topics, c.codec, list(zip(flows, names, strict=True)))
        err("[3/6] flows: " + ", ".join(f"{p.name} v{p.version}" for p in published))
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers}
        writer = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "writer", "--log-level", "WARNING"],
            env=env,
            stderr=subprocess.DEVNULL,
        )
        # Fulfillment optimization for journey 6: the inventory writer and DOM, real stock.
        for argv, instance in (
            (["-m", "streams.cli", "inventory-writer", "--log-level", "WARNING"], "inventory-1"),
            (["-m", "streams.entrypoints.dom_cli", "--log-level", "WARNING"], "dom-1"),
        ):
            helpers.append(
                subprocess.Popen(
                    [sys.executable, *argv],
                    env={**env, "OMS_INSTANCE_ID": instance},
                    stderr=subprocess.DEVNULL,
                )
            )
        subprocess.run(
            [sys.executable, "-m", "streams.cli", "inventory", "load"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        wait_for_stock(c)
        run_id = time.strftime("%H%M%S")
        workdir = Path(tempfile.mkdtemp(prefix="oms-demo-"))
        world = start_world(settings, workdir, run_id=f"D{run_id}-", with_dom=False)
        err(
            f"[4/6] order writer (pid {writer.pid}), inventory writer (pid {helpers[0].pid}), "
            f"DOM (pid {helpers[1].pid}); "
            + ", ".join(f"{name} (pid {p.pid})" for name, p in world.processes.items())
            + f"; logs in {workdir / 'logs'}"
        )
        return _drive(c, args, writer, world, run_id)
    finally:
        if world is not None:
            world.stop()
        for helper in helpers:
            helper.terminate()
            helper.wait(30)
        if writer is not None:
            writer.terminate()
            writer.wait(30)
        if started is not None and not args.keep_broker:
            started.stop()
            err("broker stopped (use --keep-broker to keep it)")


def _drive(
    c: Components, args: argparse.Namespace, writer: subprocess.Popen[bytes], world: World, run_id: str
) -> int:
    prefix = f"D{run_id}-"
    # One order a critical validation stops, and one record nobody can decode: bad input is
    # visible and loses nothing.
    bus = CommandBus(c.settings, c.topics, c.codec)
    factory = CommandFactory(source="demo", start=datetime.now(UTC), step=timedelta(milliseconds=1))
    bad_id = f"{prefix}INVALID"
    bad = journey_order(1, factory, bad_id, random.Random(1))
    bus.send(bad.model_copy(update={"ship_to": bad.ship_to.model_copy(update={"country": "DE"})}))
    bus.flush()
    raw = Producer({"bootstrap.servers": c.settings.bootstrap_servers})
    raw.produce(c.topics.commands, key=b"garbage", value=b"{not avro}")
    raw.flush(10)
    err(
        f"[5/6] driving {args.orders} orders per journey through the simulators' control planes "
        "(plus one invalid order and one undecodable record)"
    )
    began = time.monotonic()
    ids = drive_journeys(world, c.settings, args.orders, step_timeout=args.timeout)
    journeys = {order_id: j for j, order_ids in ids.items() for order_id in order_ids}
    journeys[bad_id] = 1
    if writer.poll() is not None:
        err(f"the order writer exited with code {writer.returncode}")
        return 1
    result = replay(c.settings, c.topics, c.codec)
    mine = {o: s for o, s in result.states.items() if o in journeys}
    done = sum(1 for s in mine.values() if _settled(s))
    err(
        f"[6/6] {len(ids) * args.orders} orders driven in {time.monotonic() - began:.1f}s; replayed "
        f"{result.events:,} events of {len(result.states):,} orders in {result.seconds:.2f}s"
    )
    _summary(c, mine, journeys, [ids[1][0], ids[6][0], bad_id])
    for order_id, why in world.notes.items():
        print(f"  {order_id}: {why}")
    if done != len(journeys):
        print(f"\nFAILED: only {done}/{len(journeys)} orders settled")
        return 1
    return 0


def wait_for_stock(c: Components, timeout: float = 60.0) -> None:
    """DOM sources from what the inventory topics say: wait until the opening stock is there."""
    from streams.services.inventory import InventoryView
    from streams.services.sourcing_config import load_opening_stock

    want, view = len(load_opening_stock().entries()), InventoryView(c.settings, c.topics, c.codec)
    deadline = time.monotonic() + timeout
    while len(view.levels) < want and time.monotonic() < deadline:
        view.poll(0.2)
    view.close()


def _settled(state: OrderState) -> bool:
    if state.status == "On hold":
        return True
    return state.status == "Completed" and not state.pending_actions


def _summary(
    c: Components, states: dict[str, OrderState], journeys: dict[str, int], samples: list[str]
) -> None:
    by_journey: dict[int, Counter[tuple[str, str]]] = defaultdict(Counter)
    for order_id, state in states.items():
        by_journey[journeys[order_id]][(state.status, state.status_reason)] += 1
    print()
    for journey, title in TITLES.items():
        print(f"Journey {journey}: {title}")
        print(status_summary(by_journey[journey]))
    for order_id in samples:
        found = order_timeline(c.settings, c.topics, c.codec, order_id)
        if found.state is not None:
            print()
            print(order_state(found.state))
            print("  timeline:")
            print(timeline(found.events))
    print(
        "\nThe undecodable record went to oms.dead-letter with its reason; "
        "`oms replay` and `oms show ORDER_ID` read the same history."
    )
