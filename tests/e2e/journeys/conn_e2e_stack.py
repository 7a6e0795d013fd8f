"""What the journey tests share with their conftest: the running stack, and a way to
call a simulator's control plane."""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import ClientSession

from devkit.world import OrderWatch, World
from streams.bootstrap import Components
from streams.settings import Settings


@dataclass
class Stack:
    components: Components
    world: World
    watch: OrderWatch
    writer: subprocess.Popen[bytes]
    writer_url: str
    """The writer's /metrics, /health, /ready."""
    workdir: Path
    """writer.log, and world/logs/ with every other process's log."""

    @property
    def settings(self) -> Settings:
        return self.components.settings

    def sim(self, provider: str, method: str, path: str, body: Any = None) -> Any:
        """Call ``provider``'s simulator control plane (``/_sim/...``)."""

        async def call() -> Any:
            url = self.world.simulators[provider] + path
            async with ClientSession() as http, http.request(method, url, json=body) as reply:
                assert reply.status < 400, await reply.text()
                return await reply.json()

        return asyncio.run(call())
