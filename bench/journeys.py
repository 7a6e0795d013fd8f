"""Orchestration at stream level: journey-1 orders per second, and latency at half that rate.

``python -m bench.journeys`` runs the order writer (flows loaded) and the stand-in
provider connectors (``devkit.fake_providers``, answering at once) as processes of their own,
one per role, on a real broker. It then

1. publishes ``--orders`` BigCommerce orders as fast as it can and counts how many reach
   *Completed / Done* (journey 1, as the brief words it) per second (each order: validation,
   data assignment, F&O fulfillment, picking, packing, invoicing, two BigCommerce write-backs:
   ~20 events and four provider round trips);
2. publishes orders at half that rate and measures, per order, the time from publishing
   the order to reading its ``order.sent-to-fulfillment`` event (p50, p99).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from bench import machine
from bench.broker import acquire
from bench.progress import say
from devkit.scenarios import CommandFactory, journey_order
from streams.adapters.command_bus import CommandBus
from streams.adapters.flow_definitions import publish_flows
from streams.adapters.flow_files import load_flows
from streams.adapters.kafka import consumer_config, create_topics, delete_topics
from streams.bootstrap import Components, bootstrap
from streams.domain.events import OrderInvoiced, OrderSentToFulfillment
from streams.settings import REPO_ROOT, Settings

TARGET = 500.0


def _processes(c: Components, state_dir: Path) -> list[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": c.settings.bootstrap_servers,
        "OMS_TOPIC_PREFIX": c.settings.topic_prefix,
        "OMS_PARTITIONS": str(c.settings.partitions),
        "OMS_STATE_DIR": str(state_dir),
        "OMS_INSTANCE_ID": f"bench-{uuid.uuid4().hex[:6]}",
    }
    writer = [sys.executable, "-m", "streams.cli", "writer", "--log-level", "WARNING"]
    fakes = [sys.executable, "-m", "devkit.fake_providers"]
    logs = state_dir.parent
    return [
        subprocess.Popen(argv, env=env, stderr=(logs / f"{name}.log").open("wb"))
        for name, argv in (("writer", writer), ("providers", fakes))
    ]


class Watch:
    """Reads one event topic from the start and notes when each order's event arrived."""

    def __init__(self, c: Components, topic: str, tag: str) -> None:
        self.consumer = Consumer(consumer_config(c.settings, None))
        self.consumer.assign([TopicPartition(topic, p, 0) for p in range(c.topics.partitions)])
        self.tag = f"{tag}-".encode()
        self.seen: dict[str, float] = {}

    def poll(self, timeout: float = 0.1) -> None:
        for msg in self.consumer.consume(5000, timeout):
            key = msg.key()
            if msg.error() is None and key is not None and key.startswith(self.tag):
                self.seen.setdefault(key.decode(), time.monotonic())

    def close(self) -> None:
        self.consumer.close()


def _orders(count: int, tag: str) -> list:  # type: ignore[type-arg]
    factory = CommandFactory(source="bench", start=datetime.now(UTC), step=timedelta(microseconds=10))
    rng = random.Random(1)
    return [journey_order(1, factory, f"{tag}-{i:06d}", rng, ref=i) for i in range(count)]


def throughput(c: Components, orders: int, timeout: float, tag: str) -> tuple[float, float]:
    """Orders completed per second when they all arrive at once; and seconds taken."""
    done = Watch(c, c.topics.event_topic(OrderInvoiced), tag)
    created = _orders(orders, tag)
    bus = CommandBus(c.settings, c.topics, c.codec)
    began = time.monotonic()
    for command in created:
        bus.send(command)
    bus.flush()
    say(f"published {orders:,} orders in {time.monotonic() - began:.1f}s")
    deadline = began + timeout
    last_report = began
    while len(done.seen) < orders and time.monotonic() < deadline:
        done.poll()
        if time.monotonic() - last_report >= 2:
            last_report = time.monotonic()
            say(f"  {len(done.seen):,}/{orders:,} orders completed")
    done.close()
    elapsed = (max(done.seen.values()) if done.seen else time.monotonic()) - began
    return len(done.seen) / elapsed, elapsed


