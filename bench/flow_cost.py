"""The order writer's pure domain path in memory: CPU microseconds per order and per event.

``python -m bench.flow_cost --orders 2000``: journey-1 orders (``bench.journeys``' own) go
through ``orchestration.process()`` as ``OrderWriter._apply`` calls it (the shipped flows,
order-handling settings and products, as ``bootstrap`` and the writer build the engine;
each command decided on the state the order's previous outcome left), and stand-in
providers answer every request at once, as ``devkit.fake_providers`` does: success, then
what the provider reports later. No Kafka, no codec, no store: what is timed is
``process()`` alone (decide, evolve, the flow engine's reactions), best of ``--repeat``
passes, the collector paused as the writer pauses it on its batches.

The same run is the golden check of a change meant to keep behaviour: ``--dump FILE``
writes every event and every order's final state (JSON, in order) and the digest line
sums them up; two runs that print the same digest produced the same events byte for byte.
``--journeys 1,2,3,4,5,6`` mixes the other shipped journeys in (DOM, Flexe, SAP).

On a shared machine the CPU time swings with the neighbours' load (+-20% here); the
instructions a pass executes do not. ``--instructions`` counts them under callgrind: the
difference between a run with three passes and one with one, over twice the orders, is the
instructions per order (``--orders 100``: two runs of ~50 s under valgrind).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import random
import re
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from devkit.scenarios import CommandFactory, journey_order
from streams.adapters.flow_files import load_flows
from streams.bootstrap import bootstrap
from streams.domain.commands import (
    Command,
    RecordActionResult,
    RecordInvoiced,
    RecordPicked,
    RecordReturnReceived,
    RecordShipped,
)
from streams.domain.errors import DomainError
from streams.domain.events import Event, ProviderActionReleased, ProviderActionRequested
from streams.domain.flows import FlowCatalog
from streams.domain.orchestration import FlowEngine, process
from streams.domain.order import OrderState, PendingAction
from streams.domain.transitions import FULFILLMENT_IN_PROGRESS, TransitionTable
from streams.settings import REPO_ROOT, Settings

START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
"""Every run's first command time: a run is reproducible to the byte."""


def writer_engine() -> tuple[FlowEngine, TransitionTable]:
    """The engine and table the order writer runs with: the shipped flows published as
    version 1, the shipped order-handling settings and products, no pause."""
    c = bootstrap(Settings())
    flows = [f.model_copy(update={"version": 1}) for f in load_flows(REPO_ROOT / "flows")]
    return FlowEngine(FlowCatalog(flows), c.order_handling, c.products), c.transitions


def answer(factory: CommandFactory, request: PendingAction, order: OrderState) -> list[Command]:
    """A stand-in provider's answers to ``request``: success at once (with the data
    ``devkit.fake_providers`` sends), then what it reports later, through its webhook."""
    oid = order.order_id
    data = {"provider_order_id": f"{request.provider.upper()}-{oid}"}
    if request.action == "send_to_fulfillment_optimization":
        data = {f"warehouse.{line.line_id}": "11" for line in order.lines}
    if request.action == "update_channel_status":
        data = {"channel_status": request.params.get("status_id", "")}
    if request.action == "issue_credit_note":
        data = {"credit_note_id": f"CN-{oid}-{request.params.get('rma_id', '')}"}
    result = RecordActionResult(
        envelope=factory.envelope(oid), action_id=request.action_id, success=True, data=data
    )
    return [result, *_later(factory, request, order)]


def _later(factory: CommandFactory, request: PendingAction, order: OrderState) -> list[Command]:
    """What the provider reports after answering (``FakeProviders._provider_part``)."""
    p, oid, env = request.provider, order.order_id, factory.envelope
    picked = RecordPicked(envelope=env(oid), provider=p, picking_id=f"PL-{oid}")
    shipped = RecordShipped(
        envelope=env(oid), provider=p, shipment_id=f"SH-{oid}", carrier="UPS", tracking_number=f"1Z{oid}"
    )
    invoiced = RecordInvoiced(envelope=env(oid), provider=p, invoice_id=f"INV-{oid}")
    if (p, request.action) == ("fno", "send_to_fulfillment"):
        return [picked, shipped, invoiced]
    if (p, request.action) == ("flexe", "send_to_fulfillment"):
        return [shipped]
    if request.action == "send_to_billing":
        fulfils = p == "fno" and order.status != FULFILLMENT_IN_PROGRESS
        return [picked, shipped, invoiced] if fulfils else [invoiced]
    if request.action == "create_return":
        rma = request.params.get("rma_id", "")
        return [RecordReturnReceived(envelope=env(oid), rma_id=rma, provider=p, warehouse="11")]
    return []


