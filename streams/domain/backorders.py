"""Backorders: the order-handling settings, and what the backorder job should do. Pure.

IOM's order-handling settings switch backorders on and set a *cancellation SLA*. Here
they are in ``config/order-handling.yaml`` (``order_handling.OrderHandling``), which the
engine hands to the DOM step's request as params (``backorders: enabled``,
``cancellation_sla: 7d``); a flow version whose DOM step still names them keeps its own.
With backorders on, a line DOM cannot source waits in Backorder hold; the backorder job
asks DOM again when inventory arrives, and cancels a line still held when its SLA runs out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta

from streams.domain.order import LineState, OrderState
from streams.domain.transitions import CANCELED
from streams.domain.values import Value

_ON = frozenset({"enabled", "true", "yes", "on"})
_OFF = frozenset({"disabled", "false", "no", "off"})
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(d|h|m|s)\s*$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_duration(text: str) -> timedelta:
    """``7d``, ``12h``, ``30m``, ``5s`` (what a flow file says) as a timedelta."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"'{text}' is not a duration such as 7d, 12h, 30m or 45s")
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


class BackorderSettings(Value):
    enabled: bool = False
    cancellation_sla: timedelta | None = None
    sla_text: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> BackorderSettings:
        """Raises ``ValueError`` naming the parameter that is wrong."""
        flag = params.get("backorders", "disabled").strip().lower()
        if flag not in _ON | _OFF:
            raise ValueError(f"backorders: '{flag}' is neither enabled nor disabled")
        sla = params.get("cancellation_sla", "").strip()
        return cls(enabled=flag in _ON, cancellation_sla=parse_duration(sla) if sla else None, sla_text=sla)


def launched(line: LineState, at: datetime) -> bool:
    """Whether a line may be sourced at ``at``: not a preorder, or its launch date has come."""
    return line.preorder_until is None or line.preorder_until <= at.date()


def waits_in_hold(state: OrderState) -> bool:
    """Some open line waits in Backorder or Preorder hold: the only orders the job looks at."""
    return any(line.parked and state.line_status(line) != CANCELED for line in state.lines)


def held_lines(state: OrderState, at: datetime | None = None) -> list[LineState]:
    """Lines waiting in Backorder hold, and (given ``at``) preorders whose launch has come."""
    return [
        line
        for line in state.lines
        if line.parked
        and state.line_status(line) != CANCELED
        and (line.backordered if at is None else launched(line, at))
    ]


def due_preorders(state: OrderState, at: datetime) -> list[LineState]:
    """Preorder lines whose launch date has come: the job sends them to DOM, stock or not
    (what DOM cannot source then waits in Backorder hold)."""
    return [line for line in held_lines(state, at) if line.preorder_until is not None]


def past_sla(state: OrderState, now: datetime) -> list[LineState]:
    """Held lines whose cancellation SLA has run out by ``now``."""
    return [
        line
        for line in held_lines(state)
        if line.backorder_cancel_at is not None and line.backorder_cancel_at <= now
    ]


def worth_rechecking(state: OrderState, has_stock: Callable[[str, int], bool]) -> list[LineState]:
    """Held lines for which some source now shows enough units (``has_stock(sku, quantity)``);
    DOM decides for real, under its constraints and through reservations."""
    if any(p.params.get("scope") == "backorders" for p in state.pending_actions):
        return []  # DOM is already on it
    return [line for line in held_lines(state) if line.backordered and has_stock(line.sku, line.quantity)]


class BackorderJobRun(Value):
    """The job's log entry for one run (topic ``backorder.job-runs``)."""

    run_id: str
    started_at: datetime
    finished_at: datetime
    orders_examined: int
    lines_held: int
    rechecked: tuple[str, ...] = ()
    """Orders sent back to DOM, as ``<order id>: <line ids>``."""
    canceled: tuple[str, ...] = ()
    """Lines canceled past their SLA, as ``<order id>: <line ids>``."""
    waiting: int = 0
    """Held lines still without stock."""
    trigger: str = "schedule"


def describe(order_id: str, lines: Iterable[LineState]) -> str:
    return f"{order_id}: {', '.join(line.line_id for line in lines)}"
