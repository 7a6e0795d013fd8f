"""Alerts as data: rules from a file, evaluated on the live stream. Pure.

Like IOM's alerts ("not sent to fulfillment" / "not shipped" N hours before the requested
delivery date), plus an order on hold for too long, a provider failing too often in a
sliding window, and dead letters. An alert is Active when its condition holds, In
progress once an operator takes it, Resolved when the condition no longer holds.

**No scan per tick.** Each event updates its order's ``OrderWatch`` (what the rules look
at) and, per order rule, the one instant the alert would fire: a min-heap of (due,
rule, order) with lazy deletion (an entry counts only while it equals the order's current
due time), so a tick pops what is due and touches nothing else: 100k open orders cost
a heap of 100k entries and O(log n) per event, not a pass over them every second.
Provider rules keep per-minute buckets per provider; dead letters a deque of times.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, model_validator

from streams.domain.delivery import requested_delivery
from streams.domain.events import Event, FlowStepRecorded, OrderShipped, ProviderActionRequested, StepResult
from streams.domain.order import OrderState
from streams.domain.transitions import COMPLETED, FULFILLMENT_IN_PROGRESS, ON_HOLD, TERMINAL
from streams.domain.values import Value


class AlertState(StrEnum):
    ACTIVE = "Active"
    IN_PROGRESS = "In progress"
    RESOLVED = "Resolved"


Severity = Literal["info", "warning", "critical"]
RuleName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]


class _Rule(Value):
    name: RuleName
    description: str = ""
    severity: Severity = "warning"


class NotSentRule(_Rule):
    """The order is not sent to fulfillment N hours before its requested delivery date."""

    kind: Literal["not_sent_to_fulfillment"]
    hours_before_delivery: float = Field(gt=0)


class NotShippedRule(_Rule):
    """The order has not shipped N hours before its requested delivery date."""

    kind: Literal["not_shipped"]
    hours_before_delivery: float = Field(gt=0)


class OnHoldRule(_Rule):
    kind: Literal["on_hold_longer_than"]
    hours: float = Field(gt=0)


class FailureRateRule(_Rule):
    """A provider's share of failed answers (attempts) in a sliding window is too high."""

    kind: Literal["provider_failure_rate"]
    percent: float = Field(gt=0, le=100)
    window_minutes: int = Field(default=15, ge=1, le=1440)
    min_requests: int = Field(default=5, ge=1)
    provider: str | None = None
    """None: each provider on its own."""


class DeadLetterRule(_Rule):
    """Records nobody could decode arrived on the dead-letter topic within the window."""

    kind: Literal["dead_letters_present"]
    window_minutes: int = Field(default=60, ge=1, le=10080)


OrderRule = NotSentRule | NotShippedRule | OnHoldRule
AlertRule = Annotated[
    NotSentRule | NotShippedRule | OnHoldRule | FailureRateRule | DeadLetterRule, Field(discriminator="kind")
]


class AlertRules(Value):
    rules: tuple[AlertRule, ...] = ()
    default_promise_hours: float | None = Field(default=None, gt=0)
    """An order without a ``requested_delivery_date`` attribute is due this long after it
    was created (None: order rules that need a date skip it)."""

    @model_validator(mode="after")
    def _unique(self) -> AlertRules:
        names = [r.name for r in self.rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"rule names must be unique; repeated: {dupes}")
        return self


class AlertChanged(Value):
    """An alert's new state (topic ``oms.alerts``, key ``alert_id``)."""

    alert_id: str
    rule: str
    kind: str
    state: str
    severity: str
    subject: str
    message: str
    changed_at: datetime
    order_id: str | None = None
    provider: str | None = None


@dataclass(frozen=True)
class OrderWatch:
    """What the order rules look at, as of an order's latest event."""

    delivery: datetime | None
    sent: bool
    shipped: bool
    on_hold_since: datetime | None
    terminal: bool

    @staticmethod
    def after(
        previous: OrderWatch | None, event: Event, state: OrderState, promise_hours: float | None
    ) -> OrderWatch:
        status = state.status
        at = event.envelope.occurred_at
        held_since = previous.on_hold_since if previous is not None else None
        return OrderWatch(
            delivery=requested_delivery(state, promise_hours),
            sent=(previous is not None and previous.sent)
            or bool(state.fulfillment_provider or state.billing_provider)
            or status in (FULFILLMENT_IN_PROGRESS, COMPLETED),
            shipped=(previous is not None and previous.shipped)
            or isinstance(event, OrderShipped)
            or status == COMPLETED,
            on_hold_since=(held_since or at) if status == ON_HOLD else None,
            terminal=status in TERMINAL,
        )


