"""What the process benches read from /proc and from a writer's JSON log lines."""

from __future__ import annotations

import json

from bench.processes import cpu_seconds_of, restored_lines

# /proc/<pid>/stat of a python process; the command name holds a space and a parenthesis.
STAT = (
    "4184 (python (bench) x) R 4100 4184 4100 0 -1 4194304 52000 0 0 0 "
    "730 120 0 0 20 0 9 0 123456 1200000000 40000 18446744073709551615"
)


def test_cpu_is_user_plus_system_ticks() -> None:
    assert cpu_seconds_of(STAT, 100) == (730 + 120) / 100


def _line(message: str) -> str:
    return json.dumps({"time": "2026-12-03T16:14:00.000+00:00", "level": "INFO", "message": message})


def test_each_restore_the_writer_logged_is_read() -> None:
    lines = [
        _line("order writer growth-1 starting"),
        _line("partitions [0, 1, 2, 3, 4, 5]: restored 1800 events in 0.4s"),
        "a line that is not JSON (a traceback, say)",
        _line("partitions [3]: restored 12 events in 0.0s"),
    ]

    assert restored_lines(iter(lines)) == [(1800, 0.4), (12, 0.0)]


def test_no_restore_logged_reads_as_none() -> None:
    assert restored_lines(iter([_line("order writer stopped: 10 commands, 10 events")])) == []


def test_the_first_matching_line_after_a_restart_is_found() -> None:
    from datetime import UTC, datetime

    from bench.processes import first_line_after

    def at(clock: str, message: str) -> str:
        return json.dumps({"time": f"2026-12-03T{clock}+00:00", "message": message})

    lines = [
        at("16:17:49.131", "order writer growth-1 starting"),  # the killed process
        at("16:18:15.930", "order-writer growth-1: /metrics, /health, /ready on http://127.0.0.1:1"),
        at("16:18:17.805", "order writer growth-1 starting"),
    ]
    restart = datetime(2026, 12, 3, 16, 18, 5, tzinfo=UTC)

    assert first_line_after(iter(lines), "starting", restart) == datetime(
        2026, 12, 3, 16, 18, 17, 805000, tzinfo=UTC
    )
    assert first_line_after(iter(lines[:2]), "starting", restart) is None
