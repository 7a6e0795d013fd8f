"""What a Kafka transaction's commit costs by the number of partitions it touched.

Every hop of an order through the writer waits for one commit (the records become visible
to ``read_committed`` readers when the commit markers land), and a commit writes a marker
to every partition the transaction produced to. The writer's events go to one topic per
event type, co-partitioned by order id, so a batch of many orders touches up to
(event types in the batch) x (partitions) partitions. This stage measures that floor on
the broker at hand with the writer's own producer settings: ``python -m bench.commit_cost``.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Sequence

from confluent_kafka import Producer

from bench.broker import acquire
from bench.latency import percentiles
from bench.progress import say
from streams.adapters.kafka import admin, create_topics, delete_topics, producer_config
from streams.adapters.kafka_loop import TRANSACTIONAL_PRODUCER
from streams.adapters.topics import TopicRegistry
from streams.settings import Settings

TOUCHED = (1, 6, 30, 60, 120)
"""Partitions touched per transaction: one order's event; one event type of a 6-partition
registry; and what batches of several event types over 6 partitions touch."""


def measure(producer: Producer, partitions: list[tuple[str, int]], rounds: int) -> list[float]:
    """Commit times (ms) of ``rounds`` transactions, each one record to every partition."""
    took = []
    for _ in range(rounds):
        producer.begin_transaction()
        for topic, partition in partitions:
            producer.produce(topic, b"v", partition=partition)
        began = time.perf_counter()
        producer.commit_transaction(30)
        took.append(1000 * (time.perf_counter() - began))
    return took


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.commit_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40, help="transactions per row (default 40)")
    parser.add_argument("--bootstrap", default=None)
    args = parser.parse_args(argv)
    broker = acquire(args.bootstrap)
    settings = Settings(bootstrap_servers=broker.bootstrap_servers, topic_prefix=f"bc{uuid.uuid4().hex[:6]}.")
    registry = TopicRegistry(settings.topic_prefix, partitions=6)
    topics = registry.event_topics()[: max(TOUCHED) // 6]
    try:
        create_topics(settings, registry)
        producer = Producer(
            producer_config(
                settings,
                **TRANSACTIONAL_PRODUCER,
                **{"transactional.id": settings.topic_prefix, "linger.ms": 5},
            )
        )
        producer.init_transactions(30)
        every = [(topic, p) for p in range(6) for topic in topics]
        measure(producer, every[:6], 5)  # the first transactions also find the partition leaders
        print(f"transaction commit by partitions touched ({args.rounds} each, one record per partition):")
        for touched in TOUCHED:
            say(f"{touched} partitions")
            took = percentiles(measure(producer, every[:touched], args.rounds))
            print(f"  {touched:4d} partitions   {took.line()}")
    finally:
        mine = [registry.topic(spec.name) for spec in registry.specs()]
        delete_topics(settings, [t for t in admin(settings).list_topics(timeout=10).topics if t in mine])
        broker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
