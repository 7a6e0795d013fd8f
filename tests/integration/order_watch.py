"""Watching orders from a test: publish commands, wait for a state, read the timeline.

Shared by the stream-level harnesses (tests/integration/services/writer_harness.py,
tests/integration/inventory/dom_oms.py); it reads only the event topics, as any reader would.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from streams.adapters.command_bus import CommandBus
from streams.bootstrap import Components
from streams.domain.commands import Command
from streams.domain.events import Event
from streams.domain.order import OrderState
from streams.services.replay import order_timeline


def send(c: Components, commands: Iterable[Command]) -> int:
    """Publish ``commands`` to order.commands and wait until they are delivered."""
    bus = CommandBus(c.settings, c.topics, c.codec)
    n = 0
    for command in commands:
        bus.send(command)
        n += 1
    bus.flush()
    return n


@dataclass
class OrderWatch:
    c: Components

    def send(self, commands: Iterable[Command]) -> None:
        send(self.c, commands)

    def wait_until(
        self, order_id: str, done: Callable[[OrderState], bool], timeout: float = 60.0
    ) -> OrderState:
        deadline = time.monotonic() + timeout
        while True:
            state = order_timeline(self.c.settings, self.c.topics, self.c.codec, order_id).state
            if state is not None and done(state):
                return state
            if time.monotonic() > deadline:
                raise AssertionError(f"{order_id} did not get there in {timeout}s; it is {state}")
            time.sleep(0.3)

    def timeline(self, order_id: str) -> list[Event]:
        return [e for _, e in order_timeline(self.c.settings, self.c.topics, self.c.codec, order_id).events]
