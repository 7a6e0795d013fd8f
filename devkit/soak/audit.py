"""What a soak must find at the end, and the table that says whether it did.

Pure: :func:`facts_of` reduces one order's folded state and history to what the audit
checks, and :func:`build_table` turns the evidence (gathered by ``devkit.soak.evidence``
from the event topics and the simulators' ``/_sim`` state) into rows, each with its
requirement and verdict. ``render_text`` and ``render_markdown`` print it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from streams.domain.events import (
    Event,
    FulfillmentPicked,
    OrderCreated,
    OrderInvoiced,
    OrderSentToBilling,
    OrderSentToFulfillment,
    OrderShipped,
    ProviderActionRequested,
)
from streams.domain.flows import runs_on_terminal
from streams.domain.order import OrderState

TERMINAL = frozenset({"Completed", "Canceled"})
EXPECTED_STATE: Mapping[int, tuple[str, str]] = {
    **dict.fromkeys(range(2, 7), ("Completed", "Fulfilled")),
    1: ("Completed", "Done"),  # the brief's words for journey 1 (its flow's status_reasons)
}
"""Journey -> the status and reason every one of its orders ends in (docs/journeys.md)."""
TITLES: Mapping[int, str] = {
    1: "BigCommerce > F&O > F&O",
    2: "BigCommerce > Flexe > F&O",
    3: "F&O > Flexe > F&O",
    4: "F&O > F&O > F&O",
    5: "F&O > Flexe > SAP",
    6: "BigCommerce > DOM > F&O > F&O",
}
Milestone = tuple[str, str | None]
"""An event type name, and the provider it names (None: none)."""
_MILESTONE_TYPES = (
    OrderCreated,
    OrderSentToFulfillment,
    OrderSentToBilling,
    FulfillmentPicked,
    OrderShipped,
    OrderInvoiced,
)
MILESTONES: Mapping[int, tuple[Milestone, ...]] = {
    1: (
        ("OrderCreated", None),
        ("OrderSentToFulfillment", "fno"),
        ("FulfillmentPicked", "fno"),
        ("OrderShipped", "fno"),
        ("OrderInvoiced", "fno"),
    ),
    2: (
        ("OrderCreated", None),
        ("OrderSentToFulfillment", "flexe"),
        ("OrderShipped", "flexe"),
        ("OrderSentToBilling", "fno"),
        ("OrderInvoiced", "fno"),
    ),
    3: (
        ("OrderCreated", None),
        ("OrderSentToFulfillment", "flexe"),
        ("OrderShipped", "flexe"),
        ("OrderSentToBilling", "fno"),
        ("OrderInvoiced", "fno"),
    ),
    4: (("OrderCreated", None), ("OrderShipped", "fno"), ("OrderInvoiced", "fno")),
    5: (
        ("OrderCreated", None),
        ("OrderSentToFulfillment", "flexe"),
        ("OrderShipped", "flexe"),
        ("OrderSentToBilling", "sap"),
        ("OrderInvoiced", "sap"),
    ),
    6: (
        ("OrderCreated", None),
        ("OrderSentToBilling", "fno"),
        ("FulfillmentPicked", "fno"),
        ("OrderShipped", "fno"),
        ("OrderInvoiced", "fno"),
    ),
}
"""Journey -> the history as the journey reads: each of these once, in this order."""
COPIES: Mapping[int, tuple[str, ...]] = {
    1: ("fno",),
    2: ("flexe", "fno"),
    3: ("flexe",),
    4: (),
    5: ("flexe", "sap"),
    6: ("fno",),
}
"""Journey -> the providers where our connectors create the order (one copy each)."""
PROVIDER_TITLES = {"fno": "F&O sales orders", "flexe": "Flexe outbound orders", "sap": "SAP sales orders"}


@dataclass(frozen=True)
class OrderFacts:
    """One order as the audit sees it, from its folded state and its history."""

    order_id: str
    status: str
    reason: str
    open_steps: tuple[str, ...] = ()
    """Steps waiting for an action, or whose latest result is ``retrying``."""
    timers: int = 0
    """Pending actions: each has a deadline the writer's timer watches."""
    stale_requests: int = 0
    """Actions requested after the order became terminal, for steps already requested before."""
    milestones: tuple[Milestone, ...] = ()
    event_types: frozenset[str] = frozenset()

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


