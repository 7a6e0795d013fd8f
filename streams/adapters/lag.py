"""Consumer lag as ``kafka-consumer-groups --describe`` reports it: per partition, the log
end offset minus the group's committed offset.

The end offset is the high watermark (read_uncommitted), as the Kafka tool reads it, so a
transaction's commit marker counts: a group that commits "last record + 1" on a topic
written in transactions shows lag 1 forever. Our consumers commit their position, which
is past the marker, and read 0 when caught up.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from confluent_kafka import (
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    IsolationLevel,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

Partition = tuple[str, int]


def committed_offsets(admin: AdminClient, group: str, timeout: float = 10.0) -> dict[Partition, int]:
    """The group's committed offsets; partitions it never committed are absent."""
    request = [ConsumerGroupTopicPartitions(group)]
    result = admin.list_consumer_group_offsets(request, request_timeout=timeout)[group].result(timeout)
    return {
        (tp.topic, tp.partition): tp.offset
        for tp in result.topic_partitions or []
        if tp.offset >= 0 and tp.error is None
    }


def end_offsets(
    admin: AdminClient, partitions: Iterable[Partition], timeout: float = 10.0
) -> dict[Partition, tuple[int, int]]:
    """(earliest, end) offsets of each partition; end is the high watermark."""
    wanted = list(dict.fromkeys(partitions))
    if not wanted:
        return {}

    def offsets(spec: OffsetSpec) -> dict[Partition, int]:
        asked = {TopicPartition(t, p): spec for t, p in wanted}
        futures = admin.list_offsets(
            asked, isolation_level=IsolationLevel.READ_UNCOMMITTED, request_timeout=timeout
        )
        return {(tp.topic, tp.partition): future.result(timeout).offset for tp, future in futures.items()}

    earliest = offsets(OffsetSpec.earliest())  # type: ignore[no-untyped-call]
    latest = offsets(OffsetSpec.latest())  # type: ignore[no-untyped-call]
    return {where: (earliest[where], latest[where]) for where in wanted}


def consumer_lag(
    admin: AdminClient, group: str, partitions: Mapping[str, int] | None = None, timeout: float = 10.0
) -> dict[Partition, int]:
    """(topic, partition) -> records the group has not consumed (and committed) yet.

    Every partition of the topics the group committed on counts, or of ``partitions``
    (topic -> partition count) when given: a partition without a commit lags by
    everything on it from its earliest offset (``auto.offset.reset=earliest``).
    """
    committed = committed_offsets(admin, group, timeout)
    if partitions is None:
        counts: dict[str, int] = {}
        for topic, partition in committed:
            counts[topic] = max(counts.get(topic, 0), partition + 1)
        partitions = _partition_counts(admin, counts, timeout)
    every = [(topic, p) for topic, n in partitions.items() for p in range(n)]
    ends = end_offsets(admin, every, timeout)
    return {
        where: max(0, end - max(committed.get(where, earliest), earliest))
        for where, (earliest, end) in ends.items()
    }


def _partition_counts(admin: AdminClient, seen: Mapping[str, int], timeout: float) -> dict[str, int]:
    """The topics' partition counts from the cluster (at least the ones committed on)."""
    if not seen:
        return {}
    metadata = admin.list_topics(timeout=timeout).topics
    return {
        topic: max(at_least, len(metadata[topic].partitions) if topic in metadata else 0)
        for topic, at_least in seen.items()
    }


def members_with_partitions(admin: AdminClient, group: str, timeout: float = 10.0) -> int:
    """Members of ``group`` holding partitions; 0 while it is rebalancing or unknown."""
    try:
        described = admin.describe_consumer_groups([group], request_timeout=timeout)[group].result(timeout)
    except KafkaException:
        return 0
    if described.state != ConsumerGroupState.STABLE:
        return 0
    return sum(1 for m in described.members if m.assignment and m.assignment.topic_partitions)


def groups(admin: AdminClient, prefix: str = "", timeout: float = 10.0) -> list[str]:
    """The consumer groups whose id starts with ``prefix``."""
    listed = admin.list_consumer_groups(request_timeout=timeout).result(timeout)
    return sorted(g.group_id for g in listed.valid if g.group_id.startswith(prefix))


Lagging = dict[str, dict[Partition, int]]
"""group -> (topic, partition) -> lag, for what is behind."""


def lagging(admin: AdminClient, groups: Iterable[str], timeout: float = 10.0) -> Lagging:
    """Each group's partitions with lag above 0; caught-up groups are left out, and a
    group that has committed nothing yet maps to ``{}`` (nothing says it is caught up)."""
    out = {}
    for group in groups:
        lag = consumer_lag(admin, group, timeout=timeout)
        behind = {where: n for where, n in lag.items() if n}
        if behind or not lag:
            out[group] = behind
    return out


def wait_until_caught_up(
    admin: AdminClient, groups: Iterable[str], timeout: float, every: float = 1.0
) -> Lagging:
    """Poll ``lagging`` until it is empty or ``timeout`` seconds passed; its last answer."""
    wanted = list(groups)
    deadline = time.monotonic() + timeout
    while True:
        behind = lagging(admin, wanted)
        if not behind or time.monotonic() >= deadline:
            return behind
        time.sleep(every)
