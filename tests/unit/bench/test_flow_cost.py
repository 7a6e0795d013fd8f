"""The writer's domain path in memory: its orders complete, and a run is reproducible to the byte."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.flow_cost import main, parse, process_seconds, run, writer_engine


def test_journey_1_orders_complete_with_twenty_events_each() -> None:
    engine, table = writer_engine()

    journeys = run(engine, table, 3)

    assert [(s.status, s.status_reason) for s in journeys.states] == [("Completed", "Done")] * 3
    assert len(journeys.events) == 60
    assert not journeys.refused
    assert Counter(type(c).__name__ for c in journeys.commands[0]) == {
        "CreateOrder": 1,
        "RecordActionResult": 3,
        "RecordPicked": 1,
        "RecordShipped": 1,
        "RecordInvoiced": 1,
    }


def test_a_run_is_the_same_to_the_byte_every_time() -> None:
    engine, table = writer_engine()
    mix = (1, 2, 3, 4, 5, 6)

    first, second = run(engine, table, 6, mix), run(*writer_engine(), 6, mix)

    assert list(first.lines()) == list(second.lines())
    assert first.digest() == second.digest()


def test_the_timed_pass_decides_the_recorded_commands() -> None:
    engine, table = writer_engine()
    journeys = run(engine, table, 2)

    assert process_seconds(engine, table, journeys.commands) > 0


def test_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse(["--journeys", "1,6"]).journeys == [1, 6]
    assert parse(["--instructions"]).instructions

    assert main(["--orders", "2", "--repeat", "1"]) == 0

    out = capsys.readouterr().out
    assert "2 orders (journeys 1): 14 commands, 40 events, 0 refused; golden digest" in out
    assert "us CPU/order" in out
