"""From the projection's thread to the event loop: live streams and read-your-writes waits.

The read model calls its listeners on its own thread after each committed batch; the hub
hops onto the event loop with ``call_soon_threadsafe`` and there feeds every open event
stream and wakes the requests waiting for an order to reach a version. A stream keeps
the newest 256 changes it has not sent: while the projection rebuilds at thousands of
events a second, a browser gets the latest and a count of the rest (``lagged``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Sequence

from streams.adapters.http.read_model import Change, ReadModel
from streams.domain.order import OrderState


class Stream:
    """One client's queue of changes, optionally of one order only."""

    def __init__(self, order_id: str | None, size: int) -> None:
        self.order_id = order_id
        self.pending: deque[Change] = deque(maxlen=size)
        self.dropped = 0
        self.wake = asyncio.Event()
        self.closed = False

    def offer(self, changes: Sequence[Change]) -> None:
        if self.order_id is not None:
            changes = [c for c in changes if c.order_id == self.order_id]
            if not changes:
                return
        room = self.pending.maxlen or 0
        overflow = len(self.pending) + len(changes) - room
        if overflow > 0:
            self.dropped += overflow
        self.pending.extend(changes[-room:] if len(changes) > room else changes)
        self.wake.set()

    def take(self) -> tuple[list[Change], int]:
        changes = list(self.pending)
        self.pending.clear()
        dropped, self.dropped = self.dropped, 0
        self.wake.clear()
        return changes, dropped

    def close(self) -> None:
        self.closed = True
        self.wake.set()


class LiveHub:
    def __init__(self, read_model: ReadModel, stream_size: int = 256) -> None:
        self._read_model = read_model
        self._stream_size = stream_size
        self._streams: set[Stream] = set()
        self._waiters: dict[str, list[tuple[int, asyncio.Future[None]]]] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle (on the app's startup and shutdown)
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._unsubscribe = self._read_model.subscribe(self._from_thread)

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for stream in self._streams:
            stream.close()
        for waiters in self._waiters.values():
            for _, future in waiters:
                future.cancel()

    def _from_thread(self, changes: Sequence[Change]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self.publish, changes)

    # -- on the loop
    def publish(self, changes: Sequence[Change]) -> None:
        if not changes:
            return
        for stream in self._streams:
            stream.offer(changes)
        if self._waiters:
            for c in changes:
                waiters = self._waiters.get(c.order_id)
                if waiters:
                    for version, future in waiters:
                        if c.seq >= version and not future.done():
                            future.set_result(None)

    def open(self, order_id: str | None) -> Stream:
        stream = Stream(order_id, self._stream_size)
        self._streams.add(stream)
        return stream

    def close(self, stream: Stream) -> None:
        self._streams.discard(stream)
        stream.close()

    @property
    def streams(self) -> int:
        return len(self._streams)

    async def wait_for_version(self, order_id: str, version: int, timeout: float) -> OrderState | None:
        """The order once the projection has ``version`` of it, or whatever it has after
        ``timeout`` seconds (the caller compares versions)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (version, future)
        self._waiters.setdefault(order_id, []).append(entry)
        try:
            state = self._read_model.order(order_id)
            if state is not None and state.version >= version:
                return state
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(future, timeout)
            return self._read_model.order(order_id)
        finally:
            waiters = self._waiters.get(order_id, [])
            if entry in waiters:
                waiters.remove(entry)
            if not waiters:
                self._waiters.pop(order_id, None)
