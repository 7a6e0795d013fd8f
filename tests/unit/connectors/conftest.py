"""Connector tests run the connectors' web apps and the provider simulators in-process on
127.0.0.1 (``serve``, tests/unit/conftest.py); the Kafka side is a recording publisher."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conn_testing import RecordingPublisher

from connectors.state import ConnectorStore


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ConnectorStore]:
    opened = ConnectorStore(tmp_path / "store")
    yield opened
    opened.close()


@pytest.fixture
def second_store(tmp_path: Path) -> Iterator[ConnectorStore]:
    """The store of a second instance of the same connector (each instance has its own)."""
    opened = ConnectorStore(tmp_path / "second-store")
    yield opened
    opened.close()
