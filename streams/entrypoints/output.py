"""Human-readable output shared by the CLI commands: summaries, states, timelines."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from streams.domain.events import Event
from streams.domain.order import LineState, OrderState


def err(line: str) -> None:
    """Progress and diagnostics go to stderr, so stdout stays parseable."""
    print(line, file=sys.stderr, flush=True)


class Counted(Protocol):
    """What long work reports as it goes (``streams.services.replay.Progress`` and alike)."""

    @property
    def events(self) -> int: ...
    @property
    def orders(self) -> int: ...
    @property
    def rate(self) -> float: ...


@contextmanager
def live_counter(label: str, *, quiet: bool = False) -> Iterator[Callable[[Counted], None]]:
    """A live line on stderr while long work runs (events, orders, rate, time); the
    callback it yields takes the work's progress reports."""
    if quiet:
        yield lambda p: None
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(f"{label}: starting")

        def update(p: Counted) -> None:
            orders = f", {p.orders:,} orders" if p.orders else ""
            bar.update(task, description=f"{label} {p.events:,} events{orders} ({p.rate:,.0f} events/s)")

        yield update


def status_summary(counts: Counter[tuple[str, str]]) -> str:
    if not counts:
        return "  (no orders)"
    width = max(len(f"{s} / {r}") for s, r in counts)
    rows = [f"  {f'{s} / {r}':<{width}}  {n:>8,}" for (s, r), n in sorted(counts.items())]
    rows.append(f"  {'total':<{width}}  {sum(counts.values()):>8,}")
    return "\n".join(rows)


def order_state(state: OrderState) -> str:
    refs = ", ".join(f"{r.system}={r.ref}" for r in state.external_refs) or "-"
    provider = f"{state.fulfillment_provider or '-'} {state.provider_order_id or ''}".rstrip()
    lines = [
        f"order {state.order_id}  (version {state.version}, channel {state.channel})",
        f"  status:           {state.status} / {state.status_reason}",
        f"  company:          {state.company or '-'}",
        f"  invoice customer: {state.invoice_customer or '-'}",
        f"  fulfillment:      {provider}",
        f"  external refs:    {refs}",
    ]
    if state.validation_errors:
        lines.append(f"  validation:       {'; '.join(state.validation_errors)}")
    lines += _origin(state)
    lines.append("  lines:")
    for line in state.lines:
        lines.append(
            f"    {line.line_id:>3} {line.sku:<14} x{line.quantity:<3} {line.unit_price:>9}  "
            f"site {line.site or '-':<3} warehouse {line.warehouse or '-':<4} "
            f"{state.line_status(line)} / {state.line_status_reason(line)}{_dates(line)}"
        )
    for r in state.returns:
        units = ", ".join(f"{x.line_id} x{x.quantity}" for x in r.lines)
        extra = f", replacement {r.replacement_order_id}" if r.replacement_order_id else ""
        credit = f", credit note {r.credit_note_id}" if r.credit_note_id else ""
        lines.append(f"  return {r.rma_id}: {r.status.value} ({units}; {r.reason}{credit}{extra})")
    return "\n".join(lines)


def _origin(state: OrderState) -> list[str]:
    """Where a manual order, a clone or a replacement came from."""
    said = [
        f"{name} {value}"
        for name, value in (
            ("sales origin", state.sales_origin),
            ("customer reference", state.customer_reference),
            ("cloned from", state.cloned_from),
            ("replacement for", state.replacement_for),
        )
        if value
    ]
    if state.is_manual or said:
        how = "manually" if state.is_manual else "by a channel"
        return [f"  entered:          {how}; {', '.join(said) or '-'}"]
    return []


def _dates(line: LineState) -> str:
    """ATP and preorder dates of a line, when it has any."""
    parts = []
    if line.preorder_until:
        parts.append(f"launch {line.preorder_until}")
    if line.inventory_availability_date:
        parts.append(f"available {line.inventory_availability_date}")
    if line.estimated_ship_date:
        parts.append(f"ships {line.estimated_ship_date}")
    return f"  ({', '.join(parts)})" if parts else ""


_DETAIL_FIELDS = (
    "step",
    "result",
    "action",
    "policy",
    "provider",
    "reasons",
    "reason",
    "invoice_id",
    "tracking_number",
    "channel_status",
    "source",
    "line_ids",
    "cause",
    "company",
    "flow",
    "rma_id",
    "editor",
    "requested_by",
    "replacement_order_id",
    "credit_note_id",
)


def _detail(event: Event) -> str:
    """The one or two payload fields that tell this event apart from its siblings."""
    parts = []
    for name in _DETAIL_FIELDS:
        value = getattr(event, name, None)
        if value:
            shown = "; ".join(value) if isinstance(value, tuple) else value
            parts.append(f"{name}={shown}")
    return ", ".join(parts[:3])


def timeline(events: Iterable[tuple[str, Event]]) -> str:
    rows = []
    for topic, event in events:
        env = event.envelope
        rows.append(
            f"  {env.seq:>3}  {env.occurred_at:%H:%M:%S.%f}"[:-3]
            + f"  {topic:<26} {f'{env.status} / {env.status_reason}':<42} {_detail(event)}".rstrip()
        )
    return "\n".join(rows) if rows else "  (no events)"
