"""Connector tests run the connectors' web apps and the provider simulators in-process on
127.0.0.1; the Kafka side is a recording publisher."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer
from conn_testing import RecordingPublisher, Serve

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


@pytest_asyncio.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[TestServer] = []

    async def start(app: web.Application) -> str:
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/")

    yield start
    for server in reversed(servers):
        await server.close()
