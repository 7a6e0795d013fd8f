"""Order states in RocksDB with a per-partition checkpoint (see ``state_store``): the order
writer's working state, with the deadlines of the provider actions orders wait for (so a
restarted writer finds its timers again), and the backorder job's, with the orders that
have lines on hold (so a run reads what came since the last one and looks only at those)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from rocksdict import WriteBatch

from streams.adapters.state_store import StateStore
from streams.domain.backorders import waits_in_hold
from streams.domain.order import OrderState

_DEADLINE = b"d/"
"""order id -> the earliest deadline of its pending provider actions (the writer's timers)."""
_HELD = b"h/"
"""order id -> b"": it has requests held by a pause (released on resume)."""


class OrderStore(StateStore[OrderState]):
    """A mapping of order id to state, backed by RocksDB, with an in-memory read cache."""

    model = OrderState

    def deadlines(self) -> Iterator[tuple[str, datetime]]:
        """Orders waiting for a provider, with the earliest deadline they wait for."""
        for key, value in self.scan(_DEADLINE):
            yield key.decode(), datetime.fromisoformat(value.decode())

    def held_orders(self) -> Iterator[str]:
        """Orders with requests a pause holds."""
        for key, _ in self.scan(_HELD):
            yield key.decode()

    def _also_write(self, batch: WriteBatch, key: str, state: OrderState) -> None:
        live = state.live_actions
        if live:
            deadline = min(p.deadline for p in live)
            batch.put(_DEADLINE + key.encode(), deadline.isoformat().encode())
        else:
            batch.delete(_DEADLINE + key.encode())
        if len(live) < len(state.pending_actions):
            batch.put(_HELD + key.encode(), b"")
        else:
            batch.delete(_HELD + key.encode())


_WAITING = b"w/"
"""order id -> b"": some open line waits in Backorder or Preorder hold."""


class BackorderStore(StateStore[OrderState]):
    """The backorder job's orders: every state (folded from the event topics from the
    checkpoint on) and an index of those with lines on hold."""

    model = OrderState

    def waiting(self) -> Iterator[OrderState]:
        """The orders with lines in Backorder or Preorder hold."""
        for key, _ in self.scan(_WAITING):
            state = self.get(key.decode())
            if state is not None:
                yield state

    def _also_write(self, batch: WriteBatch, key: str, state: OrderState) -> None:
        if waits_in_hold(state):
            batch.put(_WAITING + key.encode(), b"")
        else:
            batch.delete(_WAITING + key.encode())
