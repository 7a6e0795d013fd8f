"""What a Kafka transaction costs by the number of partitions it touched.

Every hop of an order through the writer waits for one commit (the records become visible
to ``read_committed`` readers when the commit markers land), and a commit writes a marker
to every partition the transaction produced to. The writer's events go to one topic per
event type, co-partitioned by order id, so a batch of many orders touches up to
(event types in the batch) x (partitions) partitions. This stage measures that floor on
the broker at hand with the writer's own producer settings: ``python -m bench.commit_cost``.

Each row is one record to each of N partitions, then the commit (wall clock from the
first produce to the commit's return), against the same records from an idempotent
producer without a transaction (to its flush). When the broker runs on this machine the
row also gives the broker's CPU per round (from /proc), and, from librdkafka's statistics,
the produce requests per round: librdkafka sends one ProduceRequest per partition
(confluentinc/librdkafka#1700), so a transaction's broker work grows with every partition.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import ConfigResource, ResourceType  # type: ignore[attr-defined]

from bench.broker import acquire, listener
from bench.latency import percentiles
from bench.processes import cpu_seconds_of
from bench.progress import say
from streams.adapters.kafka import admin, create_topics, delete_topics, producer_config
from streams.adapters.kafka_loop import TRANSACTIONAL_PRODUCER
from streams.adapters.topics import TopicRegistry
from streams.settings import Settings

TOUCHED = (1, 6, 30, 60, 120)
"""Partitions touched per transaction: one order's event; one event type of a 6-partition
registry; and what batches of several event types over 6 partitions touch."""


VERIFICATION = "transaction.partition.verification.enable"

WARM_UP = 40
"""Rounds to every partition before the measured rows."""


class Requests:
    """Produce requests sent so far, from librdkafka's statistics (emitted on poll)."""

    def __init__(self) -> None:
        self.produce = 0

    def on_stats(self, stats: str) -> None:
        brokers = json.loads(stats).get("brokers", {}).values()
        self.produce = sum(b.get("req", {}).get("Produce", 0) for b in brokers)

    def now(self, producer: Producer) -> int:
        producer.poll(0.25)  # longer than statistics.interval.ms: fresh figures
        return self.produce


@dataclass
class Row:
    millis: list[float]
    broker_cpu_ms: float | None
    requests: float

    def line(self) -> str:
        took = percentiles(self.millis)
        cpu = f"{self.broker_cpu_ms:6.1f}" if self.broker_cpu_ms is not None else "     ?"
        times = f"p50 {took.p50:6.1f}  p99 {took.p99:7.1f} ms"
        return f"{times}   broker cpu {cpu} ms   requests {self.requests:5.0f}"


def broker_cpu(bootstrap_servers: str) -> Callable[[], float] | None:
    """The CPU seconds of the broker process so far, if it runs on this machine."""
    proc = listener(bootstrap_servers)
    if proc is None:
        return None
    stat, ticks = proc / "stat", os.sysconf("SC_CLK_TCK")
    return lambda: cpu_seconds_of(Path(stat).read_text(), ticks)


def verification(settings: Settings) -> str:
    """The brokers' ``transaction.partition.verification.enable`` (KIP-890: before a
    transactional produce is appended, its leader asks the coordinator whether the
    partition is in the transaction; measured here, that is about half the broker's
    work of a transaction)."""
    client = admin(settings)
    brokers = client.list_topics(timeout=10).brokers
    resource = ConfigResource(ResourceType.BROKER, str(min(brokers)))
    entry = client.describe_configs([resource])[resource].result(10).get(VERIFICATION)
    return entry.value if entry is not None else "unknown"


def measure(
    producer: Producer,
    partitions: list[tuple[str, int]],
    rounds: int,
    transactional: bool,
    cpu: Callable[[], float] | None,
    requests: Requests,
) -> Row:
    """``rounds`` rounds of one record to every partition, each to its commit (or flush)."""
    took = []
    sent, used = requests.now(producer), cpu() if cpu else 0.0
    for _ in range(rounds):
        began = time.perf_counter()
        if transactional:
            producer.begin_transaction()
        for topic, partition in partitions:
            producer.produce(topic, b"v", partition=partition)
        if transactional:
            producer.commit_transaction(30)
        else:
            producer.flush(30)
        took.append(1000 * (time.perf_counter() - began))
    broker_ms = 1000 * (cpu() - used) / rounds if cpu else None
    return Row(took, broker_ms, (requests.now(producer) - sent) / rounds)


def _producer(settings: Settings, requests: Requests, **extra: Any) -> Producer:
    return Producer(
        producer_config(
            settings,
            **TRANSACTIONAL_PRODUCER,
            **{"linger.ms": 5, "statistics.interval.ms": 100, "stats_cb": requests.on_stats},
            **extra,
        )
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.commit_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40, help="rounds per row (default 40)")
    parser.add_argument("--bootstrap", default=None)
    args = parser.parse_args(argv)
    broker = acquire(args.bootstrap)
    settings = Settings(bootstrap_servers=broker.bootstrap_servers, topic_prefix=f"bc{uuid.uuid4().hex[:6]}.")
    registry = TopicRegistry(settings.topic_prefix, partitions=6)
    topics = registry.event_topics()[: max(TOUCHED) // 6]
    cpu = broker_cpu(broker.bootstrap_servers)
    try:
        create_topics(settings, registry)
        counted = {True: Requests(), False: Requests()}
        producers = {
            True: _producer(settings, counted[True], **{"transactional.id": settings.topic_prefix}),
            False: _producer(settings, counted[False]),
        }
        producers[True].init_transactions(30)
        every = [(topic, p) for p in range(6) for topic in topics]
        for kind, producer in producers.items():
            # A fresh producer on fresh topics has a few slow rounds (leaders found, and one
            # 0.2-1.5 s stall within its first second, measured): not what a writer pays.
            measure(producer, every, WARM_UP, kind, None, counted[kind])
        print(f"broker {VERIFICATION}: {verification(settings)}")
        print(f"one record to each of N partitions, {args.rounds} rounds (broker cpu, requests: per round):")
        for touched in TOUCHED:
            say(f"{touched} partitions")
            rows = {
                kind: measure(p, every[:touched], args.rounds, kind, cpu, counted[kind])
                for kind, p in producers.items()
            }
            print(f"  {touched:4d} partitions  in a transaction  {rows[True].line()}")
            print(f"  {'':15} no transaction    {rows[False].line()}")
    finally:
        mine = [registry.topic(spec.name) for spec in registry.specs()]
        delete_topics(settings, [t for t in admin(settings).list_topics(timeout=10).topics if t in mine])
        broker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
