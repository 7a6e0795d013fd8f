"""Line statuses, and the header that follows them. Pure.

Most orders move as a whole: their lines follow the header (``LineState.status`` is
``None``) and the transition table moves the header. Journey 6 breaks that: DOM may find
no stock for some lines, which then wait in *Backorder hold* while the others go to F&O,
are picked, packed and invoiced. From the first line that moves on its own, the order is
tracked line by line, as IOM's "raise lines and aggregated order events" flows do:

* an order-level event (``Order picked``...) moves every line the table lets it move,
  except lines parked in Backorder hold (only a cancel reaches those); provider
  fulfillment events reach only the lines that were synced to the provider, if any were;
* a line-level event (backordered, released, lines canceled) moves the lines it names;
* the header moves when all its open (not canceled) lines agree on a status; when they
  disagree it stays where it is, except that it never stays *On hold* while some line
  that is not parked is working: then it follows the working lines.

Every such event records the statuses it produced, so a replay never consults the table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from streams.domain.errors import IllegalTransition
from streams.domain.order import LineState, OrderState
from streams.domain.transitions import CANCELED, ON_HOLD, TransitionTable
from streams.domain.values import LineStatusChange

PROVIDER_FULFILLMENT_EVENTS = frozenset({"Order picked", "Order shipped", "Order invoiced"})
"""What a provider reports about the lines it was sent, not about lines it never saw."""

ORDER_CANCELED = "Order canceled"


@dataclass
class LineOutcome:
    header: tuple[str, str]
    changes: list[LineStatusChange] = field(default_factory=list)


def _candidates(state: OrderState, business_event: str, only: Iterable[str] | None) -> list[LineState]:
    if only is not None:
        wanted = set(only)
        return [line for line in state.lines if line.line_id in wanted]
    lines = [line for line in state.lines if business_event == ORDER_CANCELED or not line.parked]
    if business_event in PROVIDER_FULFILLMENT_EVENTS and any(line.synced for line in lines):
        lines = [line for line in lines if line.synced]
    return lines


def apply_to_lines(
    state: OrderState,
    business_event: str,
    table: TransitionTable,
    event_reason: str | None = None,
    only: Iterable[str] | None = None,
    parks: bool = False,
    unparks: bool = False,
) -> LineOutcome:
    """The line statuses ``business_event`` produces, and the header's after it.

    ``only`` names the lines of a line-level event (lines the table does not let it move
    are left alone, and an empty outcome means nothing to do). Without ``only`` it is an
    order-level event: if the table governs it and no line may take it, it is refused.
    ``parks``/``unparks`` say whether the moved lines enter or leave Backorder hold.
    """
    changes: list[LineStatusChange] = []
    for line in _candidates(state, business_event, only):
        status, reason = state.line_status(line), state.line_status_reason(line)
        if status == CANCELED or not table.allows(business_event, status):
            continue
        target, target_reason = table.apply(state.order_id, business_event, status, reason, event_reason)
        changes.append(LineStatusChange(line_id=line.line_id, status=target, status_reason=target_reason))
    if not changes and only is None and table.has_rows(business_event):
        raise IllegalTransition(state.order_id, business_event, _describe(state))
    by_id = {c.line_id: c for c in changes}
    after: list[tuple[LineStatusChange, bool]] = []
    for line in state.lines:
        change = by_id.get(line.line_id)
        if change is None:
            unchanged = LineStatusChange(
                line_id=line.line_id,
                status=state.line_status(line),
                status_reason=state.line_status_reason(line),
            )
            after.append((unchanged, line.parked))
        else:
            after.append((change, parks or (line.parked and not unparks)))
    return LineOutcome(header=_header(state, after, changes), changes=changes)


def _describe(state: OrderState) -> str:
    """The status an illegal order-level event met: the header's, and the lines' if they differ."""
    statuses = sorted({state.line_status(line) for line in state.lines})
    if statuses == [state.status]:
        return state.status
    return f"{state.status}; lines: {', '.join(statuses)}"


def _reason(
    pairs: list[LineStatusChange], status: str, changes: list[LineStatusChange], fallback: str
) -> str:
    reasons = sorted({p.status_reason for p in pairs if p.status == status})
    if len(reasons) == 1:
        return reasons[0]
    moved = sorted({c.status_reason for c in changes if c.status == status})
    if len(moved) == 1:
        return moved[0]
    return fallback if fallback in reasons else reasons[0]


def _header(
    state: OrderState, after: list[tuple[LineStatusChange, bool]], changes: list[LineStatusChange]
) -> tuple[str, str]:
    lines = [change for change, _ in after]
    open_lines = [c for c in lines if c.status != CANCELED]
    if not open_lines:
        return CANCELED, _reason(lines, CANCELED, changes, state.status_reason)
    statuses = {c.status for c in open_lines}
    if len(statuses) == 1:
        (status,) = statuses
        fallback = state.status_reason if state.status == status else ""
        return status, _reason(open_lines, status, changes, fallback)
    if state.status == ON_HOLD:
        working = [c for c, parked in after if c.status != CANCELED and not parked]
        if working and len({c.status for c in working}) == 1:
            status = working[0].status
            return status, _reason(working, status, changes, "")
    return state.status, state.status_reason


def header_of(state: OrderState, lines: Iterable[LineState]) -> tuple[str, str]:
    """The header ``lines`` imply, as they are (e.g. once an edit removed some)."""
    after = [
        (
            LineStatusChange(
                line_id=x.line_id, status=state.line_status(x), status_reason=state.line_status_reason(x)
            ),
            x.parked,
        )
        for x in lines
    ]
    return _header(state, after, [])
