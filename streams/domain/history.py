"""Folding many orders' events that arrive from many topics, strictly by ``seq``.

Kafka orders records only within one partition of one topic, so ``order.shipped`` may be
read before ``fulfillment.picked`` of the same order. ``OrderHistories`` holds such early
arrivals until the gap fills, drops duplicates, and folds everything else at once.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping

from streams.domain.events import Event
from streams.domain.order import OrderState, evolve


class OrderHistories:
    def __init__(
        self,
        states: MutableMapping[str, OrderState] | None = None,
        on_applied: Callable[[Event, OrderState], None] | None = None,
    ) -> None:
        self.states: MutableMapping[str, OrderState] = states if states is not None else {}
        self._held: dict[str, dict[int, Event]] = {}
        self._on_applied = on_applied
        self.duplicates = 0

    def add(self, event: Event) -> None:
        env = event.envelope
        order_id = env.order_id
        state = self.states.get(order_id)
        version = state.version if state is not None else 0
        seq = env.seq
        if seq <= version:
            self.duplicates += 1
            return
        if seq > version + 1:
            waiting = self._held.setdefault(order_id, {})
            if seq in waiting:
                self.duplicates += 1
            else:
                waiting[seq] = event
            return
        state = self._apply(state, event)
        held = self._held.get(order_id)
        if held:
            while (nxt := held.pop(state.version + 1, None)) is not None:
                state = self._apply(state, nxt)
            for stale in [s for s in held if s <= state.version]:
                del held[stale]
                self.duplicates += 1
            if not held:
                del self._held[order_id]
        self.states[order_id] = state

    def _apply(self, state: OrderState | None, event: Event) -> OrderState:
        new = evolve(state, event)
        if self._on_applied is not None:
            self._on_applied(event, new)
        return new

    @property
    def held(self) -> int:
        """Events waiting for a predecessor; non-zero at the end of a replay means a gap."""
        return sum(len(h) for h in self._held.values())

    def held_orders(self) -> dict[str, list[int]]:
        return {order_id: sorted(h) for order_id, h in self._held.items()}