def due(rule: OrderRule, watch: OrderWatch) -> datetime | None:
    """When the rule's alert fires for this order (None: it cannot, as things stand)."""
    if isinstance(rule, OnHoldRule):
        return watch.on_hold_since + timedelta(hours=rule.hours) if watch.on_hold_since else None
    done = watch.sent if isinstance(rule, NotSentRule) else watch.shipped
    if watch.terminal or done or watch.delivery is None:
        return None
    return watch.delivery - timedelta(hours=rule.hours_before_delivery)


_MESSAGES = {
    "not_sent_to_fulfillment": "{o} is not sent to fulfillment {h:g} h before its requested delivery ({d})",
    "not_shipped": "{o} has not shipped {h:g} h before its requested delivery ({d})",
    "on_hold_longer_than": "{o} is on hold for more than {h:g} h (since {s})",
}


@dataclass
class _Window:
    """Answers per minute of one provider: (minute, requests, failures), oldest first."""

    buckets: deque[tuple[int, int, int]] = field(default_factory=deque)

    def add(self, minute: int, failed: bool) -> None:
        if self.buckets and self.buckets[-1][0] == minute:
            m, n, f = self.buckets[-1]
            self.buckets[-1] = (m, n + 1, f + int(failed))
        else:
            self.buckets.append((minute, 1, int(failed)))
        while len(self.buckets) > 1440:
            self.buckets.popleft()

    def totals(self, now_minute: int, minutes: int) -> tuple[int, int]:
        recent = [(n, f) for m, n, f in self.buckets if m > now_minute - minutes]
        return sum(n for n, _ in recent), sum(f for _, f in recent)


