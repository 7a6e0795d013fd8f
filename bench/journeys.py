"""Orchestration at stream level: journey-1 orders per second, and latency at half that rate.

``python -m bench.journeys`` runs the order writer (flows loaded) and the stand-in
provider connectors (``devkit.fake_providers``, answering at once) as processes of their own,
one per role, on a real broker. It then

1. publishes ``--orders`` BigCommerce orders as fast as it can and counts how many reach
   *Completed / Done* (journey 1, as the brief words it) per second (each order: validation,
   data assignment, F&O fulfillment, picking, packing, invoicing, two BigCommerce write-backs:
   ~20 events and four provider round trips);
2. publishes orders at half that rate and measures, per order, each hop of the way to
   ``order.sent-to-fulfillment`` (p50, p95, p99, max; see ``bench.latency``): command
   published -> writer appended -> action requested -> connector got it -> result appended
   -> read, and the whole way. Every moment but the last is a record timestamp the
   producer stamped (read back from the topics after the run); the last is this process's
   clock when a read_committed reader got the event.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from confluent_kafka import Message
from prometheus_client.parser import text_string_to_metric_families

from bench import machine
from bench.broker import acquire
from bench.latency import Mark, summary
from bench.progress import say
from devkit.scenarios import CommandFactory, journey_order
from devkit.world import free_port
from streams.adapters.command_bus import CommandBus
from streams.adapters.flow_definitions import publish_flows
from streams.adapters.flow_files import load_flows
from streams.adapters.kafka import admin, create_topics, delete_topics
from streams.adapters.kafka_loop import KafkaLoop, read_all
from streams.adapters.lag import groups, wait_until_caught_up
from streams.bootstrap import Components, bootstrap
from streams.domain.commands import CreateOrder, ProviderActionRequest, RecordActionResult
from streams.domain.events import OrderCreated, OrderInvoiced, OrderSentToFulfillment
from streams.settings import REPO_ROOT, Settings

TARGET = 2500.0
"""Journey-1 orders/s through the orchestration, one process per role (issue 14; issue 3 had 500)."""
LATENCY_TARGET_MS = 100.0
LATENCY_STRETCH_MS = 50.0


ROLES = {
    "writer": ["-m", "streams.cli", "writer", "--log-level", "WARNING"],
    "providers": ["-m", "devkit.fake_providers"],
}
"""The processes of a stream-level run, by name (each logs to ``<name>.log``)."""


def start_processes(
    c: Components, state_dir: Path, roles: Sequence[str] = tuple(ROLES), writer_metrics: int | None = None
) -> list[subprocess.Popen[bytes]]:
    """The ``roles`` as processes of their own, on ``c``'s broker and topics (the writer's
    ``/metrics`` on ``writer_metrics``, if given)."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": c.settings.bootstrap_servers,
        "OMS_TOPIC_PREFIX": c.settings.topic_prefix,
        "OMS_PARTITIONS": str(c.settings.partitions),
        "OMS_STATE_DIR": str(state_dir),
        "OMS_INSTANCE_ID": f"bench-{uuid.uuid4().hex[:6]}",
    }
    logs = state_dir.parent
    logs.mkdir(parents=True, exist_ok=True)
    ports = {"writer": {"OMS_METRICS_PORT": str(writer_metrics)}} if writer_metrics else {}
    return [
        subprocess.Popen(
            [sys.executable, *ROLES[name]],
            env={**env, **ports.get(name, {})},
            stderr=(logs / f"{name}.log").open("wb"),
        )
        for name in roles
    ]


@dataclass(frozen=True)
class Commits:
    """The writer's transactions so far, from its ``/metrics``."""

    transactions: float = 0.0
    partitions: float = 0.0
    seconds: float = 0.0

    def since(self, before: Commits) -> str:
        n = self.transactions - before.transactions
        if not n:
            return "no transactions"
        partitions = (self.partitions - before.partitions) / n
        millis = 1000 * (self.seconds - before.seconds) / n
        return f"{n:,.0f} transactions: mean {partitions:.0f} event partitions, {millis:.1f} ms commit"


