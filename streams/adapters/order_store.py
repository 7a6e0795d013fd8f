"""The writer's working state in RocksDB: each order's state and a per-partition checkpoint.

The store is a cache, not a source of truth: the event topics are its changelog. The
checkpoint says which event-topic offsets the stored states reflect; states and
checkpoint are written in one atomic batch, so after any crash the writer reads the
event topics from the checkpoint on and is exactly up to date again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from datetime import datetime
from pathlib import Path

from rocksdict import Options, Rdict, WriteBatch

from streams.domain.order import OrderState

_STATE = b"s/"
_CHECKPOINT = b"c/"
_DEADLINE = b"d/"
"""order id -> the earliest deadline of its pending provider actions (the writer's timers)."""


class OrderStore(MutableMapping[str, OrderState]):
    """A mapping of order id to state, backed by RocksDB, with an in-memory read cache."""

    def __init__(self, path: Path, cache_size: int = 200_000) -> None:
        path.mkdir(parents=True, exist_ok=True)
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        self._db = Rdict(str(path), options)
        self._cache: dict[str, OrderState] = {}
        self._dirty: dict[str, OrderState] = {}
        self._cache_size = cache_size

    # -- mapping interface: reads go through the cache, writes wait for ``flush``
    def __getitem__(self, order_id: str) -> OrderState:
        state = self.get(order_id)
        if state is None:
            raise KeyError(order_id)
        return state

    def get(self, order_id: str, default: OrderState | None = None) -> OrderState | None:  # type: ignore[override]
        state = self._cache.get(order_id)
        if state is not None:
            return state
        raw = self._db.get(_STATE + order_id.encode())
        if raw is None:
            return default
        state = OrderState.model_validate_json(raw)
        self._remember(order_id, state)
        return state

    def __setitem__(self, order_id: str, state: OrderState) -> None:
        self._remember(order_id, state)
        self._dirty[order_id] = state

    def __delitem__(self, order_id: str) -> None:
        raise NotImplementedError("orders are never deleted from the writer's state")

    def _scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        it = self._db.iter()
        it.seek(prefix)
        while it.valid():
            key = it.key()
            if not key.startswith(prefix):
                break
            yield key[len(prefix) :], it.value()
            it.next()

    def __iter__(self) -> Iterator[str]:
        return (key.decode() for key, _ in self._scan(_STATE))

    def deadlines(self) -> Iterator[tuple[str, datetime]]:
        """Orders waiting for a provider, with the earliest deadline they wait for."""
        for key, value in self._scan(_DEADLINE):
            yield key.decode(), datetime.fromisoformat(value.decode())

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def _remember(self, order_id: str, state: OrderState) -> None:
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[order_id] = state

    # -- durability
    def flush(self, checkpoint: Mapping[tuple[str, int], int]) -> None:
        """Persist pending states and the offsets they reflect, atomically."""
        batch = WriteBatch(raw_mode=True)
        for order_id, state in self._dirty.items():
            batch.put(_STATE + order_id.encode(), state.model_dump_json().encode())
            if state.pending_actions:
                deadline = min(p.deadline for p in state.pending_actions)
                batch.put(_DEADLINE + order_id.encode(), deadline.isoformat().encode())
            else:
                batch.delete(_DEADLINE + order_id.encode())
        for (topic, partition), offset in checkpoint.items():
            batch.put(_CHECKPOINT + f"{topic}/{partition}".encode(), str(offset).encode())
        self._db.write(batch)
        self._dirty.clear()

    def discard_pending(self) -> None:
        """Forget unflushed writes (an aborted transaction): the cache may hold them too."""
        self._dirty.clear()
        self._cache.clear()

    def checkpoint(self, topics: Iterable[str], partition: int) -> dict[tuple[str, int], int]:
        """The next offset to fold for each (topic, partition); 0 when never folded."""
        out = {}
        for topic in topics:
            raw = self._db.get(_CHECKPOINT + f"{topic}/{partition}".encode())
            out[(topic, partition)] = int(raw) if raw is not None else 0
        return out

    def close(self) -> None:
        self._db.close()
