"""A writer's working state in RocksDB: each aggregate's state and a per-partition checkpoint.

The store is a cache, not a source of truth: the event topics are its changelog. The
checkpoint says which event-topic offsets the stored states reflect; states and
checkpoint are written in one atomic batch, so after any crash the writer reads the
event topics from the checkpoint on and is exactly up to date again. A transactional
writer hands each committed transaction's states over with ``commit_pending`` and writes
them a second or so later: an order changed by several transactions in between is
serialised once, and a crash only means a slightly longer restore. The order writer
and the inventory writer each keep one (``OrderStore``, ``InventoryStore``); the
inventory readers (DOM's view, the backorder job) keep an ``InventoryViewStore``, so
they go on from where they stopped instead of reading the inventory topics from 0.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import BaseModel
from rocksdict import Options, Rdict, WriteBatch

from streams.domain.inventory import (
    EVENT_KINDS,
    InventoryEnvelope,
    InventoryState,
    ReservationFate,
)

S = TypeVar("S", bound=BaseModel)

STATE = b"s/"
CHECKPOINT = b"c/"


class StateStore(MutableMapping[str, S], Generic[S]):
    """A mapping of aggregate id to state, backed by RocksDB, with an in-memory read cache.
    Writes wait in memory until ``flush`` persists them with the offsets they reflect:
    *pending* (the open transaction's, dropped by ``discard_pending``) until
    ``commit_pending``, then *dirty* (committed, not yet written)."""

    model: type[S]

    def __init__(self, path: Path, cache_size: int = 200_000) -> None:
        path.mkdir(parents=True, exist_ok=True)
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        self._db = Rdict(str(path), options)
        self._cache: dict[str, S] = {}
        self._pending: dict[str, S] = {}
        self._dirty: dict[str, S] = {}
        self._cache_size = cache_size

    # -- mapping interface: reads go through the cache, writes wait for ``flush``
    def __getitem__(self, key: str) -> S:
        state = self.get(key)
        if state is None:
            raise KeyError(key)
        return state

    def get(self, key: str, default: S | None = None) -> S | None:  # type: ignore[override]
        state = self._cache.get(key)
        if state is None:
            state = self._dirty.get(key)
        if state is not None:
            return state
        raw = self._db.get(STATE + key.encode())
        if raw is None:
            return default
        state = self.model.model_validate_json(raw)
        self._remember(key, state)
        return state

    def __setitem__(self, key: str, state: S) -> None:
        self._remember(key, state)
        self._pending[key] = state

    def __delitem__(self, key: str) -> None:
        raise NotImplementedError("aggregates are never deleted from a writer's state")

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        it = self._db.iter()
        it.seek(prefix)
        while it.valid():
            key = it.key()
            if not key.startswith(prefix):
                break
            yield key[len(prefix) :], it.value()
            it.next()

    def __iter__(self) -> Iterator[str]:
        return (key.decode() for key, _ in self.scan(STATE))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def _remember(self, key: str, state: S) -> None:
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[key] = state

    # -- durability
    def _also_write(self, batch: WriteBatch, key: str, state: S) -> None:
        """Secondary entries a subclass keeps beside a state (written in the same batch)."""

    def _also_flush(self, batch: WriteBatch) -> None:
        """Entries a subclass keeps apart from the states (written in the same batch)."""

    def commit_pending(self) -> None:
        """The transaction that made the pending states committed: they are kept (and
        written by a later ``flush``) whatever happens to the next one."""
        self._dirty.update(self._pending)
        self._pending.clear()

    @property
    def unflushed(self) -> int:
        """States held in memory only (pending or committed)."""
        return len(self._dirty) + len(self._pending)

    def flush(self, checkpoint: Mapping[tuple[str, int], int]) -> None:
        """Persist every state held in memory and the offsets they reflect, atomically.
        A state is written as the bytes of ``model_dump_json`` (what ``get`` reads), taken
        from the serializer before they become a ``str`` to be encoded back (a journey-1
        order is ~3 KB)."""
        self.commit_pending()
        batch = WriteBatch(raw_mode=True)
        for key, state in self._dirty.items():
            batch.put(STATE + key.encode(), state.__pydantic_serializer__.to_json(state))
            self._also_write(batch, key, state)
        self._also_flush(batch)
        for (topic, partition), offset in checkpoint.items():
            batch.put(CHECKPOINT + f"{topic}/{partition}".encode(), str(offset).encode())
        self._db.write(batch)
        self._dirty.clear()

    def discard_pending(self) -> None:
        """Forget the pending states (an aborted transaction, a revoked partition): the
        cache may hold them too. Committed states not yet written stay."""
        self._pending.clear()
        self._cache.clear()

    def checkpoint(self, topics: Iterable[str], partition: int) -> dict[tuple[str, int], int]:
        """The next offset to fold for each (topic, partition); 0 when never folded."""
        out = {}
        for topic in topics:
            raw = self._db.get(CHECKPOINT + f"{topic}/{partition}".encode())
            out[(topic, partition)] = int(raw) if raw is not None else 0
        return out

    def close(self) -> None:
        self._db.close()


class InventoryStore(StateStore[InventoryState]):
    """SKU@source -> inventory state, for the inventory writer."""

    model = InventoryState


_FATE = b"f/"
"""reservation id -> its fate: {"seq", "state", "kind", "event"}."""
_ACTION = b"a/"
"""requested_by + NUL + reservation id -> b"": the reservations a DOM action asked for."""


class InventoryViewStore(StateStore[InventoryEnvelope]):
    """An inventory reader's view: SKU@source -> the newest envelope (on hand, reserved),
    each reservation's fate and the reservations of each DOM action, with the offsets of
    the inventory topics they reflect, so a restarted reader goes on from there."""

    model = InventoryEnvelope

    def __init__(self, path: Path, cache_size: int = 200_000) -> None:
        super().__init__(path, cache_size)
        self._fates: dict[str, ReservationFate] = {}
        self._asked: dict[str, set[str]] = {}

    def fate(self, rid: str) -> ReservationFate | None:
        fate = self._fates.get(rid)
        if fate is not None:
            return fate
        raw = self._db.get(_FATE + rid.encode())
        if raw is None:
            return None
        data = json.loads(raw)
        event = EVENT_KINDS[data["kind"]].model_validate(data["event"])
        return ReservationFate(int(data["seq"]), str(data["state"]), event)

    def put_fate(self, rid: str, fate: ReservationFate, requested_by: str | None) -> None:
        """Record ``fate`` (written with the next ``flush``); ``requested_by`` indexes it."""
        self._fates[rid] = fate
        if requested_by is not None:
            self._asked.setdefault(requested_by, set()).add(rid)

    def reservations_of(self, action_id: str) -> set[str]:
        prefix = action_id.encode() + b"\0"
        stored = {rid.decode() for rid, _ in self.scan(_ACTION + prefix)}
        return stored | self._asked.get(action_id, set())

    def _also_flush(self, batch: WriteBatch) -> None:
        for rid, fate in self._fates.items():
            record = {"seq": fate.seq, "state": fate.state, "kind": fate.event.kind}
            record["event"] = fate.event.model_dump(mode="json")
            batch.put(_FATE + rid.encode(), json.dumps(record).encode())
        for action, rids in self._asked.items():
            for rid in rids:
                batch.put(_ACTION + action.encode() + b"\0" + rid.encode(), b"")
        self._fates.clear()
        self._asked.clear()

    def discard_pending(self) -> None:
        super().discard_pending()
        self._fates.clear()
        self._asked.clear()