def writer_commits(port: int) -> Commits:
    """What the writer's histograms say of its commits (zero if it does not answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
    except OSError:
        return Commits()
    values = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
    return Commits(
        values.get("oms_transaction_partitions_count", 0.0),
        values.get("oms_transaction_partitions_sum", 0.0),
        values.get("oms_transaction_commit_seconds_sum", 0.0),
    )


class Watch:
    """Reads one event topic from the start and notes when each order's event arrived
    (epoch seconds), through the one loop: each batch is handed on as soon as it is fetched."""

    def __init__(self, c: Components, topic: str, tag: str) -> None:
        prefix = f"{tag}-".encode()

        def ours(msg: Message) -> str | None:
            key = msg.key()
            return key.decode() if key is not None and key.startswith(prefix) else None

        self.loop: KafkaLoop[str] = KafkaLoop(c.settings, ours, batch_size=5000, name=f"watch {topic}")
        self.loop.assign({(topic, p): 0 for p in range(c.topics.partitions)})
        self.seen: dict[str, float] = {}

    def poll(self, timeout: float = 0.1) -> None:
        batch = self.loop.poll(timeout)
        now = time.time()
        for order in batch.records:
            self.seen.setdefault(order, now)

    def close(self) -> None:
        self.loop.close()


def _orders(count: int, tag: str) -> list:  # type: ignore[type-arg]
    factory = CommandFactory(source="bench", start=datetime.now(UTC), step=timedelta(microseconds=10))
    rng = random.Random(1)
    return [journey_order(1, factory, f"{tag}-{i:06d}", rng, ref=i) for i in range(count)]


def throughput(c: Components, bus: CommandBus, orders: int, timeout: float, tag: str) -> tuple[float, float]:
    """Orders completed per second when they all arrive at once; and seconds taken."""
    done = Watch(c, c.topics.event_topic(OrderInvoiced), tag)
    created = _orders(orders, tag)
    began = time.time()
    for command in created:
        bus.send(command)
    bus.flush()
    say(f"published {orders:,} orders in {time.time() - began:.1f}s")
    deadline = began + timeout
    last_report = began
    while len(done.seen) < orders and time.time() < deadline:
        done.poll()
        if time.time() - last_report >= 2:
            last_report = time.time()
            say(f"  {len(done.seen):,}/{orders:,} orders completed")
    done.close()
    elapsed = (max(done.seen.values()) if done.seen else time.time()) - began
    return len(done.seen) / elapsed, elapsed


def latency(c: Components, bus: CommandBus, rate: float, seconds: float, tag: str = "L") -> dict[str, float]:
    """Publish at ``rate`` orders/s for ``seconds``; when (epoch seconds) each order's
    sent-to-fulfillment was read. ``bus`` has published before: a new producer's first
    record would wait for its connection and producer id (hundreds of ms, seen)."""
    sent = Watch(c, c.topics.event_topic(OrderSentToFulfillment), tag)
    count = max(1, int(rate * seconds))
    created = _orders(count, tag)
    began = time.monotonic()
    for i, command in enumerate(created):
        due = began + i / rate
        while (now := time.monotonic()) < due:
            sent.poll(min(0.01, due - now))
        bus.send(command)
    bus.flush()
    deadline = time.monotonic() + 60
    while len(sent.seen) < count and time.monotonic() < deadline:
        sent.poll()
    sent.close()
    return sent.seen


def moments(c: Components, tag: str, read: dict[str, float]) -> dict[str, dict[Mark, float]]:
    """Each order's moments on the way (``bench.latency.Mark``), in epoch milliseconds:
    the record timestamps of its ``CreateOrder``, ``order.created``, F&O request, the
    answer to that request and ``order.sent-to-fulfillment``, and when it was ``read``."""
    prefix = f"{tag}-".encode()
    decode = c.codec.decode

    def ours(msg: Message) -> tuple[str, float, object] | None:
        key = msg.key()
        if key is None or not key.startswith(prefix):
            return None
        return key.decode(), float(msg.timestamp()[1]), decode(msg.value() or b"")

    created, sent = c.topics.event_topic(OrderCreated), c.topics.event_topic(OrderSentToFulfillment)
    topics = [c.topics.commands, c.topics.provider_requests("fno"), created, sent]
    start = {(t, p): 0 for t in topics for p in range(c.topics.partitions)}
    out: dict[str, dict[Mark, float]] = defaultdict(dict)
    requested: dict[str, tuple[str, float]] = {}
    answered: dict[str, float] = {}
    for order, at, record in read_all(c.settings, start, ours):
        mark = None
        if isinstance(record, CreateOrder):
            mark = Mark.PUBLISHED
        elif isinstance(record, OrderCreated):
            mark = Mark.APPENDED
        elif isinstance(record, OrderSentToFulfillment):
            mark = Mark.RESULT_APPENDED
        elif isinstance(record, ProviderActionRequest) and record.action == "send_to_fulfillment":
            requested.setdefault(order, (record.action_id, at))
        elif isinstance(record, RecordActionResult):
            answered.setdefault(record.action_id, at)
        if mark is not None:
            out[order].setdefault(mark, at)
    for order, (action_id, at) in requested.items():
        out[order][Mark.REQUESTED] = at
        if action_id in answered:
            out[order][Mark.ANSWERED] = answered[action_id]
    for order, at in read.items():
        out[order][Mark.READ] = at * 1000
    return out


def settle(c: Components, timeout: float = 120.0) -> None:
    """Wait until the writer and the stand-ins have read everything (the throughput run's
    last write-backs), so that the latency run does not start behind a backlog."""
    client = admin(c.settings)
    behind = wait_until_caught_up(client, groups(client, c.topics.prefix), timeout, every=0.5)
    if behind:
        say(f"WARNING: still behind after {timeout:.0f}s: {behind}")


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.journeys", description=__doc__)
    parser.add_argument("--orders", type=int, default=5000, help="orders for the throughput run (5000)")
    parser.add_argument("--latency-seconds", type=float, default=15.0, help="length of the latency run")
    parser.add_argument(
        "--latency-rate", type=float, default=None, help="orders/s of the latency run (half the throughput)"
    )
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--bootstrap", default=None)
    parser.add_argument(
        "--partitions",
        type=int,
        default=6,
        help="partitions per topic (default 6): a transaction's commit writes a marker to each "
        "partition it touched, so fewer partitions mean faster commits and fewer writers to share them",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    broker = acquire(args.bootstrap)
    tag = f"bj{uuid.uuid4().hex[:6]}."
    workdir = Path(tempfile.mkdtemp(prefix="bench-journeys-"))
    c = bootstrap(
        Settings(bootstrap_servers=broker.bootstrap_servers, topic_prefix=tag, partitions=args.partitions)
    )
    processes: list[subprocess.Popen[bytes]] = []
    load_before = machine.load_average()
    try:
        create_topics(c.settings, c.topics)
        flows = load_flows(REPO_ROOT / "flows")
        publish_flows(c.settings, c.topics, c.codec, [(f, f.name) for f in flows])
        metrics_port = free_port()
        processes = start_processes(c, workdir / "state", writer_metrics=metrics_port)
        say("warming up: 50 orders through journey 1")
        bus = CommandBus(c.settings, c.topics, c.codec)
        throughput(c, bus, 50, 120, "W")
        say(f"1/2 throughput: {args.orders:,} journey-1 orders at once")
        before = writer_commits(metrics_port)
        rate, elapsed = throughput(c, bus, args.orders, args.timeout, "T")
        burst = writer_commits(metrics_port).since(before)
        settle(c)
        paced = args.latency_rate or rate / 2
        say(f"2/2 latency at {paced:,.0f} orders/s for {args.latency_seconds:.0f}s")
        before = writer_commits(metrics_port)
        read = latency(c, bus, paced, args.latency_seconds)
        paced_commits = writer_commits(metrics_port).since(before)
        if len(read) < int(paced * args.latency_seconds):
            say(f"WARNING: only {len(read):,} orders reached sent-to-fulfillment; state in {workdir}")
        hops = summary(moments(c, "L", read))
    finally:
        for p in processes:
            p.terminate()
        for p in processes:
            p.wait(30)
        delete_topics(c.settings, [c.topics.topic(s.name) for s in c.topics.specs()])
        broker.stop()

    facts = machine.facts(broker.version)
    print("\ncommand: python -m bench.journeys " + " ".join(sys.argv[1:]))
    for key, value in facts.items():
        print(f"  {key:<28} {value}")
    print(f"  {'load average before the run':<28} {load_before}")
    print(f"  {'load average after the run':<28} {machine.load_average()}")
    print("\njourney 1 at stream level (writer with flows + stand-in providers, one process each):")
    print(f"  throughput            {rate:8,.0f} orders/s  ({args.orders:,} orders in {elapsed:.1f}s)")
    print(f"    the writer's commits: {burst}")
    print(f"  latency at {paced:,.0f} orders/s, per hop (record timestamps; the read by this process):")
    for hop, got in hops:
        print(f"    {hop.name:<52} {got.line()}")
    print(f"    the writer's commits: {paced_commits}")
    verdict = "met" if rate >= TARGET else "MISSED"
    print(f"\ntarget: >= {TARGET:,.0f} orders/s: {verdict}")
    whole = hops[-1][1]
    for goal, name in ((LATENCY_TARGET_MS, "target"), (LATENCY_STRETCH_MS, "stretch")):
        verdict = "met" if whole.count and whole.p99 <= goal else "MISSED"
        print(f"{name}: end-to-end p99 <= {goal:.0f} ms: {verdict} ({whole.p99:.1f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
