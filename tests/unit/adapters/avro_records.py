"""Records the Avro tests encode and decode: journey 1's commands and events as the
decider makes them (command first, then its events), and one order of each journey."""

from __future__ import annotations

import random

from pydantic import BaseModel

from devkit.scenarios import JOURNEYS, CommandFactory, journey1_orders, journey_order
from streams.domain.decider import decide
from streams.domain.order import fold


def journey_records(*, every_journey: bool = True) -> list[BaseModel]:
    out: list[BaseModel] = []
    for commands in journey1_orders(3):
        state = None
        for command in commands:
            events = decide(command, state)
            state = fold(events, state)
            out += [command, *events]
        assert state is not None
    if every_journey:
        factory, rng = CommandFactory(), random.Random(3)
        out += [journey_order(j, factory, f"J{j}", rng) for j in JOURNEYS]
    return out