def facts_of(state: OrderState, timeline: Sequence[Event]) -> OrderFacts:
    """``timeline`` is the order's history in seq order (what ``state`` folded)."""
    open_steps = {p.step for p in state.pending_actions}
    open_steps |= {step for step, outcome in state.steps.items() if outcome.result == "retrying"}
    requested: set[str] = set()
    stale = 0
    terminal = False
    milestones: list[Milestone] = []
    for event in timeline:
        if isinstance(event, ProviderActionRequested):
            # A notification (BigCommerce told of the shipment) still runs, and is retried,
            # on a terminal order, as does an open return's step: not stale (the domain's rule).
            if terminal and event.step in requested and not runs_on_terminal(state, event.step, event.action):
                stale += 1
            requested.add(event.step)
        if isinstance(event, _MILESTONE_TYPES):
            milestones.append((type(event).__name__, getattr(event, "provider", None)))
        terminal = terminal or event.envelope.status in TERMINAL
    return OrderFacts(
        order_id=state.order_id,
        status=state.status,
        reason=state.status_reason,
        open_steps=tuple(sorted(open_steps)),
        timers=len(state.pending_actions),
        stale_requests=stale,
        milestones=tuple(milestones),
        event_types=frozenset(type(e).__name__ for e in timeline),
    )


def settled_as_expected(state: OrderState | None, journey: int) -> bool:
    """In the journey's terminal state with nothing left open: what convergence waits for."""
    if state is None or (state.status, state.status_reason) != EXPECTED_STATE[journey]:
        return False
    return not state.pending_actions and all(o.result != "retrying" for o in state.steps.values())


@dataclass(frozen=True)
class Webhook:
    """One outbound event of a simulator (all its copies), and what it should have caused."""

    provider: str
    event_id: str
    order_id: str | None
    """Our order it is about (None: not one we can name)."""
    effect: str | None
    """The event type it must leave in that order's history (None: nothing expected)."""
    delivered: bool
    """At least one copy was answered 2xx by the connector."""
    copies: int = 1
    resent: bool = False
    """Parked after its retries and sent again by the operator (the vendor's error list)."""


@dataclass(frozen=True)
class DeadLetter:
    key: str
    topic: str
    reason: str


@dataclass
class Evidence:
    journeys: dict[str, int]
    """Order id -> journey: every order the driver created at a provider."""
    facts: dict[str, OrderFacts]
    gaps: dict[str, list[int]] = field(default_factory=dict)
    """Order id -> seqs read whose predecessor never came."""
    seq_conflicts: dict[str, list[int]] = field(default_factory=dict)
    """Order id -> seqs carried by more than one distinct event."""
    repeats: int = 0
    """Records read twice (the same event id): harmless, folded once."""
    copies: dict[str, dict[str, int]] = field(default_factory=dict)
    """Provider -> order id -> how many provider orders name it."""
    webhooks: list[Webhook] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    poison: set[str] = field(default_factory=set)
    """Keys of the undecodable records the soak injected."""
    rejections: Counter[str] = field(default_factory=Counter)
    """Why the writer refused commands (reason -> count); for information."""
    convergence: float | None = None
    """Seconds from the last fault until every order settled (None: it never did)."""
    waited: float = 0.0
    """How long the soak waited for convergence after the last fault."""
    wedged: list[str] = field(default_factory=list)
    """Processes found alive but stuck (a backlog, nothing committed), restarted by the probe."""
    api_agrees: tuple[int, int] | None = None
    """(orders the read-side API shows as the topics do, orders asked); None: not asked."""
    info: list[tuple[str, str]] = field(default_factory=list)
    """Rows without a requirement: kills, faults fired, exits..."""


@dataclass(frozen=True)
class Row:
    check: str
    value: str
    required: str = ""
    ok: bool | None = None
    """None: for information."""


@dataclass(frozen=True)
class AuditTable:
    rows: tuple[Row, ...]

    @property
    def passed(self) -> bool:
        return all(row.ok is not False for row in self.rows)

    def failures(self) -> list[Row]:
        return [row for row in self.rows if row.ok is False]


def build_table(ev: Evidence) -> AuditTable:
    rows = [
        *_terminal_rows(ev),
        _journey_order_row(ev),
        _count_row("orders with a seq gap", len(ev.gaps), sum(len(s) for s in ev.gaps.values()), "seqs held"),
        _count_row(
            "duplicate seqs (two events, one seq)",
            len(ev.seq_conflicts),
            sum(len(s) for s in ev.seq_conflicts.values()),
            "seqs",
        ),
        *_terminal_order_rows(ev),
        *_copy_rows(ev),
        _webhook_row(ev),
        _dead_letter_row(ev),
        _convergence_row(ev),
        _wedged_row(ev.wedged),
        *_api_rows(ev),
        Row("records read twice (same event id)", str(ev.repeats)),
        _rejection_row(ev.rejections),
        *(Row(check, value) for check, value in ev.info),
    ]
    return AuditTable(tuple(rows))


def _percent(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100.0 * part / whole:.1f}%)" if whole else "0/0"


