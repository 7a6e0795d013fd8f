"""``oms what-if``, ``oms pause``/``oms resume``, and the error-queue side of ``oms reprocess``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from streams.adapters.control_feed import ControlFeed, publish_control
from streams.adapters.flow_files import FlowFileError
from streams.adapters.kafka_loop import Publisher
from streams.domain.control import PauseTarget, TargetKind, TargetPaused, TargetResumed
from streams.domain.error_queue import ErrorCategory, ErrorQuery, plan_reprocess
from streams.domain.what_if import WhatIfReport
from streams.entrypoints.output import err
from streams.entrypoints.running import connected
from streams.services.operations import read_error_queue, send_plans
from streams.services.what_if import NoOrders, Progress, load_draft, run_what_if
from streams.shell.commands import CommandFailed, with_settings
from streams.shell.settings import Settings

Time = Annotated[str, typer.Option(help="ISO 8601, e.g. 2026-12-01T08:00Z")]
Kind = Annotated[TargetKind, typer.Argument(help="what to pause: a flow (version) or a provider")]
Name = Annotated[str, typer.Argument(help="the flow's or the provider's name")]
FlowVersion = Annotated[int | None, typer.Option(min=1, help="one version of the flow (default: all)")]


def parse_time(text: str | None) -> datetime | None:
    """An ISO 8601 time (``Z`` allowed, UTC when no zone is given); a usage error otherwise."""
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO 8601 time: {text!r} (e.g. 2026-12-01T08:00Z)") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def register(app: typer.Typer) -> None:
    app.command(
        "what-if",
        help="Replay past orders through a draft flow and show what would have changed. Reads the "
        "event topics (nothing is written), replays the orders created in [--since, --until) "
        "through the published flows with the draft standing in for its flow, providers "
        "answering as they did (a stand-in where the draft asks something new), and prints a "
        "diff per changed order and a summary.",
    )(_what_if)
    app.command("pause", help="Pause a flow (version) or a provider: its requests wait at their step.")(
        _pause
    )
    app.command(
        "resume", help="Resume a paused flow or provider: held requests go out in the order they queued."
    )(_resume)


@dataclass(frozen=True)
class ErrorFilters:
    error_ids: list[str]
    category: ErrorCategory | None
    provider: str | None
    since: datetime | None


def reprocess_errors(settings: Settings, filters: ErrorFilters) -> int:
    """``oms reprocess --category ... --since ...``: the errors' reprocess, as the API does it."""
    c = connected(settings)
    queue = read_error_queue(c.settings, c.topics, c.codec)
    if filters.error_ids:
        ids = list(filters.error_ids)
    else:
        query = ErrorQuery(
            provider=filters.provider,
            category=filters.category,
            since=filters.since,
            state="open",
            limit=100_000,
        )
        ids = [q.record.error_id for q in queue.query(query)]
    if not ids:
        print("no open error matches: nothing to reprocess")
        return 0
    plans = plan_reprocess(queue, ids, datetime.now(UTC), "operator:cli")
    send_plans(Publisher(c.settings), c.codec, c.topics, plans)
    for plan in plans:
        print(f"{plan.error_id:<60} {plan.verdict.value:<18} {plan.message}")
    acted = sum(1 for p in plans if p.acts)
    print(f"{acted} of {len(plans)} errors reprocessed; `oms show ORDER_ID` shows what happens")
    return 0


def _progress() -> tuple[Progress | None, Callable[[], None]]:
    """A rich progress bar when rich is installed, else plain lines on stderr."""
    try:
        from rich.progress import Progress as Bar
    except ImportError:
        return (
            lambda phase, done, total: err(f"  {phase}: {done:,}") if done % 50_000 < 5000 else None
        ), lambda: None
    bar = Bar(transient=True)
    bar.start()
    tasks: dict[str, Any] = {}

    def update(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = bar.add_task(phase, total=total or None)
        bar.update(tasks[phase], completed=done)

    return update, bar.stop


@with_settings(Settings)
def _what_if(
    settings: Settings,
    flow: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="the draft flow file (YAML)")],
    since: Time,
    until: Annotated[str | None, typer.Option(help="orders created before (ISO 8601)")] = None,
    orders: Annotated[int | None, typer.Option(min=1, help="at most this many orders (the oldest)")] = None,
    show: Annotated[int, typer.Option(min=0, help="changed orders to print")] = 20,
) -> int:
    try:
        draft = load_draft(flow)
    except FlowFileError as exc:
        err(f"draft refused:\n{exc}")
        return 2
    start = parse_time(since)
    assert start is not None  # --since is required
    c = connected(settings)
    progress, done = _progress()
    try:
        run = run_what_if(
            c.settings,
            c.topics,
            c.codec,
            draft,
            start,
            parse_time(until),
            orders,
            c.transitions,
            progress,
        )
    except NoOrders as exc:
        raise CommandFailed(str(exc)) from exc
    finally:
        done()
    print(render(run.report, show))
    print(
        f"({len(run.report.orders):,} orders: read {run.read_seconds:.1f}s, "
        f"replayed {run.replay_seconds:.1f}s; nothing was written)"
    )
    return 0


def render(report: WhatIfReport, show: int) -> str:
    lines = [f"what-if: {report.draft}", ""]
    for order in report.changed[:show]:
        r, d = order.recorded, order.replayed
        lines.append(f"{order.order_id}: {'; '.join(order.changes)}")
        steps = dict(r.steps), dict(d.steps)
        for step in sorted(set(steps[0]) | set(steps[1])):
            before, after = steps[0].get(step, "-"), steps[1].get(step, "-")
            if before != after:
                lines.append(f"    step {step}: {before} -> {after}")
        if r.actions != d.actions:
            lines.append(f"    actions: {', '.join('/'.join(a) for a in r.actions) or '-'}")
            lines.append(f"          -> {', '.join('/'.join(a) for a in d.actions) or '-'}")
    if len(report.changed) > show:
        lines.append(f"... and {len(report.changed) - show} more changed orders (--show)")
    width = max((len(how) for how, _ in report.summary()), default=10)
    lines += ["", f"  {'how':<{width}}  orders"]
    lines += [f"  {how:<{width}}  {n:>6,}" for how, n in report.summary()]
    return "\n".join(lines)


@with_settings(Settings)
def _pause(
    settings: Settings,
    kind: Kind,
    name: Name,
    flow_version: FlowVersion = None,
    reason: Annotated[str, typer.Option(help="why (shown on the dashboard)")] = "",
) -> None:
    c = connected(settings)
    target = PauseTarget(kind=kind, name=name, flow_version=flow_version)
    if ControlFeed(c.settings, c.topics, c.codec).pauses.is_paused(target.key):
        print(f"{target.key} is paused already")
        return
    paused = TargetPaused(target=target, paused_at=datetime.now(UTC), by="operator:cli", reason=reason)
    publish_control(c.settings, c.topics, c.codec, paused)
    print(f"{target.key} paused: new requests wait at their step (`oms resume {kind.value} {name}`)")


@with_settings(Settings)
def _resume(settings: Settings, kind: Kind, name: Name, flow_version: FlowVersion = None) -> None:
    c = connected(settings)
    target = PauseTarget(kind=kind, name=name, flow_version=flow_version)
    if not ControlFeed(c.settings, c.topics, c.codec).pauses.is_paused(target.key):
        print(f"{target.key} is not paused: nothing to resume")
        return
    resumed = TargetResumed(target=target, resumed_at=datetime.now(UTC), by="operator:cli")
    publish_control(c.settings, c.topics, c.codec, resumed)
    print(f"{target.key} resumed: its held requests go out in the order they queued")