def _minute(at: datetime) -> int:
    return int(at.timestamp() // 60)


class AlertEngine:
    """The live evaluation of ``rules``: feed it every event (with the order after it),
    every dead letter, and ``tick`` it with the clock; it returns the alerts that changed."""

    def __init__(self, rules: AlertRules) -> None:
        self.rules = rules
        self._order_rules = [
            r for r in rules.rules if isinstance(r, NotSentRule | NotShippedRule | OnHoldRule)
        ]
        self._watches: dict[str, OrderWatch] = {}
        self._due: dict[tuple[str, str], datetime] = {}
        self._heap: list[tuple[datetime, str, str]] = []
        self._alerts: dict[str, AlertChanged] = {}
        self._windows: dict[str, _Window] = {}
        self._requests: dict[tuple[str, str], str] = {}
        """(order, step) -> provider of the step's open request."""
        self._dead_letters: deque[datetime] = deque()

    # -- reads
    def alerts(self, include_resolved: bool = False) -> list[AlertChanged]:
        """Every alert's latest state, newest change first."""
        found = [a for a in self._alerts.values() if include_resolved or a.state != AlertState.RESOLVED]
        return sorted(found, key=lambda a: (a.changed_at, a.alert_id), reverse=True)

    def get(self, alert_id: str) -> AlertChanged | None:
        return self._alerts.get(alert_id)

    @property
    def watched(self) -> int:
        """Order timers alive: what a tick could have to look at, at most."""
        return len(self._due)

    # -- inputs
    def observe(self, event: Event, state: OrderState) -> list[AlertChanged]:
        changed = self._observe_answer(event)
        order_id = state.order_id
        watch = OrderWatch.after(self._watches.get(order_id), event, state, self.rules.default_promise_hours)
        if watch.terminal:
            self._watches.pop(order_id, None)
        else:
            self._watches[order_id] = watch
        at = event.envelope.occurred_at
        for rule in self._order_rules:
            when = due(rule, watch)
            key = (rule.name, order_id)
            if when is None:
                self._due.pop(key, None)
                changed += self._resolve(f"{rule.name}:{order_id}", at, "the condition no longer holds")
            elif self._due.get(key) != when:
                self._due[key] = when
                heapq.heappush(self._heap, (when, rule.name, order_id))
                if when > at:  # moved later (a new hold): an alert of the old one is over
                    changed += self._resolve(f"{rule.name}:{order_id}", at, "the condition started again")
        return changed

    def _observe_answer(self, event: Event) -> list[AlertChanged]:
        env = event.envelope
        if isinstance(event, ProviderActionRequested):
            self._requests[(env.order_id, event.step)] = event.provider
        elif isinstance(event, FlowStepRecorded) and not env.source.startswith("flow:"):
            provider = self._requests.get((env.order_id, event.step))
            if provider is not None:
                failed = event.result in (StepResult.FAILED, StepResult.RETRYING)
                self._windows.setdefault(provider, _Window()).add(_minute(env.occurred_at), failed)
                if StepResult(event.result).final:
                    del self._requests[(env.order_id, event.step)]
        return []

    def observe_dead_letter(self, at: datetime) -> None:
        self._dead_letters.append(at)

    def acknowledge(self, alert_id: str, at: datetime, by: str) -> AlertChanged | None:
        """An operator takes the alert: Active -> In progress (None: not active)."""
        alert = self._alerts.get(alert_id)
        if alert is None or alert.state != AlertState.ACTIVE:
            return None
        return self._set(
            alert.model_copy(
                update={
                    "state": AlertState.IN_PROGRESS.value,
                    "changed_at": at,
                    "message": f"{alert.message}; taken by {by}",
                }
            )
        )

    def tick(self, now: datetime) -> list[AlertChanged]:
        """The alerts that fired or cleared up to ``now``: due order timers, and the windows."""
        changed: list[AlertChanged] = []
        rules = {r.name: r for r in self._order_rules}
        while self._heap and self._heap[0][0] <= now:
            when, name, order_id = heapq.heappop(self._heap)
            if self._due.get((name, order_id)) != when:
                continue  # superseded: the order moved on since this entry was pushed
            changed += self._fire_order(rules[name], order_id, now)
        for rule in self.rules.rules:
            if isinstance(rule, FailureRateRule):
                changed += self._failure_rates(rule, now)
            elif isinstance(rule, DeadLetterRule):
                changed += self._dead_letter_alert(rule, now)
        return changed

    # -- firing and clearing
    def _fire_order(self, rule: OrderRule, order_id: str, now: datetime) -> list[AlertChanged]:
        watch = self._watches[order_id]
        hours = rule.hours if isinstance(rule, OnHoldRule) else rule.hours_before_delivery
        message = _MESSAGES[rule.kind].format(
            o=order_id,
            h=hours,
            d=watch.delivery.isoformat() if watch.delivery else "-",
            s=watch.on_hold_since.isoformat() if watch.on_hold_since else "-",
        )
        return self._raise(rule, order_id, message, now, order_id=order_id)

    def _failure_rates(self, rule: FailureRateRule, now: datetime) -> list[AlertChanged]:
        changed: list[AlertChanged] = []
        providers = [rule.provider] if rule.provider else sorted(self._windows)
        for provider in providers:
            window = self._windows.get(provider)
            requests, failures = window.totals(_minute(now), rule.window_minutes) if window else (0, 0)
            rate = 100.0 * failures / requests if requests else 0.0
            if requests >= rule.min_requests and rate >= rule.percent:
                message = (
                    f"{provider}: {rate:.0f}% of {requests} answers failed in the last "
                    f"{rule.window_minutes} min (limit {rule.percent:g}%)"
                )
                changed += self._raise(rule, provider, message, now, provider=provider)
            else:
                changed += self._resolve(f"{rule.name}:{provider}", now, f"{provider} fails {rate:.0f}% now")
        return changed

    def _dead_letter_alert(self, rule: DeadLetterRule, now: datetime) -> list[AlertChanged]:
        since = now - timedelta(minutes=rule.window_minutes)
        while self._dead_letters and self._dead_letters[0] < since:
            self._dead_letters.popleft()
        if self._dead_letters:
            n = len(self._dead_letters)
            message = (
                f"{n} undecodable records on the dead-letter topic in the last {rule.window_minutes} min"
            )
            return self._raise(rule, "dead-letters", message, now)
        return self._resolve(f"{rule.name}:dead-letters", now, "no new dead letters")

    def _raise(
        self,
        rule: AlertRule,
        subject: str,
        message: str,
        now: datetime,
        order_id: str | None = None,
        provider: str | None = None,
    ) -> list[AlertChanged]:
        alert_id = f"{rule.name}:{subject}"
        current = self._alerts.get(alert_id)
        if current is not None and current.state != AlertState.RESOLVED:
            return []
        alert = AlertChanged(
            alert_id=alert_id,
            rule=rule.name,
            kind=rule.kind,
            state=AlertState.ACTIVE.value,
            severity=rule.severity,
            subject=subject,
            message=message,
            changed_at=now,
            order_id=order_id,
            provider=provider,
        )
        return [self._set(alert)]

    def _resolve(self, alert_id: str, at: datetime, why: str) -> list[AlertChanged]:
        current = self._alerts.get(alert_id)
        if current is None or current.state == AlertState.RESOLVED:
            return []
        update = {
            "state": AlertState.RESOLVED.value,
            "changed_at": max(at, current.changed_at),
            "message": f"{current.message}; resolved: {why}",
        }
        return [self._set(current.model_copy(update=update))]

    def _set(self, alert: AlertChanged) -> AlertChanged:
        self._alerts[alert.alert_id] = alert
        return alert

    def apply(self, alert: AlertChanged) -> None:
        """Fold an alert read back from ``oms.alerts`` (a restart keeps operators' work)."""
        current = self._alerts.get(alert.alert_id)
        if current is None or alert.changed_at >= current.changed_at:
            self._alerts[alert.alert_id] = alert