def _terminal_rows(ev: Evidence) -> list[Row]:
    """One row per journey; the value names where the other orders stand."""
    rows = []
    for journey, title in TITLES.items():
        ids = [o for o, j in ev.journeys.items() if j == journey]
        if not ids:
            continue
        want = EXPECTED_STATE[journey]
        seen = Counter(_where(ev.facts.get(o)) for o in ids)
        done = seen.pop(want, 0)
        value = _percent(done, len(ids))
        if seen:
            value += "; " + ", ".join(
                f"{n} {s} / {r}" if r else f"{n} {s}" for (s, r), n in seen.most_common(2)
            )
        rows.append(Row(f"J{journey} {title}: {want[0]} / {want[1]}", value, "100%", done == len(ids)))
    return rows


def _where(facts: OrderFacts | None) -> tuple[str, str]:
    return ("not in IOM", "") if facts is None else (facts.status, facts.reason)


def _journey_order_row(ev: Evidence) -> Row:
    good = sum(
        1
        for o, j in ev.journeys.items()
        if (f := ev.facts.get(o)) is not None and f.milestones == MILESTONES[j]
    )
    return Row(
        "histories as the journey reads (each milestone once, in order)",
        _percent(good, len(ev.journeys)),
        "100%",
        good == len(ev.journeys),
    )


def _count_row(check: str, orders: int, items: int, unit: str) -> Row:
    value = f"{orders} orders ({items} {unit})" if orders else "0"
    return Row(check, value, "0", orders == 0)


def _terminal_order_rows(ev: Evidence) -> list[Row]:
    terminal = [f for o in ev.journeys if (f := ev.facts.get(o)) is not None and f.terminal]
    open_steps = Counter(step for f in terminal for step in f.open_steps)
    with_open = sum(1 for f in terminal if f.open_steps)
    steps = ", ".join(f"{step} x{n}" for step, n in open_steps.most_common(3))
    timers = [f for f in terminal if f.timers]
    stale = [f for f in terminal if f.stale_requests]
    return [
        Row(
            "open steps on terminal orders",
            f"{with_open} orders ({steps})" if with_open else "0",
            "0",
            with_open == 0,
        ),
        _count_row("live timers on terminal orders", len(timers), sum(f.timers for f in timers), "timers"),
        _count_row(
            "actions requested again after completion",
            len(stale),
            sum(f.stale_requests for f in stale),
            "requests",
        ),
    ]


def _copy_rows(ev: Evidence) -> list[Row]:
    rows = []
    for provider, title in PROVIDER_TITLES.items():
        held = ev.copies.get(provider, {})
        expected = [o for o, j in ev.journeys.items() if provider in COPIES[j]]
        counts = Counter(min(held.get(o, 0), 2) for o in expected)
        stray = sum(
            1 for o, n in held.items() if n and o in ev.journeys and provider not in COPIES[ev.journeys[o]]
        )
        ok = counts[1] == len(expected) and stray == 0
        value = f"{counts[1]}/{len(expected)} exactly 1; {counts[0]} none, {counts[2]} more than 1"
        if stray:
            value += f", {stray} orders that should have none"
        rows.append(Row(f"provider copies per order: {title}", value, "exactly 1", ok))
    return rows


def lost_webhooks(ev: Evidence) -> list[Webhook]:
    """Webhooks that should have changed one of our orders and did not (or never got through)."""
    lost = []
    for hook in ev.webhooks:
        if hook.effect is None:
            continue
        facts = ev.facts.get(hook.order_id) if hook.order_id is not None else None
        if hook.order_id is not None and hook.order_id not in ev.journeys:
            continue
        if not hook.delivered or facts is None or hook.effect not in facts.event_types:
            lost.append(hook)
    return lost


def _webhook_row(ev: Evidence) -> Row:
    lost = lost_webhooks(ev)
    counted = [h for h in ev.webhooks if h.effect is not None]
    doubled = sum(1 for h in counted if h.copies > 1)
    resent = sum(1 for h in counted if h.resent)
    by = Counter(h.provider for h in lost)
    value = f"{len(lost)} of {len(counted)}"
    if lost:
        value += " (" + ", ".join(f"{p} {n}" for p, n in sorted(by.items())) + ")"
    value += f"; {doubled} delivered twice, {resent} parked and resent"
    return Row("webhooks lost", value, "0", not lost)


def _dead_letter_row(ev: Evidence) -> Row:
    injected = sum(1 for d in ev.dead_letters if d.key in ev.poison)
    other = [d for d in ev.dead_letters if d.key not in ev.poison]
    missing = len(ev.poison) - len({d.key for d in ev.dead_letters if d.key in ev.poison})
    value = f"{len(ev.dead_letters)} ({injected} injected poison"
    value += f", {len(other)} other: {other[0].reason[:60]}" if other else ""
    value += f", {missing} poison records not dead-lettered)" if missing else ")"
    return Row(
        "records on the dead-letter topic", value, "only the injected poison", not other and not missing
    )


