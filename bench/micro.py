"""Per-event CPU cost of each pipeline step, in memory, without Kafka or a profiler.

cProfile inflates code made of many small Python calls (pydantic, the fold) more than
compiled code (fastavro, librdkafka); these timings are not distorted that way, and
the gap between their sum and a stage's measured time per event is the Kafka client,
the loop and the waits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from devkit.scenarios import journey1_orders
from streams.bootstrap import Components
from streams.domain.commands import Command
from streams.domain.decider import decide
from streams.domain.events import Event
from streams.domain.history import OrderHistories
from streams.domain.order import OrderState, evolve


def _per_item(items: Iterable[Any], step: Callable[[Any], object], repeat: int = 3) -> float:
    """Microseconds per item, best of ``repeat`` passes (the least disturbed by other load)."""
    items = list(items)
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        for item in items:
            step(item)
        best = min(best, time.perf_counter() - began)
    return 1e6 * best / max(len(items), 1)


def step_costs(components: Components, orders: int = 2000) -> list[str]:
    codec, table = components.codec, components.transitions
    commands: list[Command] = [c for journey in journey1_orders(orders) for c in journey]
    before: list[tuple[Command, OrderState | None]] = []
    applied: list[tuple[OrderState | None, Event]] = []
    events: list[Event] = []
    states: dict[str, OrderState] = {}
    for command in commands:
        state = states.get(command.envelope.order_id)
        before.append((command, state))
        for event in decide(command, state, table):
            applied.append((state, event))
            events.append(event)
            state = evolve(state, event)
        assert state is not None
        states[command.envelope.order_id] = state
    command_bytes = [codec.encode(c) for c in commands]
    event_bytes = [codec.encode(e) for e in events]

    def fold_all(_: object) -> None:
        add = OrderHistories().add
        for event in events:
            add(event)

    writer = {
        "decode command (Avro + pydantic)": _per_item(command_bytes, codec.decode),
        "decide (new event models)": _per_item(before, lambda cs: decide(cs[0], cs[1], table)),
        "evolve (model_copy)": _per_item(applied, lambda se: evolve(se[0], se[1])),
        "encode event (model_dump + Avro)": _per_item(events, codec.encode),
    }
    decode_dict = _per_item(event_bytes, codec.decode_dict)
    decode = _per_item(event_bytes, codec.decode)
    reader = {
        "decode_dict (Avro)": decode_dict,
        "pydantic validation (decode - decode_dict)": decode - decode_dict,
        "fold (OrderHistories.add)": _per_item([None], fold_all, repeat=3) / len(events),
    }
    out = [f"  per-event CPU cost in memory, no Kafka ({len(events):,} events, best of 3):"]
    for title, steps in (("writer path", writer), ("replay path", reader)):
        total = sum(steps.values())
        out.append(f"    {title}: {total:6.1f} us/event = at most {1e6 / total:,.0f} events/s/core")
        out += [f"      {name:<44} {us:6.1f} us {100 * us / total:5.1f}%" for name, us in steps.items()]
    return out
