"""Replication follows the cluster: three copies with two in sync once there are three
brokers, so any one broker can go without losing an acknowledged record or stopping writes."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from streams.adapters.kafka import Replication, _replication
from streams.settings import Settings


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


class _Future:
    def __init__(self, value: object) -> None:
        self.value = value

    def result(self) -> object:
        return self.value


class _Admin:
    """An AdminClient that answers describe_configs with a broker's default.replication.factor."""

    def __init__(self, declared: str) -> None:
        self.declared = declared

    def describe_configs(self, resources: list[object], request_timeout: float) -> dict[object, _Future]:
        entry = SimpleNamespace(value=self.declared)
        return {resources[0]: _Future({"default.replication.factor": entry})}


def _metadata(brokers: int) -> SimpleNamespace:
    return SimpleNamespace(brokers={n: object() for n in range(1, brokers + 1)})


def test_a_node_fenced_for_a_moment_does_not_cost_a_topic_a_copy() -> None:
    copies = _replication(_Admin("3"), _metadata(2), Settings(), 5)  # type: ignore[arg-type]

    assert copies == Replication(3)


def test_a_single_broker_declaring_one_copy_gets_one() -> None:
    assert _replication(_Admin("1"), _metadata(1), Settings(), 5) == Replication(1)  # type: ignore[arg-type]


def test_the_live_brokers_count_when_the_cluster_declares_fewer_copies() -> None:
    assert _replication(_Admin("1"), _metadata(4), Settings(), 5) == Replication(3)  # type: ignore[arg-type]
