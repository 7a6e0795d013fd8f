"""Shards of the partitions: every partition in exactly one shard, every order in the shard
of its partition; the fan-out returns each shard's result, or its error."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.adapters.kafka import partition_for
from streams.services.shards import Shard, in_processes, shard_of, shards
from streams.settings import Settings


@given(total=st.integers(1, 64), count=st.integers(1, 16))
def test_every_partition_belongs_to_exactly_one_shard(total: int, count: int) -> None:
    owners = {p: [s for s in shards(count) if p in s.partitions(total)] for p in range(total)}

    assert all(len(found) == 1 for found in owners.values())
    assert all(found[0].owns(p) for p, found in owners.items())
    assert sorted(p for s in shards(count) for p in s.partitions(total)) == list(range(total))


@given(order_id=st.text(min_size=1, max_size=20), total=st.integers(1, 32), count=st.integers(1, 8))
def test_an_order_is_in_the_shard_that_owns_its_partition(order_id: str, total: int, count: int) -> None:
    shard = shards(count)[shard_of(order_id, total, count)]

    assert partition_for(order_id, total) in shard.partitions(total)


def test_the_replays_shares_are_the_shards() -> None:
    """``oms replay --workers 2`` on 6 partitions: {0, 2, 4} and {1, 3, 5}, as before."""
    assert [s.partitions(6) for s in shards(2)] == [[0, 2, 4], [1, 3, 5]]


def test_a_shard_outside_the_count_is_refused() -> None:
    with pytest.raises(ValueError, match="shard 2 of 2 does not exist"):
        Shard(2, 2)


def _wire(settings: Settings) -> Any:
    return SimpleNamespace(topics=SimpleNamespace(partitions=settings.partitions), codec=None)


def _partitions_of(settings: Settings, shard: Shard, report: Callable[[int], None], c: Any) -> list[int]:
    report(1)
    return shard.partitions(c.topics.partitions)


def _fails_on_shard_one(settings: Settings, shard: Shard, report: Callable[[int], None], c: Any) -> int:
    if shard.index == 1:
        raise ValueError("no broker")
    return shard.index


def test_each_shard_runs_in_its_own_process_and_the_results_come_back_by_shard() -> None:
    settings = Settings(partitions=5)

    assert in_processes(_partitions_of, settings, 3, _wire) == [[0, 3], [1, 4], [2]]


def test_a_failing_shard_fails_the_whole_fan_out_and_names_the_shard() -> None:
    with pytest.raises(RuntimeError, match=r"shard 1/2 failed: ValueError\('no broker'\)"):
        in_processes(_fails_on_shard_one, Settings(partitions=4), 2, _wire)
