"""A liveness probe for the writers, as a process manager would run one: a writer whose
consumer group has a backlog and whose committed offsets have not moved for a while is
wedged (alive, doing nothing), so the supervisor SIGKILLs and restarts it, and the audit
reports it.

Why: after a broker stop/start, librdkafka's coordinator requests can block forever in a
process whose clients saw the broker go away, timeouts notwithstanding (librdkafka #5456,
#5511): a transactional writer then hangs in ``send_offsets_to_transaction``. A wedged
writer would hide every other finding of the soak behind "nothing converged". For the same
reason the probe reads the offsets in a fresh process each time
(``python -m devkit.soak.liveness BOOTSTRAP GROUP TOPIC PARTITIONS``).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

if TYPE_CHECKING:
    from streams.adapters.topics import TopicRegistry
    from streams.settings import Settings

log = logging.getLogger(__name__)

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

    def __init__(self, stall_seconds: float = 20.0) -> None:
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
    """Committed and end offsets of a probed process's group, read by a fresh process."""

    def __init__(self, settings: Settings, topics: TopicRegistry, timeout: float = 20.0) -> None:
        self._bootstrap = settings.bootstrap_servers
        self._topics = topics
        self._timeout = timeout

    def sample(self, process: str) -> tuple[dict[int, int], dict[int, int]] | None:
        """(committed, ends); None when they cannot be read now."""
        group, logical = PROBED[process]
        argv = [
            self._bootstrap,
            self._topics.prefix + group,
            self._topics.topic(logical),
            str(self._topics.partitions),
        ]
        try:
            done = subprocess.run(
                [sys.executable, "-m", __name__, *argv],
                capture_output=True,
                text=True,
                timeout=self._timeout,
                check=True,
            )
            found = json.loads(done.stdout)
        except subprocess.CalledProcessError as exc:
            log.info("no offsets for %s now: %s", process, (exc.stderr or "").strip()[-300:])
            return None
        except (subprocess.SubprocessError, ValueError) as exc:
            log.info("no offsets for %s now: %s", process, exc)
            return None
        return _positions(found["committed"]), _positions(found["ends"])


def _positions(raw: Mapping[str, int]) -> dict[int, int]:
    return {int(p): int(o) for p, o in raw.items()}


def read_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> dict[str, dict[int, int]]:
    config: dict[str, str | int | float | bool] = {"bootstrap.servers": bootstrap, "log_level": 0}
    client = AdminClient(config)  # must outlive its futures
    future = client.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=10)
    result = next(iter(future.values())).result(timeout=15)
    committed = {
        tp.partition: tp.offset
        for tp in result.topic_partitions or []
        if tp.topic == topic and tp.offset >= 0
    }
    reader = Consumer({**config, "group.id": f"{group}-probe"})
    try:
        ends = {
            p: reader.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(partitions)
        }
    finally:
        reader.close()
    return {"committed": committed, "ends": ends}


def main(argv: Sequence[str]) -> int:
    bootstrap, group, topic, partitions = argv
    print(json.dumps(read_offsets(bootstrap, group, topic, int(partitions))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