@dataclass
class Journeys:
    """What a run of orders did: the commands each order was decided on, in order (the
    timed passes replay them), every event appended, every refusal, every final state."""

    commands: list[list[Command]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    states: list[OrderState] = field(default_factory=list)

    def lines(self) -> Iterator[str]:
        """The golden record: every event, refusal and final state, as JSON and as ``repr``
        (which tells an enum member from its string, a tuple from a list)."""
        for event in self.events:
            yield f"{type(event).__name__} {event.model_dump_json()}"
            yield f"  {event!r}"
        yield from self.refused
        for state in self.states:
            yield f"state {state.model_dump_json()}"
            yield f"  {state!r}"

    def digest(self) -> str:
        h = hashlib.sha256()
        for line in self.lines():
            h.update(line.encode() + b"\n")
        return h.hexdigest()[:16]


def _sent(event: Event, state: OrderState | None) -> PendingAction | None:
    """The request the writer's outbox sends for ``event`` (``OrderWriter._request``): none
    if the action was answered within the same decision, is held, or was retried since."""
    if not isinstance(event, ProviderActionRequested | ProviderActionReleased) or state is None:
        return None
    pending = state.pending(event.action_id)
    if pending is None or pending.held is not None or pending.not_before != event.not_before:
        return None
    return pending


def run(engine: FlowEngine, table: TransitionTable, orders: int, journeys: Sequence[int] = (1,)) -> Journeys:
    """``orders`` orders through the writer's ``process()`` and the stand-in providers, to quiescence."""
    factory = CommandFactory(source="bench", start=START)
    rng, out = random.Random(13), Journeys()
    for n in range(orders):
        oid = f"FC-{n + 1:06d}"
        queue: deque[Command] = deque([journey_order(journeys[n % len(journeys)], factory, oid, rng, ref=n)])
        state: OrderState | None = None
        decided: list[Command] = []
        while queue:
            command = queue.popleft()
            decided.append(command)
            try:
                outcome = process(command, state, engine, table)
            except DomainError as exc:
                out.refused.append(f"refused {type(command).__name__} {exc}")
                continue
            out.refused += [f"refused {type(c).__name__} {e}" for c, e in outcome.refused]
            out.events += outcome.events
            if outcome.events and outcome.state is not None:
                state = outcome.state
            for event in outcome.events:
                if (sent := _sent(event, state)) is not None and state is not None:
                    queue.extend(answer(factory, sent, state))
        out.commands.append(decided)
        assert state is not None
        out.states.append(state)
    return out


def process_seconds(engine: FlowEngine, table: TransitionTable, commands: list[list[Command]]) -> float:
    """CPU seconds of deciding every order's commands as the writer does, nothing else."""
    gc.collect()
    gc.disable()
    try:
        began = time.process_time()
        for order in commands:
            state: OrderState | None = None
            for command in order:
                try:
                    outcome = process(command, state, engine, table)
                except DomainError:
                    continue
                if outcome.events and outcome.state is not None:
                    state = outcome.state
        return time.process_time() - began
    finally:
        gc.enable()


def instructions(orders: int, journeys: Sequence[int]) -> float:
    """Instructions per order of the timed passes, counted by callgrind (see above)."""
    counted = []
    for passes in (1, 3):
        run_ = subprocess.run(
            [
                *("valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"),
                *(sys.executable, "-m", "bench.flow_cost", "--orders", str(orders), "--repeat", str(passes)),
                *("--journeys", ",".join(map(str, journeys))),
            ],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        found = re.search(r"Collected : (\d+)", run_.stderr)
        assert found is not None, run_.stderr[-2000:]
        counted.append(int(found.group(1)))
    return (counted[1] - counted[0]) / (2 * orders)


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.flow_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3, help="timed passes; the best counts (default 3)")
    parser.add_argument(
        "--journeys",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1],
        help="journeys to mix, e.g. 1,2,3,4,5,6 (default: 1)",
    )
    parser.add_argument("--dump", type=Path, default=None, help="write the golden record (JSON lines) here")
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions per order under callgrind instead"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if args.instructions:
        ir = instructions(args.orders, args.journeys)
        per_order = len(run(*writer_engine(), args.orders, args.journeys).events) / args.orders
        print(
            f"process(): {ir:,.0f} instructions/order, {ir / per_order:,.0f}/event"
            f" (callgrind, {args.orders} orders)"
        )
        return 0
    engine, table = writer_engine()
    journeys = run(engine, table, args.orders, args.journeys)
    if args.dump is not None:
        args.dump.write_text("".join(f"{line}\n" for line in journeys.lines()))
    commands = sum(len(c) for c in journeys.commands)
    events = len(journeys.events)
    print(
        f"{args.orders:,} orders (journeys {','.join(map(str, args.journeys))}): {commands:,} commands,"
        f" {events:,} events, {len(journeys.refused)} refused; golden digest {journeys.digest()}"
    )
    runs = [process_seconds(engine, table, journeys.commands) for _ in range(args.repeat)]
    per_order = [1e6 * s / args.orders for s in runs]
    best = min(runs)
    print(
        f"process(): us CPU/order {' '.join(f'{u:.0f}' for u in per_order)}"
        f" (best {1e6 * best / args.orders:.0f} us/order, {1e6 * best / max(events, 1):.1f} us/event,"
        f" {args.orders / best:,.0f} orders/s/core)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
