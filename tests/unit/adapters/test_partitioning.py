"""Co-partitioning: our partitioner must agree with Kafka's Java default."""

from __future__ import annotations

import pytest

from streams.adapters.kafka import murmur2, partition_for
from streams.adapters.topics import TopicRegistry


@pytest.mark.parametrize(
    ("key", "signed_hash"),
    # Vectors from Kafka's UtilsTest.testMurmur2.
    [
        ("21", -973932308),
        ("foobar", -790332482),
        ("a-little-bit-long-string", -985981536),
        ("a-little-bit-longer-string", -1486304829),
        ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        ("abc", 479470107),
    ],
)
def test_murmur2_matches_kafka(key: str, signed_hash: int) -> None:
    assert murmur2(key.encode()) == signed_hash & 0xFFFFFFFF


def test_partition_for_is_stable_and_in_range() -> None:
    parts = {partition_for(f"ORD-{i:06d}", 6) for i in range(1000)}
    assert parts == set(range(6))


def test_every_order_topic_is_keyed_by_order_id_with_one_partition_count() -> None:
    registry = TopicRegistry(prefix="x.", partitions=4)
    names = [registry.topic(s.name) for s in registry.specs()]
    assert all(n.startswith("x.") for n in names)
    assert {
        "x.order.created",
        "x.order.validated",
        "x.fulfillment.picked",
        "x.order.shipped",
        "x.order.invoiced",
    } <= set(names)
    order_family = [s for s in registry.specs() if s.co_partitioned and not s.name.startswith("inventory.")]
    assert all(s.key == "order_id" for s in order_family)
    # inventory is an aggregate of its own: its topics are co-partitioned by SKU@source
    inventory = [s for s in registry.specs() if s.name.startswith("inventory.")]
    assert [s.key for s in inventory] == ["sku@source"] * 3 and all(s.co_partitioned for s in inventory)
    with pytest.raises(KeyError, match="unknown topic"):
        registry.topic("order.teleported")
