"""What the journey tests share with their conftest: the running stack, a way to call a
simulator's control plane, and what each journey's statuses are."""

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

NEW = ("New", "Created")
VALIDATED = ("In progress", "Validation succeeded")
SENT = ("In progress", "Sent to fulfillment")
PICKED = ("Fulfillment in progress", "Picked")
PACKED = ("Fulfillment in progress", "Packed")
DONE = ("Completed", "Fulfilled")
DONE_J1 = ("Completed", "Done")
CONFIRMED = ("New", "Confirmed")
"""An order made in F&O is taken in when created there, then confirmed (two steps)."""
"""Journey 1 ends as the brief words it (its flow's status_reasons)."""

EXPECTED_STATUSES = {
    1: [NEW, VALIDATED, SENT, PICKED, PACKED, DONE_J1],
    2: [NEW, VALIDATED, SENT, PACKED, DONE],
    3: [NEW, CONFIRMED, VALIDATED, SENT, PACKED, DONE],
    4: [NEW, CONFIRMED, VALIDATED, PACKED, DONE],
    5: [NEW, CONFIRMED, VALIDATED, SENT, PACKED, DONE],
    6: [NEW, VALIDATED, PICKED, PACKED, DONE],
}
SALES_ORDERS = "/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder"


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
