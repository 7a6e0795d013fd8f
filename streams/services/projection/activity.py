"""The projection's counters: orders by (status, reason), events, duplicates and
undecodable records, each provider's activity, and events per second over the last minute.

The fold counts each batch before writing it (the totals go into the batch's own atomic
write, so a restart resumes them exactly) and settles the rest once the batch is durable;
any thread reads a ``snapshot``.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from streams.adapters.http.read_model import ProviderActivity
from streams.domain.order import OrderState
from streams.services.projection.store import Commit, ProjectionStore


class Ring:
    """Counts per wall-clock second over the last ``size`` seconds."""

    def __init__(self, size: int = 60) -> None:
        self.size = size
        self._counts: deque[tuple[int, int]] = deque()

    def add(self, second: int, n: int) -> None:
        if self._counts and self._counts[-1][0] == second:
            self._counts[-1] = (second, self._counts[-1][1] + n)
        else:
            self._counts.append((second, n))
        while self._counts and self._counts[0][0] <= second - self.size:
            self._counts.popleft()

    def series(self, now: int) -> list[int]:
        by_second = dict(self._counts)
        return [by_second.get(s, 0) for s in range(now - self.size + 1, now + 1)]


@dataclass(frozen=True)
class Snapshot:
    by_status: dict[tuple[str, str], int]
    series: list[int]
    """Events folded in each of the last 60 seconds."""
    providers: list[ProviderActivity]
    events: int
    duplicates: int
    undecodable: int
    waiting: dict[str, list[int]]
    """Orders with events held for a missing predecessor, and their seqs."""


def _parse_time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


class Activity:
    def __init__(self, store: ProjectionStore, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._by_status = store.status_reason_counts()
        self._events = int(store.meta("events") or 0)  # type: ignore[call-overload]
        self._duplicates = int(store.meta("duplicates") or 0)  # type: ignore[call-overload]
        self._undecodable = int(store.meta("undecodable") or 0)  # type: ignore[call-overload]
        providers = store.meta("providers") or {}
        assert isinstance(providers, dict)
        self._providers: dict[str, dict[str, object]] = providers
        self._ring = Ring()
        self._provider_rings: dict[str, Ring] = {}
        self._waiting: dict[str, list[int]] = {}

    def count(
        self,
        commit: Commit,
        duplicates: int,
        undecodable: int,
        providers: Mapping[str, tuple[int, datetime]],
    ) -> int:
        """Add a batch's counts and put the totals in its ``commit``; returns its second."""
        second = int(self._clock())
        with self._lock:
            self._events += len(commit.events)
            self._duplicates += duplicates
            self._undecodable += undecodable
            commit.meta = {
                "events": self._events,
                "duplicates": self._duplicates,
                "undecodable": self._undecodable,
            }
            for provider, (n, last) in providers.items():
                entry = self._providers.setdefault(provider, {"events": 0, "last_event_at": None})
                entry["events"] = int(entry["events"]) + n  # type: ignore[call-overload]
                seen = _parse_time(entry["last_event_at"])
                if seen is None or last > seen:
                    entry["last_event_at"] = last.isoformat()
                self._provider_rings.setdefault(provider, Ring()).add(second, n)
            if providers:
                commit.meta["providers"] = self._providers
        return second

    def settle(self, commit: Commit, second: int, waiting: Mapping[str, list[int]]) -> None:
        """Once the batch is durable: its orders move between statuses; ``waiting``: the
        seqs still held of each order the batch added events to (empty: none now)."""
        with self._lock:
            for before, after in commit.views.values():
                self._move(before, after)
            self._ring.add(second, len(commit.events))
            for order_id, seqs in waiting.items():
                if seqs:
                    self._waiting[order_id] = seqs
                else:
                    self._waiting.pop(order_id, None)

    def _move(self, before: OrderState | None, after: OrderState) -> None:
        if before is not None:
            old = (before.status, before.status_reason)
            self._by_status[old] -= 1
            if self._by_status[old] <= 0:
                del self._by_status[old]
        self._by_status[(after.status, after.status_reason)] += 1

    def snapshot(self) -> Snapshot:
        now = int(self._clock())
        with self._lock:
            providers = [
                ProviderActivity(
                    provider=name,
                    events=int(entry["events"]),  # type: ignore[call-overload]
                    last_event_at=_parse_time(entry.get("last_event_at")),
                    events_last_minute=sum(self._provider_rings[name].series(now))
                    if name in self._provider_rings
                    else 0,
                )
                for name, entry in sorted(self._providers.items())
            ]
            return Snapshot(
                by_status=dict(self._by_status),
                series=self._ring.series(now),
                providers=providers,
                events=self._events,
                duplicates=self._duplicates,
                undecodable=self._undecodable,
                waiting={oid: list(seqs) for oid, seqs in self._waiting.items()},
            )
