"""The fold's working set of order states: reads go through to the store, writes wait
for the batch's commit (``take_changes``), and the cache is dropped when it outgrows its
bound (every state is in the store, so a miss only costs a read)."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping

from streams.domain.order import OrderState
from streams.services.projection.store import ProjectionStore


class WorkingSet(MutableMapping[str, OrderState]):
    """The fold's working set: reads through to the store, writes wait for the commit."""

    def __init__(self, store: ProjectionStore, cache_size: int) -> None:
        self._store = store
        self._cache: dict[str, OrderState] = {}
        self._absent: set[str] = set()
        """Orders the store does not have (it has one writer: this mapping's owner)."""
        self._before: dict[str, OrderState | None] = {}
        self._cache_size = cache_size

    def get(self, order_id: str, default: OrderState | None = None) -> OrderState | None:  # type: ignore[override]
        state = self._cache.get(order_id)
        if state is None:
            if order_id in self._absent:
                return default
            state = self._store.view(order_id)
            if state is None:
                self._absent.add(order_id)
                return default
            self._cache[order_id] = state
        return state

    def __getitem__(self, order_id: str) -> OrderState:
        state = self.get(order_id)
        if state is None:
            raise KeyError(order_id)
        return state

    def __setitem__(self, order_id: str, state: OrderState) -> None:
        if order_id not in self._before:
            self._before[order_id] = self.get(order_id)
        self._cache[order_id] = state
        self._absent.discard(order_id)

    def __delitem__(self, order_id: str) -> None:
        raise NotImplementedError("orders are never deleted from the projection")

    def __iter__(self) -> Iterator[str]:
        return iter(self._cache)

    def __len__(self) -> int:
        return len(self._cache)

    def take_changes(self) -> dict[str, tuple[OrderState | None, OrderState]]:
        changes = {oid: (before, self._cache[oid]) for oid, before in self._before.items()}
        self._before = {}
        if len(self._cache) > self._cache_size:
            self._cache = {}
        if len(self._absent) > self._cache_size:
            self._absent = set()
        return changes
