"""The one ordered merge of histories that arrive from many topics, strictly by ``seq``.

Kafka orders records only within one partition of one topic, so ``order.shipped`` may be
read before ``fulfillment.picked`` of the same order. ``SeqMerge`` holds such early
arrivals until the gap fills, drops duplicates, and folds everything else at once: every
reader of a history (the writers' restore, the replay, an order's timeline, the
projection) folds through it, so they all see one order whatever the interleaving.
``OrderHistories`` merges orders; ``StockHistories`` merges SKU@source keys (the
inventory writer's restore).
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from enum import Enum
from operator import attrgetter
from typing import Any, Generic, Protocol, TypeVar

from streams.domain.events import Event
from streams.domain.inventory import InventoryEvent, InventoryState, evolve_inventory
from streams.domain.order import OrderState, evolve


class Versioned(Protocol):
    """A state that knows the ``seq`` of the last event folded into it."""

    @property
    def version(self) -> int: ...


class Enveloped(Protocol):
    """An event whose envelope carries its ``seq`` and the key of its history."""

    @property
    def envelope(self) -> Any: ...


class Arrival(Enum):
    """What ``SeqMerge.add`` did with an event."""

    APPLIED = "applied"
    """Folded (and any early arrivals it unblocked with it)."""
    HELD = "held"
    """Early: kept until its predecessors come."""
    DUPLICATE = "duplicate"
    """Folded or held already: ignored."""


E = TypeVar("E", bound=Enveloped)
S = TypeVar("S", bound=Versioned)

Applied = Callable[[E, S, Any], None]
"""Called for every event folded, in seq order, with the ``origin`` it was added with."""

_APPLIED, _HELD, _DUPLICATE = Arrival.APPLIED, Arrival.HELD, Arrival.DUPLICATE


class SeqMerge(Generic[E, S]):
    """Per key, folds events strictly in ``seq`` order (``event.envelope.seq``, gapless from 1;
    ``key`` picks the key out of the envelope).

    ``origin`` travels with an event through the hold (a consumed record, say) and comes
    back to ``on_applied`` when the event is folded, so a reader knows which record a
    released early arrival came from.
    """

    def __init__(
        self,
        fold: Callable[[S | None, E], S],
        key: Callable[[Any], str],
        states: MutableMapping[str, S] | None = None,
        on_applied: Applied[E, S] | None = None,
    ) -> None:
        self.states: MutableMapping[str, S] = states if states is not None else {}
        self._fold = fold
        self._key = key
        self._held: dict[str, dict[int, tuple[E, Any]]] = {}
        self._on_applied = on_applied
        self.duplicates = 0

    def add(self, event: E, origin: Any = None) -> Arrival:
        env = event.envelope
        key: str = self._key(env)
        state = self.states.get(key)
        version = state.version if state is not None else 0
        seq: int = env.seq
        if seq <= version:
            self.duplicates += 1
            return _DUPLICATE
        if seq > version + 1:
            waiting = self._held.setdefault(key, {})
            if seq in waiting:
                self.duplicates += 1
                return _DUPLICATE
            waiting[seq] = (event, origin)
            return _HELD
        state = self._apply(state, event, origin)
        held = self._held.get(key)
        if held:
            while (nxt := held.pop(state.version + 1, None)) is not None:
                state = self._apply(state, *nxt)
            for stale in [s for s in held if s <= state.version]:
                del held[stale]
                self.duplicates += 1
            if not held:
                del self._held[key]
        self.states[key] = state
        return _APPLIED

    def _apply(self, state: S | None, event: E, origin: Any) -> S:
        new = self._fold(state, event)
        if self._on_applied is not None:
            self._on_applied(event, new, origin)
        return new

    @property
    def held(self) -> int:
        """Events waiting for a predecessor; non-zero at the end of a replay means a gap."""
        return sum(len(h) for h in self._held.values())

    def held_orders(self) -> dict[str, list[int]]:
        """Per key, the seqs waiting for a predecessor."""
        return {key: sorted(h) for key, h in self._held.items()}

    def held_seqs(self, key: str) -> list[int]:
        """The seqs of ``key`` waiting for a predecessor, ascending (one key's ``held_orders``)."""
        return sorted(self._held.get(key, ()))


class OrderHistories(SeqMerge[Event, OrderState]):
    """Orders' events from every order topic, folded by ``evolve`` strictly by seq."""

    def __init__(
        self,
        states: MutableMapping[str, OrderState] | None = None,
        on_applied: Applied[Event, OrderState] | None = None,
    ) -> None:
        super().__init__(evolve, attrgetter("order_id"), states, on_applied)


class StockHistories(SeqMerge[InventoryEvent, InventoryState]):
    """SKU@source keys' events from both inventory topics, folded strictly by seq."""

    def __init__(
        self,
        states: MutableMapping[str, InventoryState] | None = None,
        on_applied: Applied[InventoryEvent, InventoryState] | None = None,
    ) -> None:
        super().__init__(evolve_inventory, attrgetter("key"), states, on_applied)
