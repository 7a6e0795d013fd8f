"""``oms demo``: a broker, the order writer, the providers and orders through all six journeys.

Everything is real Kafka: a local Apache Kafka broker (fetched and started if none
answers), the six shipped flows published to ``flow.definitions``, the writer and the
provider connectors as processes of their own, orders published to ``order.commands``;
the summary is a replay of the event topics.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import Producer

from streams.adapters.command_bus import CommandBus
from streams.adapters.flow_definitions import publish_flows
from streams.adapters.flow_files import flow_paths, load_flows
from streams.adapters.kafka import create_topics
from streams.adapters.local_broker import LocalBroker, broker_answers
from streams.bootstrap import Components, bootstrap
from streams.domain.commands import Command, CreateOrder, RecordInvoiced, RecordPicked, RecordShipped
from streams.domain.order import OrderState
from streams.entrypoints.output import err, order_state, status_summary, timeline
from streams.scenarios import JOURNEYS, CommandFactory, journey_order
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
    demo.add_argument("--orders", type=int, default=20, help="orders per journey (default 20)")
    demo.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the orders")
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
    processes: list[subprocess.Popen[bytes]] = []
    try:
        created = create_topics(settings, c.topics)
        err(f"[2/6] topics ready ({len(created)} created, {c.topics.partitions} partitions each)")
        folder = REPO_ROOT / "flows"
        flows = load_flows(folder)
        names = [p.name for p in flow_paths(folder)]
        published = publish_flows(settings, c.topics, c.codec, list(zip(flows, names, strict=True)))
        err("[3/6] flows: " + ", ".join(f"{p.name} v{p.version}" for p in published))
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers}
        for argv in (["-m", "streams.cli", "writer", "--log-level", "WARNING"], ["-m", "connectors.fake"]):
            processes.append(subprocess.Popen([sys.executable, *argv], env=env, stderr=subprocess.DEVNULL))
        err(f"[4/6] order writer (pid {processes[0].pid}) and provider connectors (pid {processes[1].pid})")
        return _drive(c, args, processes)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)
        if started is not None and not args.keep_broker:
            started.stop()
            err("broker stopped (use --keep-broker to keep it)")


def _commands(journey: int, created: CreateOrder, factory: CommandFactory) -> list[Command]:
    """Journey 4's order needs nothing from us: F&O fulfils it, and its status handler
    reports what happened. Play that part here."""
    if journey != 4:
        return [created]
    oid = created.envelope.order_id
    return [
        created,
        RecordPicked(envelope=factory.envelope(oid), provider="fno", picking_id=f"PL-{oid}"),
        RecordShipped(envelope=factory.envelope(oid), provider="fno", shipment_id=f"PS-{oid}"),
        RecordInvoiced(envelope=factory.envelope(oid), provider="fno", invoice_id=f"INV-{oid}"),
    ]


def _drive(c: Components, args: argparse.Namespace, processes: list[subprocess.Popen[bytes]]) -> int:
    run_id = time.strftime("%H%M%S")
    bus = CommandBus(c.settings, c.topics, c.codec)
    factory = CommandFactory(source="demo", start=datetime.now(UTC), step=timedelta(milliseconds=1))
    rng = random.Random(int(run_id))
    journeys: dict[str, int] = {}
    for journey in JOURNEYS:
        for i in range(args.orders):
            order_id = f"D{run_id}-J{journey}-{i + 1:04d}"
            created = journey_order(journey, factory, order_id, rng, ref=journey * 10_000 + i)
            for command in _commands(journey, created, factory):
                bus.send(command)
            journeys[order_id] = journey
    # One order a critical validation stops, and one record nobody can decode.
    bad_id = f"D{run_id}-J1-INVALID"
    bad = journey_order(1, factory, bad_id, rng)
    bus.send(bad.model_copy(update={"ship_to": bad.ship_to.model_copy(update={"country": "DE"})}))
    journeys[bad_id] = 1
    bus.flush()
    raw = Producer({"bootstrap.servers": c.settings.bootstrap_servers})
    raw.produce(c.topics.commands, key=b"garbage", value=b"{not avro}")
    raw.flush(10)
    err(f"[5/6] sent {len(journeys)} orders: {args.orders} per journey, one invalid, one undecodable record")

    prefix = f"D{run_id}-"
    deadline = time.monotonic() + args.timeout
    while True:
        result = replay(c.settings, c.topics, c.codec)
        mine = {o: s for o, s in result.states.items() if o.startswith(prefix)}
        done = sum(1 for s in mine.values() if _settled(s))
        if done == len(journeys) or time.monotonic() > deadline:
            break
        for process in processes:
            if process.poll() is not None:
                err(f"process {process.args!r} exited with code {process.returncode}")
                return 1
        err(f"      {done}/{len(journeys)} orders settled...")
        time.sleep(1)
    err(f"[6/6] replayed {result.events:,} events of {len(result.states):,} orders in {result.seconds:.2f}s")
    _summary(c, mine, journeys)
    if done != len(journeys):
        print(f"\nFAILED: only {done}/{len(journeys)} orders settled within {args.timeout:.0f}s")
        return 1
    return 0


def _settled(state: OrderState) -> bool:
    if state.status == "On hold":
        return True
    return state.status == "Completed" and not state.pending_actions


def _summary(c: Components, states: dict[str, OrderState], journeys: dict[str, int]) -> None:
    by_journey: dict[int, Counter[tuple[str, str]]] = defaultdict(Counter)
    for order_id, state in states.items():
        by_journey[journeys[order_id]][(state.status, state.status_reason)] += 1
    print()
    for journey, title in TITLES.items():
        print(f"Journey {journey}: {title}")
        print(status_summary(by_journey[journey]))
    for order_id in (
        min(o for o in states if "-J1-0" in o),
        min(o for o in states if "-J6-" in o),
        next(o for o in states if o.endswith("INVALID")),
    ):
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