def _convergence_row(ev: Evidence) -> Row:
    if ev.convergence is None:
        return Row(
            "time from the last fault to convergence",
            f"not converged within {ev.waited:.0f}s",
            "converges",
            False,
        )
    return Row("time from the last fault to convergence", f"{ev.convergence:.1f}s", "converges", True)


def _wedged_row(wedged: Sequence[str]) -> Row:
    value = (
        f"{len(wedged)} ({', '.join(f'{p} x{n}' for p, n in sorted(Counter(wedged).items()))})"
        if wedged
        else "0"
    )
    return Row("processes wedged (a backlog, no progress: restarted)", value, "0", not wedged)


def _api_rows(ev: Evidence) -> list[Row]:
    if ev.api_agrees is None:
        return []
    same, asked = ev.api_agrees
    return [Row("read-side API shows what the topics say", _percent(same, asked), "100%", same == asked)]


def _rejection_row(rejections: Counter[str]) -> Row:
    if not rejections:
        return Row("commands rejected by the writer", "0")
    top = "; ".join(f"{n} x {reason[:70]}" for reason, n in rejections.most_common(3))
    return Row("commands rejected by the writer", f"{sum(rejections.values())}: {top}")


def _verdict(row: Row) -> str:
    return "" if row.ok is None else ("ok" if row.ok else "FAIL")


def render_text(table: AuditTable) -> str:
    widths = [max(len(getattr(r, name)) for r in table.rows) for name in ("check", "value", "required")]
    widths = [min(w, 70) for w in widths]
    lines = []
    for row in table.rows:
        cells = (row.check.ljust(widths[0]), row.value.ljust(widths[1]), row.required.ljust(widths[2]))
        lines.append("  ".join(cells) + "  " + _verdict(row))
    lines.append("PASSED" if table.passed else f"FAILED: {len(table.failures())} checks")
    return "\n".join(line.rstrip() for line in lines)


def render_markdown(table: AuditTable) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| check | result | required | verdict |", "| --- | --- | --- | --- |"]
    lines += [
        f"| {cell(r.check)} | {cell(r.value)} | {cell(r.required)} | {_verdict(r) or '-'} |"
        for r in table.rows
    ]
    return "\n".join(lines)


def journeys_of(ids: Mapping[int, Iterable[str]]) -> dict[str, int]:
    """``{journey: [order ids]}`` (what the driver returns) as order id -> journey."""
    return {order_id: journey for journey, order_ids in ids.items() for order_id in order_ids}


def examples(ev: Evidence, limit: int = 10) -> dict[str, list[str]]:
    """Failing check -> up to ``limit`` of the orders (or webhooks) behind it: where to look."""
    facts = {o: ev.facts.get(o) for o in ev.journeys}
    terminal = {o: f for o, f in facts.items() if f is not None and f.terminal}
    found: dict[str, list[str]] = {
        "not in the journey's terminal state": [
            f"{o} (J{ev.journeys[o]}: {_where(f)[0]} / {_where(f)[1]})"
            for o, f in facts.items()
            if f is None or (f.status, f.reason) != EXPECTED_STATE[ev.journeys[o]]
        ],
        "history not as the journey reads": [
            f"{o} (J{ev.journeys[o]}: {' > '.join(t for t, _ in f.milestones)})"
            for o, f in facts.items()
            if f is not None and f.milestones != MILESTONES[ev.journeys[o]]
        ],
        "open steps on terminal orders": [
            f"{o} ({', '.join(f.open_steps)})" for o, f in terminal.items() if f.open_steps
        ],
        "actions requested again after completion": [
            f"{o} ({f.stale_requests})" for o, f in terminal.items() if f.stale_requests
        ],
        "seq gaps": [f"{o} (held {seqs})" for o, seqs in ev.gaps.items()],
        "duplicate seqs": [f"{o} (seqs {seqs})" for o, seqs in ev.seq_conflicts.items()],
        "webhooks lost": [
            f"{h.provider} {h.event_id} -> {h.order_id} ({h.effect})" for h in lost_webhooks(ev)
        ],
    }
    for provider, title in PROVIDER_TITLES.items():
        held = ev.copies.get(provider, {})
        found[f"{title}: not exactly 1"] = [
            f"{o} ({held.get(o, 0)})"
            for o, j in ev.journeys.items()
            if provider in COPIES[j] and held.get(o, 0) != 1
        ]
    return {check: items[:limit] for check, items in found.items() if items}


def render_examples(found: Mapping[str, Sequence[str]]) -> str:
    if not found:
        return "nothing to show: every order as expected"
    return "\n".join(
        f"{check}:\n" + "\n".join(f"  {item}" for item in items) for check, items in found.items()
    )
