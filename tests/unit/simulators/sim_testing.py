"""Helpers for the simulator tests: a webhook receiver that can be told to fail, and a
wait for a simulator's outbound deliveries to settle."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from simulators.common import Simulator

Client = TestClient[web.Request, web.Application]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every POST; answers ``fail_status`` to the next ``fail_next`` of them."""

    url: str = ""
    calls: list[Received] = field(default_factory=list)
    fail_next: int = 0
    fail_status: int = 500

    async def handle(self, request: web.Request) -> web.Response:
        self.calls.append(Received(request.path, dict(request.headers), await request.read()))
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=self.fail_status)
        return web.Response(status=200)

    async def wait_for(self, count: int, timeout: float = 3.0) -> list[Received]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.calls) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"expected {count} webhook calls, got {len(self.calls)}")
            await asyncio.sleep(0.005)
        return self.calls


Start = Callable[[Simulator], Awaitable[Client]]


async def drained(client: Client) -> dict[str, Any]:
    """Wait for the simulator's outbound deliveries to settle; return them."""
    response = await client.post("/_sim/deliveries/drain", json={"timeout": 5})
    assert (await response.json())["settled"] is True
    listing = await client.get("/_sim/deliveries")
    result: dict[str, Any] = await listing.json()
    return result
