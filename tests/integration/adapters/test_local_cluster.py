"""A 3-node local cluster: topics get three replicas with two in sync, and a broker
SIGKILLed while the order writer streams loses no event and duplicates none.

With Docker (see ``devkit.docker_brokers``) the cluster is docker-compose.yml's three
brokers instead, on 127.0.0.1:9092/9094/9096."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource
from waits import wait_for
from writer_harness import (
    assert_each_event_once,
    committed_events,
    components,
    drop_topics,
    read_all,
    running_writer,
    wait_for_events,
)

from devkit.docker_brokers import ComposeCluster, use_docker
from devkit.local_broker import LocalCluster
from devkit.scenarios import journey1_orders
from streams.adapters.command_bus import CommandBus
from streams.bootstrap import Components
from streams.settings import Settings

CLUSTER_PORT = 29192
"""Below the ephemeral port range (32768-60999 on Linux), where a client socket could take a
node's port first: nodes on 29192, 29194, 29196 (controllers one above)."""
ORDERS = 300
EVENTS_PER_ORDER = 10
AFTER_KILL = ORDERS // 3
T = TypeVar("T")


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster | ComposeCluster]:
    cluster: LocalCluster | ComposeCluster = (
        ComposeCluster()
        if use_docker()
        else LocalCluster(Settings.from_env().kafka_home, nodes=3, port=CLUSTER_PORT)
    )
    cluster.reset()  # leftovers of an interrupted run: its nodes and topics
    cluster.start(timeout=180)
    try:
        yield cluster
    finally:
        cluster.reset()


@pytest.fixture
def oms(cluster: LocalCluster | ComposeCluster, topic_prefix: str, tmp_path: Path) -> Iterator[Components]:
    c = components(cluster.bootstrap_servers, topic_prefix, tmp_path)
    try:
        yield c
    finally:
        drop_topics(c)


def _eventually(ask: Callable[[], T], timeout: float = 30) -> T:
    """``ask()`` once it stops failing with UNKNOWN_TOPIC_OR_PART or comes back empty: a new
    topic reaches each broker's metadata a moment apart, and any broker may be asked."""

    def answer() -> T | None:
        try:
            return ask()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise
            return None

    found = wait_for("an answer", answer, timeout, every=0.2)
    assert found is not None
    return found


def test_topics_get_three_replicas_of_which_two_must_be_in_sync(oms: Components) -> None:
    admin = AdminClient({"bootstrap.servers": oms.settings.bootstrap_servers})
    topic = oms.topics.commands

    partitions = _eventually(lambda: admin.list_topics(topic, timeout=10).topics[topic].partitions)
    resource = ConfigResource("topic", topic)
    config = _eventually(lambda: admin.describe_configs([resource])[resource].result())

    assert {len(p.replicas) for p in partitions.values()} == {3}
    assert config["min.insync.replicas"].value == "2"


def _stream(c: Components, killed: threading.Event) -> int:
    """Send the orders one at a time, as a channel would. The last ``AFTER_KILL`` wait for
    the kill, so the stream goes on through a cluster that has lost a node, however fast
    the writer was before."""
    bus = CommandBus(c.settings, c.topics, c.codec)
    for i, order in enumerate(journey1_orders(ORDERS)):
        if i == ORDERS - AFTER_KILL:
            killed.wait(90)
        for command in order:
            bus.send(command)
        bus.flush()
    return ORDERS


def test_a_broker_killed_mid_stream_loses_no_event_and_duplicates_none(
    cluster: LocalCluster | ComposeCluster, oms: Components
) -> None:
    total = ORDERS * EVENTS_PER_ORDER
    killed = threading.Event()
    with running_writer(oms, instance_id="cluster-test"), ThreadPoolExecutor(1) as pool:
        sending: Future[int] = pool.submit(_stream, oms, killed)
        try:
            wait_for_events(oms, total // 5, timeout=60)
            victim = cluster.leader(oms.topics.commands, 0)
            cluster.kill(victim)
        finally:
            killed.set()  # on a failure too: the sender must not keep the test waiting

        assert sending.result(timeout=120) == ORDERS
        wait_for_events(oms, total, timeout=90)
    # The writer has stopped: every transaction it began is committed or aborted by now.

    assert_each_event_once(committed_events(oms), ORDERS, EVENTS_PER_ORDER)
    assert read_all(oms.settings, [oms.topics.rejections], oms.topics.partitions) == []
    cluster.restart(victim)
    cluster.wait_in_sync(timeout=60)
    assert cluster.running_nodes() == [1, 2, 3]
