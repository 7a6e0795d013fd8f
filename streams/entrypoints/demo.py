"""``oms demo``: a broker, the order writer and sample orders through journey 1, end to end.

Everything is real: a local Apache Kafka broker (fetched and started if none answers),
the writer as its own process, commands published to ``order.commands``; the summary is
a replay of the event topics.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Producer

from streams.adapters.command_bus import CommandBus
from streams.adapters.kafka import create_topics
from streams.adapters.local_broker import LocalBroker, broker_answers
from streams.bootstrap import Components, bootstrap
from streams.domain.commands import RecordPicked, RecordValidation
from streams.entrypoints.output import err, order_state, status_summary, timeline
from streams.scenarios import CommandFactory, bigcommerce_order, journey1_orders
from streams.services.replay import order_timeline, replay


def register(sub: Any) -> None:
    demo = sub.add_parser(
        "demo",
        help="start a broker and the writer, run sample orders through journey 1, summarise",
    )
    demo.add_argument("--orders", type=int, default=200, help="journey-1 orders to run (default 200)")
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
        err(f"[1/5] no broker at {settings.bootstrap_servers}: starting a local Apache Kafka (KRaft)")
        broker.start()
        started = broker
    else:
        err(f"[1/5] using the broker at {settings.bootstrap_servers}")
    writer: subprocess.Popen[bytes] | None = None
    try:
        created = create_topics(settings, c.topics)
        err(f"[2/5] topics ready ({len(created)} created, {c.topics.partitions} partitions each)")
        writer = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "writer", "--log-level", "WARNING"],
            env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers},
        )
        err(f"[3/5] order writer started (pid {writer.pid})")
        return _drive(c, args, writer)
    finally:
        if writer is not None:
            writer.terminate()
            writer.wait(30)
        if started is not None and not args.keep_broker:
            started.stop()
            err("broker stopped (use --keep-broker to keep it)")


def _drive(c: Components, args: argparse.Namespace, writer: subprocess.Popen[bytes]) -> int:
    run_id = time.strftime("%H%M%S")
    prefix = f"DEMO{run_id}"
    bus = CommandBus(c.settings, c.topics, c.codec)
    expected: dict[str, int] = {}
    for commands in journey1_orders(args.orders, seed=int(run_id), prefix=prefix, start=datetime.now(UTC)):
        for command in commands:
            bus.send(command)
        expected[commands[0].envelope.order_id] = len(commands)
    # One order a critical validation stops, one command the state machine refuses,
    # and one record nobody can decode: bad input is visible, nothing is lost.
    factory = CommandFactory(source="demo", start=datetime.now(UTC))
    held = bigcommerce_order(factory, f"{prefix}-HOLD", 9999, random.Random(1))
    bus.send(held)
    bus.send(
        RecordValidation(
            envelope=factory.envelope(held.envelope.order_id),
            policy="default-validation",
            passed=False,
            reasons=("ship-to postal code missing",),
        )
    )
    bus.send(RecordPicked(envelope=factory.envelope(held.envelope.order_id), provider="fno"))
    expected[held.envelope.order_id] = 2
    bus.flush()
    raw = Producer({"bootstrap.servers": c.settings.bootstrap_servers})
    raw.produce(c.topics.commands, key=b"garbage", value=b"{not avro}")
    raw.flush(10)
    total = sum(expected.values())
    err(f"[4/5] sent {total:,} commands for {len(expected)} orders (+1 illegal, +1 undecodable)")

    deadline = time.monotonic() + args.timeout
    while True:
        result = replay(c.settings, c.topics, c.codec)
        mine = {o: s for o, s in result.states.items() if o.startswith(prefix)}
        done = sum(1 for o, v in expected.items() if o in mine and mine[o].version >= v)
        if done == len(expected) or time.monotonic() > deadline:
            break
        if writer.poll() is not None:
            err(f"the order writer exited with code {writer.returncode}; see its output above")
            return 1
        err(f"      {done}/{len(expected)} orders at their final version...")
        time.sleep(1)
    err(f"[5/5] replayed {result.events:,} events in {result.seconds:.2f}s")
    print(f"\nDemo run {prefix}: {len(mine)} orders")
    print(status_summary(Counter((s.status, s.status_reason) for s in mine.values())))
    sample = next(iter(sorted(o for o in mine if not o.endswith("HOLD"))), None)
    for order_id in (sample, held.envelope.order_id):
        if order_id is None:
            continue
        found = order_timeline(c.settings, c.topics, c.codec, order_id)
        if found.state is not None:
            print()
            print(order_state(found.state))
            print("  timeline:")
            print(timeline(found.events))
    print(
        "\nThe illegal 'Order picked' on the held order went to order.command-rejected; "
        "the undecodable record to oms.dead-letter."
    )
    if done != len(expected):
        print(f"\nFAILED: only {done}/{len(expected)} orders reached their final version")
        return 1
    return 0
