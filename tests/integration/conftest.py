"""Integration tests talk to a real Kafka broker.

``kafka_bootstrap`` uses the broker named by KAFKA_BOOTSTRAP_SERVERS when it answers, else
the one on 127.0.0.1:39092 (not 9092, so a developer's own broker and topics are left alone).
If nothing answers there, it starts a broker for the session and stops it at the end: in
Docker (``apache/kafka`` through testcontainers, ``devkit.docker_brokers``) when a Docker
engine answers or ``OMS_TEST_BROKER=docker`` asks, else the local JVM broker on that port
(``OMS_TEST_BROKER=local`` forces it). Tests share the broker, so each one names its topics
with ``topic_prefix``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit.docker_brokers import kafka_container, use_docker
from devkit.local_broker import LocalBroker, broker_answers
from streams.settings import Settings

TEST_BROKER_PORT = 39092
HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """The bootstrap servers of a broker that answers, started for the session if need be."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if external and broker_answers(external, timeout=5.0):
        yield external
        return
    if use_docker():
        with kafka_container() as bootstrap_servers:
            yield bootstrap_servers
        return
    broker = LocalBroker(home=Settings.from_env().kafka_home, port=TEST_BROKER_PORT)
    if broker.is_running() or broker_answers(broker.bootstrap_servers):
        # Not this session's to stop: `oms broker start --port 39092` or another session.
        if broker.is_running():
            broker.start()  # returns at once, or waits while it is still starting
        yield broker.bootstrap_servers
        return
    broker.start(timeout=120)  # the first run also fetches the jars (~1 min)
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()


@pytest.fixture
def topic_prefix() -> str:
    """A unique topic prefix such as ``t1a2b3c4d.``: tests never see each other's records."""
    return f"t{uuid.uuid4().hex[:8]}."
