"""Live insights: the operation's KPIs by windowed aggregation of the event stream. Pure.

IOM's Power BI pages (orders by status reason, in jeopardy, past due; internal cycle
time, on-time ship ratio, fill rate, book-to-ship; provider requests, failures and SLA %)
are up to four hours stale. Here every event updates fixed-size aggregates at once:

* latencies go into ``Digest``s: counts in log-spaced buckets (each 4 % wider than the
  last), so a quantile is within 2 % of the exact one, and two digests merge by adding
  counts; no sample list is kept;
* everything is tallied per minute of event time (``Tally``), so a window is the merge of
  its minutes, and the whole run is one more tally;
* in jeopardy / past due come from a sorted list of the open orders' due times: two
  bisections per query.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import Field

from streams.domain.delivery import requested_delivery
from streams.domain.events import Event, FlowStepRecorded, OrderShipped, ProviderActionRequested, StepResult
from streams.domain.order import OrderState
from streams.domain.transitions import CANCELED, COMPLETED, TERMINAL
from streams.domain.values import Value

GAMMA = 1.04
"""Each bucket is this much wider than the one before: quantiles within (GAMMA-1)/2."""
_FLOOR = 1e-3
"""Latencies below a millisecond share bucket 0."""
_LOG_GAMMA = math.log(GAMMA)


class Digest:
    """A mergeable latency distribution (seconds) in log-spaced buckets."""

    __slots__ = ("buckets", "count", "total")

    def __init__(self) -> None:
        self.buckets: Counter[int] = Counter()
        self.count = 0
        self.total = 0.0

    def add(self, seconds: float) -> None:
        value = max(seconds, 0.0)
        index = 0 if value <= _FLOOR else math.ceil(math.log(value / _FLOOR) / _LOG_GAMMA)
        self.buckets[index] += 1
        self.count += 1
        self.total += value

    def merge(self, other: Digest) -> None:
        self.buckets.update(other.buckets)
        self.count += other.count
        self.total += other.total

    def quantile(self, q: float) -> float | None:
        """The value at quantile ``q`` (0..1): the midpoint of its bucket (None: no data)."""
        if not self.count:
            return None
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                if index == 0:
                    return _FLOOR
                upper = _FLOOR * GAMMA**index
                return 2 * upper / (1 + GAMMA)  # between the bucket's bounds, error <= (GAMMA-1)/2
        return None  # unreachable: the ranks add up to count

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None


@dataclass
class ProviderTally:
    requests: int = 0
    failures: int = 0
    within_sla: int = 0
    latency: Digest = field(default_factory=Digest)

    def merge(self, other: ProviderTally) -> None:
        self.requests += other.requests
        self.failures += other.failures
        self.within_sla += other.within_sla
        self.latency.merge(other.latency)


@dataclass
class Tally:
    """Everything the KPIs count, for one minute (or a window, or the whole run)."""

    shipped: int = 0
    shipped_on_time: int = 0
    shipped_with_date: int = 0
    units_ordered: int = 0
    units_shipped: int = 0
    book_to_ship: Digest = field(default_factory=Digest)
    steps: dict[tuple[str, str], Digest] = field(default_factory=dict)
    providers: dict[tuple[str, str], ProviderTally] = field(default_factory=dict)

    def merge(self, other: Tally) -> None:
        self.shipped += other.shipped
        self.shipped_on_time += other.shipped_on_time
        self.shipped_with_date += other.shipped_with_date
        self.units_ordered += other.units_ordered
        self.units_shipped += other.units_shipped
        self.book_to_ship.merge(other.book_to_ship)
        for key, digest in other.steps.items():
            self.steps.setdefault(key, Digest()).merge(digest)
        for key, tally in other.providers.items():
            self.providers.setdefault(key, ProviderTally()).merge(tally)


class InsightSettings(Value):
    jeopardy_hours: float = Field(default=24.0, gt=0)
    """An open order due within this many hours and not shipped is in jeopardy."""
    default_promise_hours: float | None = Field(default=None, gt=0)
    sla_seconds: dict[str, float] = Field(default_factory=dict)
    """The answer time a provider (``fno``) or one of its actions (``fno/send_to_billing``)
    is held to; ``default_sla_seconds`` otherwise."""
    default_sla_seconds: float = Field(default=30.0, gt=0)

    def sla(self, provider: str, action: str) -> float:
        return self.sla_seconds.get(
            f"{provider}/{action}", self.sla_seconds.get(provider, self.default_sla_seconds)
        )


@dataclass(frozen=True)
class Quantiles:
    count: int
    p50: float | None
    p95: float | None
    p99: float | None

    @staticmethod
    def of(digest: Digest) -> Quantiles:
        return Quantiles(digest.count, digest.quantile(0.5), digest.quantile(0.95), digest.quantile(0.99))


@dataclass(frozen=True)
class ProviderInsight:
    provider: str
    action: str
    requests: int
    failures: int
    latency: Quantiles
    sla_seconds: float
    sla_percent: float | None
    """Answers that succeeded within ``sla_seconds``, as a share of all answers."""


@dataclass(frozen=True)
class StepInsight:
    flow: str
    step: str
    cycle: Quantiles


@dataclass(frozen=True)
class InsightsSnapshot:
    at: datetime
    window_minutes: int | None
    """None: since the stream began."""
    by_status: dict[tuple[str, str], int]
    open_orders: int
    in_jeopardy: int
    past_due: int
    shipped: int
    on_time_ship_ratio: float | None
    fill_rate: float | None
    book_to_ship: Quantiles
    steps: list[StepInsight]
    providers: list[ProviderInsight]


_MAX_MINUTES = 24 * 60


class Insights:
    """Feed it every event with the order after it; ``snapshot`` answers at any time."""

    def __init__(self, settings: InsightSettings | None = None) -> None:
        self.settings = settings or InsightSettings()
        self._status: dict[str, tuple[str, str]] = {}
        self._by_status: Counter[tuple[str, str]] = Counter()
        self._due: dict[str, datetime] = {}
        self._due_sorted: list[tuple[datetime, str]] = []
        self._step_started: dict[tuple[str, str], datetime] = {}
        self._attempts: dict[tuple[str, str], tuple[str, str, datetime]] = {}
        self._minutes: dict[int, Tally] = {}
        self._total = Tally()

    def observe(self, event: Event, state: OrderState) -> None:
        self._count_status(state)
        self._track_due(state, event)
        at = event.envelope.occurred_at
        if isinstance(event, ProviderActionRequested):
            key = (state.order_id, event.step)
            self._attempts[key] = (event.provider, event.action, event.not_before)
            if event.attempt == 1:
                self._step_started[key] = at
        elif isinstance(event, FlowStepRecorded):
            self._step(event, state)
        elif isinstance(event, OrderShipped):
            self._shipped(state, at)

    def _tallies(self, at: datetime) -> tuple[Tally, Tally]:
        minute = int(at.timestamp() // 60)
        tally = self._minutes.get(minute)
        if tally is None:
            tally = self._minutes[minute] = Tally()
            for old in [m for m in self._minutes if m <= minute - _MAX_MINUTES]:
                del self._minutes[old]
        return tally, self._total

    def _count_status(self, state: OrderState) -> None:
        now = (state.status, state.status_reason)
        before = self._status.get(state.order_id)
        if before == now:
            return
        if before is not None:
            self._by_status[before] -= 1
            if self._by_status[before] <= 0:
                del self._by_status[before]
        self._by_status[now] += 1
        self._status[state.order_id] = now

    def _track_due(self, state: OrderState, event: Event) -> None:
        order_id = state.order_id
        done = state.status in TERMINAL or isinstance(event, OrderShipped)
        when = None if done else requested_delivery(state, self.settings.default_promise_hours)
        old = self._due.get(order_id)
        if old == when:
            return
        if old is not None:
            del self._due_sorted[bisect.bisect_left(self._due_sorted, (old, order_id))]
        if when is None:
            self._due.pop(order_id, None)
            return
        self._due[order_id] = when
        bisect.insort(self._due_sorted, (when, order_id))

    def _step(self, event: FlowStepRecorded, state: OrderState) -> None:
        env = event.envelope
        key = (state.order_id, event.step)
        at = env.occurred_at
        attempt = self._attempts.get(key)
        answered = not env.source.startswith("flow:")
        for tally in self._tallies(at):
            if answered and attempt is not None and event.result != StepResult.CANCELED:
                provider, action, sent = attempt
                seconds = (at - sent).total_seconds()
                p = tally.providers.setdefault((provider, action), ProviderTally())
                p.requests += 1
                ok = event.result == StepResult.SUCCEEDED
                p.failures += 0 if ok else 1
                p.within_sla += int(ok and seconds <= self.settings.sla(provider, action))
                p.latency.add(seconds)
            started = self._step_started.get(key)
            if StepResult(event.result).final and started is not None and state.flow is not None:
                tally.steps.setdefault((state.flow, event.step), Digest()).add((at - started).total_seconds())
        if StepResult(event.result).final:
            self._step_started.pop(key, None)
            self._attempts.pop(key, None)

    def _shipped(self, state: OrderState, at: datetime) -> None:
        when = requested_delivery(state, self.settings.default_promise_hours)
        ordered = sum(line.quantity for line in state.lines)
        shipped = sum(line.quantity for line in state.lines if state.line_status(line) != CANCELED)
        for tally in self._tallies(at):
            tally.shipped += 1
            if when is not None:
                tally.shipped_with_date += 1
                tally.shipped_on_time += int(at <= when)
            tally.units_ordered += ordered
            tally.units_shipped += shipped
            tally.book_to_ship.add((at - state.created_at).total_seconds())

    def snapshot(self, now: datetime, window_minutes: int | None = None) -> InsightsSnapshot:
        tally = self._window(now, window_minutes)
        past_due = bisect.bisect_left(self._due_sorted, (now, ""))
        horizon = now + timedelta(hours=self.settings.jeopardy_hours)
        soon = bisect.bisect_left(self._due_sorted, (horizon, "")) - past_due
        open_orders = sum(
            n for (status, _), n in self._by_status.items() if status not in TERMINAL and status != COMPLETED
        )
        return InsightsSnapshot(
            at=now,
            window_minutes=window_minutes,
            by_status=dict(self._by_status),
            open_orders=open_orders,
            in_jeopardy=soon,
            past_due=past_due,
            shipped=tally.shipped,
            on_time_ship_ratio=tally.shipped_on_time / tally.shipped_with_date
            if tally.shipped_with_date
            else None,
            fill_rate=tally.units_shipped / tally.units_ordered if tally.units_ordered else None,
            book_to_ship=Quantiles.of(tally.book_to_ship),
            steps=[StepInsight(f, s, Quantiles.of(d)) for (f, s), d in sorted(tally.steps.items())],
            providers=[self._provider(p, a, t) for (p, a), t in sorted(tally.providers.items())],
        )

    def _window(self, now: datetime, minutes: int | None) -> Tally:
        if minutes is None:
            return self._total
        last = int(now.timestamp() // 60)
        merged = Tally()
        for minute, tally in self._minutes.items():
            if last - minutes < minute <= last:
                merged.merge(tally)
        return merged

    def _provider(self, provider: str, action: str, t: ProviderTally) -> ProviderInsight:
        return ProviderInsight(
            provider=provider,
            action=action,
            requests=t.requests,
            failures=t.failures,
            latency=Quantiles.of(t.latency),
            sla_seconds=self.settings.sla(provider, action),
            sla_percent=100.0 * t.within_sla / t.requests if t.requests else None,
        )
