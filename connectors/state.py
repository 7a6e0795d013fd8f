"""What a connector must remember across restarts: the provider messages it already
turned into commands (webhook ``hash``, business event ``EventId``, CloudEvent ``id``,
Flexe ``eventId``), the last F&O ``ControlNumber`` applied per order, the provider's ids
of our orders, and intake checkpoints.

A local RocksDB (rocksdict) per connector *instance*. The dedupe kept here is a fast path
only, saving a second publish (and the provider API calls behind it) when one instance
sees a message again; nothing depends on it for correctness. Another instance behind the
same webhook URL, a lost store, or a redelivery after a crash between publishing and
remembering all publish the message again, and get past this store. What makes them one
command is the command id: derived only from the provider's own message id or content
(``actions.envelope``), the same in every instance, and refused by the order writer the
second time. Providers deliver at least once and retry until we answer 2xx, so the store
never loses a message either.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from rocksdict import Rdict

_SEP = "\x1f"


class ConnectorStore:
    """String keys in named kinds, string values; every write is durable at once."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = Rdict(str(path))

    def get(self, kind: str, key: str) -> str | None:
        value = self._db.get(f"{kind}{_SEP}{key}")
        return None if value is None else str(value)

    def put(self, kind: str, key: str, value: str) -> None:
        self._db[f"{kind}{_SEP}{key}"] = value

    def seen(self, kind: str, key: str) -> bool:
        return self.get(kind, key) is not None

    def remember(self, kind: str, key: str) -> None:
        """Mark a provider message as done (the value is when, for a future clean-up)."""
        self.put(kind, key, f"{time.time():.0f}")

    def close(self) -> None:
        self._db.close()


class KeyedLocks:
    """One asyncio lock per key (an order, an event id), dropped once nobody needs it:
    two copies of one webhook delivered at once must not both pass the dedupe check."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key]
                del self._locks[key]
