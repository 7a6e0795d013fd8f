"""``oms what-if``, ``oms pause``/``oms resume``, and the error-queue side of ``oms reprocess``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from streams.adapters.control_feed import ControlFeed, publish_control
from streams.adapters.flow_files import FlowFileError
from streams.adapters.kafka_loop import Publisher
from streams.bootstrap import bootstrap
from streams.domain.control import PauseTarget, TargetKind, TargetPaused, TargetResumed
from streams.domain.error_queue import ErrorCategory, ErrorQuery, plan_reprocess
from streams.domain.what_if import WhatIfReport
from streams.entrypoints.output import err
from streams.services.operations import read_error_queue, send_plans
from streams.services.what_if import NoOrders, Progress, load_draft, run_what_if


def _time(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r} (e.g. 2026-12-01T08:00Z)") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def register(sub: Any) -> None:
    what = sub.add_parser(
        "what-if",
        help="replay past orders through a draft flow and show what would have changed",
        description="Reads the event topics (nothing is written), replays the orders created "
        "in [--since, --until) through the published flows with the draft standing in for its "
        "flow, providers answering as they did (a stand-in where the draft asks something "
        "new), and prints a diff per changed order and a summary.",
    )
    what.add_argument("--flow", type=Path, required=True, help="the draft flow file (YAML)")
    what.add_argument("--since", type=_time, required=True, help="orders created at or after (ISO 8601)")
    what.add_argument("--until", type=_time, help="orders created before (ISO 8601)")
    what.add_argument("--orders", type=int, help="at most this many orders (the oldest)")
    what.add_argument("--show", type=int, default=20, help="changed orders to print (default 20)")
    what.set_defaults(run=_what_if)
    for name, verb in (("pause", "pause"), ("resume", "resume")):
        p = sub.add_parser(
            name, help=f"{verb} a flow (version) or a provider: held requests wait at their step"
        )
        p.add_argument("kind", choices=[k.value for k in TargetKind])
        p.add_argument("name", help="the flow's or the provider's name")
        p.add_argument("--flow-version", type=int, help="one version of the flow (default: all)")
        if name == "pause":
            p.add_argument("--reason", default="", help="why (shown on the dashboard)")
        p.set_defaults(run=_pause if name == "pause" else _resume)


def add_reprocess_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--error", action="append", dest="error_ids", help="an error id (repeatable)")
    parser.add_argument(
        "--category", choices=[c.value for c in ErrorCategory], help="every open error of a queue"
    )
    parser.add_argument("--provider", help="every open error of a provider")
    parser.add_argument("--since", type=_time, help="open errors at or after this time (ISO 8601)")


def reprocess_errors(args: argparse.Namespace) -> int:
    """``oms reprocess --category ... --since ...``: the errors' reprocess, as the API does it."""
    c = bootstrap()
    queue = read_error_queue(c.settings, c.topics, c.codec)
    if args.error_ids:
        ids = list(args.error_ids)
    else:
        category = ErrorCategory(args.category) if args.category else None
        query = ErrorQuery(
            provider=args.provider, category=category, since=args.since, state="open", limit=100_000
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


def _what_if(args: argparse.Namespace) -> int:
    try:
        draft = load_draft(args.flow)
    except FlowFileError as exc:
        err(f"draft refused:\n{exc}")
        return 2
    c = bootstrap()
    progress, done = _progress()
    try:
        run = run_what_if(
            c.settings, c.topics, c.codec, draft, args.since, args.until, args.orders, c.transitions, progress
        )
    except NoOrders as exc:
        print(exc)
        return 1
    finally:
        done()
    print(render(run.report, args.show))
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


def _target(args: argparse.Namespace) -> PauseTarget:
    return PauseTarget(kind=args.kind, name=args.name, flow_version=args.flow_version)


def _pause(args: argparse.Namespace) -> int:
    c = bootstrap()
    target = _target(args)
    if ControlFeed(c.settings, c.topics, c.codec).pauses.is_paused(target.key):
        print(f"{target.key} is paused already")
        return 0
    publish_control(
        c.settings,
        c.topics,
        c.codec,
        TargetPaused(target=target, paused_at=datetime.now(UTC), by="operator:cli", reason=args.reason),
    )
    print(f"{target.key} paused: new requests wait at their step (`oms resume {args.kind} {args.name}`)")
    return 0


def _resume(args: argparse.Namespace) -> int:
    c = bootstrap()
    target = _target(args)
    if not ControlFeed(c.settings, c.topics, c.codec).pauses.is_paused(target.key):
        print(f"{target.key} is not paused: nothing to resume")
        return 0
    publish_control(
        c.settings,
        c.topics,
        c.codec,
        TargetResumed(target=target, resumed_at=datetime.now(UTC), by="operator:cli"),
    )
    print(f"{target.key} resumed: its held requests go out in the order they queued")
    return 0
