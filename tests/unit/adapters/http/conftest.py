"""A projection in a temporary RocksDB store, fed in memory; the API over it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from read_side_fixtures import CODEC, Clock, Feed

from streams.adapters.http.app import create_app
from streams.services.projection import Projection, ProjectionStore


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def feed() -> Feed:
    return Feed()


@pytest.fixture
def projection(tmp_path: Path, clock: Clock) -> Iterator[Projection]:
    store = ProjectionStore(tmp_path / "projection")
    projection = Projection(store, CODEC.decode, clock=clock)
    yield projection
    store.close()


@pytest_asyncio.fixture
async def client(projection: Projection) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    async with TestClient(TestServer(create_app(projection, stats_interval=0.05))) as client:
        yield client
