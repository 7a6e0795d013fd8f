"""Replication follows the cluster: three copies with two in sync once there are three
brokers, so any one broker can go without losing an acknowledged record or stopping writes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.adapters.kafka import Replication


@given(st.integers(min_value=1, max_value=100))
def test_replicas_are_as_many_as_the_brokers_up_to_three(brokers: int) -> None:
    copies = Replication.for_brokers(brokers)

    assert copies.factor == min(3, brokers)


@given(st.integers(min_value=3, max_value=100))
def test_from_three_brokers_on_one_broker_can_be_lost_and_writes_go_on(brokers: int) -> None:
    copies = Replication.for_brokers(brokers)

    assert copies.min_insync == 2 < copies.factor
    assert copies.topic_config() == {"min.insync.replicas": "2"}


def test_one_or_two_brokers_keep_the_broker_default_of_one_in_sync() -> None:
    assert [Replication.for_brokers(n).topic_config() for n in (1, 2)] == [{}, {}]


def test_an_explicit_factor_wins_over_the_broker_count() -> None:
    assert Replication.for_brokers(5, factor=5) == Replication(5)
    assert Replication.for_brokers(1, factor=None) == Replication(1)
