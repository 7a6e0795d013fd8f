"""Fixtures for the simulator tests: a simulator served in-process on 127.0.0.1, and a
webhook receiver (see sim_testing.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sim_testing import Client, Receiver, Start

from simulators.common import Simulator


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", hook.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    hook.url = str(server.make_url("/hook"))
    yield hook
    await server.close()


@pytest_asyncio.fixture
async def start() -> AsyncIterator[Start]:
    """``client = await start(simulator)``: serve it on 127.0.0.1, closed after the test."""
    clients: list[Client] = []

    async def serve(sim: Simulator) -> Client:
        client = TestClient(TestServer(sim.make_app(), host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield serve
    for client in clients:
        await client.close()
