"""The connector integration tests' topics: a registry of their own on the shared broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.adapters.kafka import admin, create_topics, delete_topics
from streams.bootstrap import Components, bootstrap
from streams.settings import Settings


@pytest.fixture
def oms(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> Iterator[Components]:
    settings = Settings(
        bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix, partitions=3, state_dir=tmp_path
    )
    c = bootstrap(settings)
    create_topics(settings, c.topics)
    yield c
    delete_topics(
        settings, [t for t in admin(settings).list_topics(timeout=30).topics if t.startswith(topic_prefix)]
    )