def latency(c: Components, rate: float, seconds: float) -> list[float]:
    """Publish at ``rate`` orders/s for ``seconds``; the time to each sent-to-fulfillment."""
    sent = Watch(c, c.topics.event_topic(OrderSentToFulfillment), "L")
    count = max(1, int(rate * seconds))
    created = _orders(count, "L")
    bus = CommandBus(c.settings, c.topics, c.codec)
    published: dict[str, float] = {}
    began = time.monotonic()
    for i, command in enumerate(created):
        due = began + i / rate
        while (now := time.monotonic()) < due:
            sent.poll(min(0.01, due - now))
        bus.send(command)
        published[command.envelope.order_id] = time.monotonic()
    bus.flush()
    deadline = time.monotonic() + 60
    while len(sent.seen) < count and time.monotonic() < deadline:
        sent.poll()
    sent.close()
    return sorted((sent.seen[o] - t) * 1000 for o, t in published.items() if o in sent.seen)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.journeys", description=__doc__)
    parser.add_argument("--orders", type=int, default=5000, help="orders for the throughput run (5000)")
    parser.add_argument("--latency-seconds", type=float, default=15.0, help="length of the latency run")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--bootstrap", default=None)
    args = parser.parse_args(argv)

    broker = acquire(args.bootstrap)
    tag = f"bj{uuid.uuid4().hex[:6]}."
    workdir = Path(tempfile.mkdtemp(prefix="bench-journeys-"))
    c = bootstrap(Settings(bootstrap_servers=broker.bootstrap_servers, topic_prefix=tag, partitions=6))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        create_topics(c.settings, c.topics)
        flows = load_flows(REPO_ROOT / "flows")
        publish_flows(c.settings, c.topics, c.codec, [(f, f.name) for f in flows])
        processes = _processes(c, workdir / "state")
        say("warming up: 50 orders through journey 1")
        throughput(c, 50, 120, "W")
        say(f"1/2 throughput: {args.orders:,} journey-1 orders at once")
        rate, elapsed = throughput(c, args.orders, args.timeout, "T")
        say(f"2/2 latency at {rate / 2:,.0f} orders/s for {args.latency_seconds:.0f}s")
        lat = latency(c, rate / 2, args.latency_seconds)
        if len(lat) < int(rate / 2 * args.latency_seconds):
            say(f"WARNING: only {len(lat):,} orders reached sent-to-fulfillment; state in {workdir}")
    finally:
        for p in processes:
            p.terminate()
        for p in processes:
            p.wait(30)
        delete_topics(c.settings, [c.topics.topic(s.name) for s in c.topics.specs()])
        broker.stop()

    def pct(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")

    facts = machine.facts(broker.version)
    print("\ncommand: python -m bench.journeys " + " ".join(sys.argv[1:]))
    for key, value in facts.items():
        print(f"  {key:<28} {value}")
    print(f"  {'load average after the run':<28} {machine.load_average()}")
    print("\njourney 1 at stream level (writer with flows + stand-in providers, one process each):")
    print(f"  throughput            {rate:8,.0f} orders/s  ({args.orders:,} orders in {elapsed:.1f}s)")
    print(
        f"  latency at {rate / 2:,.0f}/s    p50 {pct(0.5):6.1f} ms   p99 {pct(0.99):6.1f} ms   "
        f"(order published -> order.sent-to-fulfillment read; {len(lat):,} orders)"
    )
    if lat:
        print(f"                        mean {statistics.mean(lat):6.1f} ms   max {lat[-1]:6.1f} ms")
    verdict = "met" if rate >= TARGET else "MISSED"
    print(f"\ntarget: >= {TARGET:,.0f} orders/s: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
