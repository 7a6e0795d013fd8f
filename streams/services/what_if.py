"""``oms what-if`` and ``POST /what-if``: recorded orders through a draft flow.

Reads every event topic to its end (read-only: nothing is produced anywhere), keeps the
histories of the orders created in [since, until) (the first ``orders`` of them), and
replays them with the pure core (``domain.what_if``) against the published flows, the
draft standing in for its name.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from pathlib import Path
from typing import Any

from streams.adapters.avro import AvroCodec
from streams.adapters.flow_definitions import read_published
from streams.adapters.flow_files import SHARED_POLICIES, FlowFileError, load_flow, load_policies
from streams.adapters.http import bodies
from streams.adapters.kafka_loop import CATCH_UP, KafkaLoop, models
from streams.adapters.topics import TopicRegistry
from streams.domain.events import Event, OrderCreated
from streams.domain.flows import Flow
from streams.domain.history import SeqMerge
from streams.domain.transitions import DEFAULT_TRANSITIONS, TransitionTable
from streams.domain.what_if import OrderSummary, WhatIfReport, what_if
from streams.services.gc_pause import gc_paused
from streams.settings import REPO_ROOT, Settings

Progress = Callable[[str, int, int], None]
"""(phase, done, total or 0) for a progress bar."""


class NoOrders(LookupError):
    """The range holds no order: the replay says so instead of an empty table."""


def load_draft(path: Path, flows_dir: Path = REPO_ROOT / "flows") -> Flow:
    """A draft flow file, with the shared policies; raises ``FlowFileError`` (file:line: field)."""
    return load_flow(path, load_policies(flows_dir / SHARED_POLICIES))


def load_draft_text(text: str, flows_dir: Path = REPO_ROOT / "flows") -> Flow:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "draft.yaml"
        path.write_text(text)
        try:
            return load_draft(path, flows_dir)
        except FlowFileError as exc:
            raise FlowFileError(str(exc).replace(str(path), "draft.yaml")) from exc


def recorded_histories(
    settings: Settings,
    topics: TopicRegistry,
    codec: AvroCodec,
    since: datetime,
    until: datetime | None = None,
    limit: int | None = None,
    progress: Progress | None = None,
) -> list[list[Event]]:
    """The complete histories of the orders created in [since, until), oldest first: each
    merged by seq (the one merge), an order with a gap left out."""
    merge: SeqMerge[Event, Collected] = SeqMerge(Collected.add, attrgetter("order_id"))
    created: dict[str, datetime] = {}
    start = {(t, p): 0 for t in topics.event_topics() for p in range(topics.partitions)}
    read = 0
    loop = KafkaLoop(settings, models(codec, Event), consumer=CATCH_UP, batch_size=5000, name="what-if")
    try:
        with gc_paused():
            for batch in loop.read_to_end(start):
                for event in batch.records:
                    if isinstance(event, OrderCreated):
                        created[event.envelope.order_id] = event.envelope.occurred_at
                    merge.add(event)
                read += len(batch.records) + len(batch.rejects)
                if progress is not None:
                    progress("reading events", read, 0)
    finally:
        loop.close()
    chosen = sorted((at, oid) for oid, at in created.items() if at >= since and (until is None or at < until))
    if limit is not None:
        chosen = chosen[:limit]
    gaps = merge.held_orders()
    return [merge.states[oid].events for _, oid in chosen if oid in merge.states and oid not in gaps]


class Collected:
    """An order's history as the merge releases it, in seq order (no fold: the what-if
    replays it against the draft)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    @property
    def version(self) -> int:
        return len(self.events)

    @staticmethod
    def add(state: Collected | None, event: Event) -> Collected:
        state = state or Collected()
        state.events.append(event)
        return state


@dataclass
class WhatIfRun:
    report: WhatIfReport
    read_seconds: float
    replay_seconds: float


def run_what_if(
    settings: Settings,
    topics: TopicRegistry,
    codec: AvroCodec,
    draft: Flow,
    since: datetime,
    until: datetime | None = None,
    limit: int | None = None,
    table: TransitionTable = DEFAULT_TRANSITIONS,
    progress: Progress | None = None,
) -> WhatIfRun:
    began = time.monotonic()
    histories = recorded_histories(settings, topics, codec, since, until, limit, progress)
    if not histories:
        span = f"from {since.isoformat()}" + (f" to {until.isoformat()}" if until else "")
        raise NoOrders(f"no order was created {span}: nothing to replay")
    read = time.monotonic() - began
    published = [r.flow() for r in read_published(settings, topics, codec)]
    with gc_paused():
        report = what_if(histories, published, draft, table)
    if progress is not None:
        progress("replayed", len(histories), len(histories))
    return WhatIfRun(report, read, time.monotonic() - began - read)


def report_json(run: WhatIfRun, shown: int = 200) -> dict[str, Any]:
    """The report as the CLI prints it and the API answers it (``WhatIfReport``)."""
    report = run.report
    changed = report.changed
    diffs = [
        bodies.OrderDiff(
            order_id=o.order_id,
            changes=o.changes,
            recorded=_outcome(o.recorded),
            replayed=_outcome(o.replayed),
            refused=o.refused,
            stand_ins=o.stand_ins,
        )
        for o in changed[:shown]
    ]
    return bodies.WhatIfReport(
        draft=report.draft,
        orders=len(report.orders),
        changed=len(changed),
        summary=[bodies.SummaryLine(how=how, orders=n) for how, n in report.summary()],
        diffs=diffs,
        read_seconds=round(run.read_seconds, 2),
        replay_seconds=round(run.replay_seconds, 2),
    ).model_dump(mode="json")


def _outcome(summary: OrderSummary) -> bodies.OrderOutcome:
    return bodies.OrderOutcome(
        status=summary.status,
        reason=summary.reason,
        steps=dict(summary.steps),
        actions=[list(a) for a in summary.actions],
    )
