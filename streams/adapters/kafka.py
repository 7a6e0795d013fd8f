"""confluent-kafka plumbing shared by every process: client configs, topics, partitioning
and dead letters. Reading and writing go through the one loop, ``kafka_loop.py``."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ClusterMetadata,
    ConfigResource,
    NewTopic,
)

from streams.adapters.topics import TopicRegistry
from streams.settings import Settings

log = logging.getLogger(__name__)


def where(msg: Message) -> tuple[str, int]:
    """A consumed record's (topic, partition); never None for a record without error."""
    return msg.topic() or "", msg.partition() or 0


def offset_of(msg: Message) -> int:
    return msg.offset() or 0


def value_of(msg: Message) -> bytes:
    return msg.value() or b""


def _quiet_logger() -> logging.Logger:
    """librdkafka's own log lines (connection refused while a broker starts...) go to DEBUG."""
    logger = logging.getLogger("librdkafka")
    logger.setLevel(logging.WARNING)
    return logger


def producer_config(settings: Settings, **extra: Any) -> dict[str, Any]:
    return {
        "bootstrap.servers": settings.bootstrap_servers,
        # Java's partitioner: keys land on the same partition whichever client produced them.
        "partitioner": "murmur2_random",
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        "logger": _quiet_logger(),
        **extra,
    }


def consumer_config(settings: Settings, group_id: str | None, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        # Only committed transactions: aborted writes of a crashed writer are never read.
        "isolation.level": "read_committed",
        "fetch.min.bytes": 1,
        "queued.max.messages.kbytes": 65536,
        "logger": _quiet_logger(),
        **extra,
    }
    config["group.id"] = group_id or f"oms-reader-{time.time_ns()}"
    return config


def admin(settings: Settings) -> AdminClient:
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "logger": _quiet_logger(),
    }
    return AdminClient(config)


class TopicMismatch(RuntimeError):
    pass


MAX_REPLICAS = 3
MIN_INSYNC_REPLICAS = 2


@dataclass(frozen=True)
class Replication:
    """How many copies of each partition a new topic gets, and how many must hold a record
    before an ``acks=all`` write returns.

    Three replicas with two in sync survive the loss of any one broker without losing an
    acknowledged record and without stopping writes; fewer brokers get what they can hold.
    """

    factor: int

    @classmethod
    def for_brokers(cls, brokers: int, factor: int | None = None) -> Replication:
        """``factor`` if given (OMS_REPLICATION_FACTOR), else ``min(3, brokers)``."""
        return cls(factor or max(1, min(MAX_REPLICAS, brokers)))

    @property
    def min_insync(self) -> int:
        return MIN_INSYNC_REPLICAS if self.factor > MIN_INSYNC_REPLICAS else 1

    def topic_config(self) -> dict[str, str]:
        """What a topic needs beyond the broker defaults (min.insync.replicas defaults to 1)."""
        return {"min.insync.replicas": str(self.min_insync)} if self.min_insync > 1 else {}


def replication(settings: Settings, timeout: float = 30.0) -> Replication:
    """The replication of the cluster at ``settings.bootstrap_servers``."""
    client = admin(settings)
    return _replication(client, client.list_topics(timeout=timeout), settings, timeout)


def _replication(
    client: AdminClient, metadata: ClusterMetadata, settings: Settings, timeout: float
) -> Replication:
    """From the live brokers and the copies the cluster declares for new topics
    (``default.replication.factor``), whichever is more: a node fenced for a moment (a
    missed heartbeat under load) is missing from the metadata, and must not leave a topic
    with one copy fewer for ever."""
    brokers = len(metadata.brokers)
    if settings.replication_factor or not metadata.brokers:
        return Replication.for_brokers(brokers, settings.replication_factor)
    resource = ConfigResource("broker", str(min(metadata.brokers)))
    try:
        config = client.describe_configs([resource], request_timeout=timeout)[resource].result()
        declared = int(config["default.replication.factor"].value)
    except (KafkaException, KeyError, ValueError):
        declared = 1
    return Replication.for_brokers(max(brokers, declared))


def create_topics(settings: Settings, registry: TopicRegistry, timeout: float = 30.0) -> list[str]:
    """Create every registry topic that is missing; return the names created.

    Replicas: see ``Replication`` (three, two in sync, on a cluster of three or more).
    While a node is fenced there are too few brokers for them: the creation is retried
    until ``timeout``, then fails with the broker's reason.

    Existing order topics must have the registry's partition count, or records of one
    order would live on different partitions of different topics: refused loudly.
    """
    client = admin(settings)
    metadata = client.list_topics(timeout=timeout)
    existing = metadata.topics
    copies = _replication(client, metadata, settings, timeout)
    wanted = []
    for spec in registry.specs():
        name = registry.topic(spec.name)
        if name in existing:
            have = len(existing[name].partitions)
            if spec.co_partitioned and have != registry.partitions:
                raise TopicMismatch(
                    f"topic {name} has {have} partitions but the registry wants "
                    f"{registry.partitions}: co-partitioning by order id would break. "
                    "Recreate it or set OMS_PARTITIONS to match."
                )
            continue
        wanted.append(
            NewTopic(
                name,
                num_partitions=spec.partitions or registry.partitions,
                replication_factor=copies.factor,
                config={**copies.topic_config(), **spec.config},
            )
        )
    return _create(client, wanted, time.monotonic() + timeout)


def _create(client: AdminClient, wanted: list[NewTopic], deadline: float) -> list[str]:
    created: list[str] = []
    while wanted:
        retry = []
        futures = client.create_topics(wanted, operation_timeout=max(1.0, deadline - time.monotonic()))
        for topic in wanted:
            try:
                futures[topic.topic].result()
                created.append(topic.topic)
            except KafkaException as exc:
                code = exc.args[0].code()
                if code == KafkaError.INVALID_REPLICATION_FACTOR and time.monotonic() < deadline:
                    retry.append(topic)
                elif code != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
        if retry:
            log.warning("too few live brokers for %d topics' replicas yet: retrying", len(retry))
            time.sleep(0.5)
        wanted = retry
    return created


def delete_topics(settings: Settings, names: list[str], timeout: float = 30.0) -> None:
    if not names:
        return
    client = admin(settings)  # must outlive its futures
    for future in client.delete_topics(names, operation_timeout=timeout).values():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (``org.apache.kafka.common.utils.Utils.murmur2``)."""
    length = len(data)
    seed = 0x9747B28C
    m = 0x5BD1E995
    h = (seed ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    rest = length % 4
    tail = length - rest
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def partition_for(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key``."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def dead_letter(producer: Producer, topic: str, msg: Message, reason: str) -> None:
    """Park an undecodable record with its reason and origin; the original bytes stay intact."""
    headers: list[tuple[str, str | bytes | None]] = [
        ("dlq.reason", reason.encode()),
        ("dlq.topic", (msg.topic() or "").encode()),
        ("dlq.partition", str(msg.partition()).encode()),
        ("dlq.offset", str(msg.offset()).encode()),
        ("dlq.failed_at", datetime.now(UTC).isoformat().encode()),
    ]
    producer.produce(topic, key=msg.key(), value=msg.value(), headers=headers)
    log.warning("dead-lettered %s[%s]@%s: %s", msg.topic(), msg.partition(), msg.offset(), reason)
