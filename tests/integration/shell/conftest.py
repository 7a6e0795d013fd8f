"""Fixtures of the shell's integration tests: the OMS topics under a prefix of the test's own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streams.adapters.kafka import create_topics, delete_topics
from streams.bootstrap import bootstrap
from streams.settings import Settings


@pytest.fixture
def topics(kafka_bootstrap: str, topic_prefix: str) -> Iterator[Settings]:
    """Every topic of the registry, created under ``topic_prefix`` (2 partitions), deleted after."""
    settings = Settings(bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix, partitions=2)
    created = create_topics(settings, bootstrap(settings).topics)
    yield settings
    delete_topics(settings, created)
