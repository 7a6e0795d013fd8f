"""Integration tests talk to a real Kafka broker.

``kafka_bootstrap`` is ``devkit.session_broker.session_kafka``: the broker named by
KAFKA_BOOTSTRAP_SERVERS when it answers, else the one on 127.0.0.1:39092 (not 9092, so a
developer's own broker and topics are left alone), else one started for the session (in
Docker when an engine answers or ``OMS_TEST_BROKER=docker`` asks, else the local JVM broker)
and stopped at its end. Tests share the broker, so each one names its topics with
``topic_prefix``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit.session_broker import session_kafka

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """The bootstrap servers of a broker that answers (``devkit.session_broker``)."""
    with session_kafka() as bootstrap_servers:
        yield bootstrap_servers


@pytest.fixture
def topic_prefix() -> str:
    """A unique topic prefix such as ``t1a2b3c4d.``: tests never see each other's records."""
    return f"t{uuid.uuid4().hex[:8]}."
