"""A liveness probe for the writers, as a process manager would run one: a writer whose
consumer group has a backlog and whose committed offsets have not moved for a while is
wedged (alive, doing nothing), so the supervisor SIGKILLs and restarts it, and the audit
reports it.

Why: after a broker stop/start, a transactional producer can block forever in
``send_offsets_to_transaction`` although it was given a timeout (librdkafka #5456); a
wedged writer would hide every other finding of the soak behind "nothing converged".
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from streams.adapters.kafka import admin, consumer_config
from streams.adapters.topics import TopicRegistry
from streams.settings import Settings

Positions = Mapping[int, int]
"""Partition -> offset."""

PROBED: Mapping[str, tuple[str, str]] = {
    "order-writer": ("oms-order-writer", "order.commands"),
    "inventory-writer": ("oms-inventory-writer", "inventory.commands"),
}
"""Process -> (its consumer group without the topic prefix, the topic it consumes)."""


@dataclass
class _Seen:
    committed: dict[int, int]
    since: float


class StallDetector:
    """Pure: feed it each process's committed and end offsets now and then; it says when a
    process has had a backlog for ``stall_seconds`` without committing anything."""

    def __init__(self, stall_seconds: float = 30.0) -> None:
        self.stall_seconds = stall_seconds
        self._seen: dict[str, _Seen] = {}

    def observe(self, process: str, at: float, committed: Positions, ends: Positions) -> bool:
        """True when ``process`` is wedged. A partition's last offset may be a transaction
        marker nobody reads, so a backlog is more than one record."""
        backlog = any(end - committed.get(p, 0) > 1 for p, end in ends.items())
        seen = self._seen.get(process)
        if not backlog or seen is None or seen.committed != dict(committed):
            self._seen[process] = _Seen(dict(committed), at)
            return False
        return at - seen.since >= self.stall_seconds

    def forget(self, process: str) -> None:
        """After a restart (or an outage): start watching afresh."""
        self._seen.pop(process, None)


class OffsetSampler:
    """Reads the probed groups' committed offsets and their topics' end offsets."""

    def __init__(self, settings: Settings, topics: TopicRegistry) -> None:
        self._topics = topics
        self._admin: AdminClient = admin(settings)
        self._partitions = topics.partitions
        self._reader = Consumer(consumer_config(settings, None))

    def sample(self, process: str) -> tuple[dict[int, int], dict[int, int]] | None:
        """(committed, ends) of ``process``'s group; None when the broker cannot say now."""
        group, logical = PROBED[process]
        topic = self._topics.topic(logical)
        try:
            future = self._admin.list_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(self._topics.prefix + group)], request_timeout=5
            )
            result = next(iter(future.values())).result()
            committed = {
                tp.partition: tp.offset
                for tp in result.topic_partitions or []
                if tp.topic == topic and tp.offset >= 0
            }
            ends = {
                p: self._reader.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1]
                for p in range(self._partitions)
            }
        except (KafkaException, StopIteration) as exc:
            logging.getLogger(__name__).info("no offsets for %s now: %s", process, exc)
            return None
        return committed, ends

    def close(self) -> None:
        self._reader.close()
