"""Watching orders from a test: publish commands, wait for a state, read the timeline.

Shared by the stream-level harnesses (tests/integration/services/writer_harness.py,
tests/integration/inventory/dom_oms.py); it reads only the event topics, as any reader would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from waits import wait_for

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
        seen: list[OrderState | None] = [None]

        def there() -> OrderState | None:
            seen[0] = order_timeline(self.c.settings, self.c.topics, self.c.codec, order_id).state
            return seen[0] if seen[0] is not None and done(seen[0]) else None

        try:
            state = wait_for(f"{order_id} there", there, timeout, every=0.3)
        except AssertionError as failed:
            raise AssertionError(f"{failed}; it is {seen[0]}") from None
        assert state is not None
        return state

    def timeline(self, order_id: str) -> list[Event]:
        return [e for _, e in order_timeline(self.c.settings, self.c.topics, self.c.codec, order_id).events]
