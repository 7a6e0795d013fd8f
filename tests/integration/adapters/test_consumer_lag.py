"""Consumer lag from the Admin API, as ``kafka-consumer-groups --describe`` reports it, on
a topic written in transactions: committing the position reads 0, committing "last
record + 1" leaves the commit marker as lag 1."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

from streams.adapters.kafka import admin, consumer_config, delete_topics, producer_config
from streams.adapters.lag import consumer_lag, groups
from streams.settings import Settings


@pytest.fixture
def topic(kafka_bootstrap: str, topic_prefix: str) -> Iterator[tuple[Settings, str]]:
    settings = Settings(bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix)
    name = f"{topic_prefix}lag"
    client = admin(settings)
    client.create_topics([NewTopic(name, num_partitions=2, replication_factor=1)])[name].result(30)
    try:
        yield settings, name
    finally:
        delete_topics(settings, [name])


def _write_in_a_transaction(settings: Settings, topic: str, records: int) -> None:
    producer = Producer(producer_config(settings, **{"transactional.id": f"lag-{uuid.uuid4().hex}"}))
    producer.init_transactions(30)
    producer.begin_transaction()
    for n in range(records):
        producer.produce(topic, key=f"k{n}".encode(), value=b"v", partition=0)
    producer.commit_transaction(30)


def _read_all(settings: Settings, topic: str, group: str, records: int) -> Consumer:
    consumer = Consumer(consumer_config(settings, group, **{"enable.partition.eof": True}))
    consumer.assign([TopicPartition(topic, 0)])
    got, at_end, deadline = 0, False, time.monotonic() + 30
    while not (got == records and at_end):
        assert time.monotonic() < deadline, f"read {got} of {records} records"
        for msg in consumer.consume(100, 0.5):
            error = msg.error()
            if error is None:
                got += 1
            else:
                at_end = error.code() == KafkaError._PARTITION_EOF
    return consumer


def test_a_group_that_commits_its_position_reads_lag_0_past_the_commit_marker(
    topic: tuple[Settings, str], topic_prefix: str
) -> None:
    settings, name = topic
    _write_in_a_transaction(settings, name, 3)
    consumer = _read_all(settings, name, f"{topic_prefix}by-position", 3)
    [position] = consumer.position([TopicPartition(name, 0)])
    consumer.commit(offsets=[position], asynchronous=False)
    consumer.close()

    assert position.offset == 4  # three records and the commit marker
    assert consumer_lag(admin(settings), f"{topic_prefix}by-position") == {(name, 0): 0, (name, 1): 0}


def test_a_group_that_commits_the_last_record_plus_one_shows_the_marker_as_lag(
    topic: tuple[Settings, str], topic_prefix: str
) -> None:
    settings, name = topic
    _write_in_a_transaction(settings, name, 3)
    consumer = _read_all(settings, name, f"{topic_prefix}by-record", 3)
    consumer.commit(offsets=[TopicPartition(name, 0, 3)], asynchronous=False)
    consumer.close()

    assert consumer_lag(admin(settings), f"{topic_prefix}by-record") == {(name, 0): 1, (name, 1): 0}


def test_a_partition_never_committed_lags_by_everything_on_it(
    topic: tuple[Settings, str], topic_prefix: str
) -> None:
    settings, name = topic
    _write_in_a_transaction(settings, name, 2)
    group = f"{topic_prefix}partial"
    consumer = Consumer(consumer_config(settings, group))
    consumer.commit(offsets=[TopicPartition(name, 1, 0)], asynchronous=False)
    consumer.close()

    assert consumer_lag(admin(settings), group) == {(name, 0): 3, (name, 1): 0}
    assert consumer_lag(admin(settings), group, {name: 1}) == {(name, 0): 3}
    assert groups(admin(settings), topic_prefix) == [group]
