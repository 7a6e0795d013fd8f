"""The line a benchmark's child process reports its outcome on."""

from __future__ import annotations

from bench.child import parse_result, result_line


def test_result_round_trips() -> None:
    outcome = {"events": 199_999, "seconds": 12.5, "error": None}

    assert parse_result(result_line(outcome)) == outcome


def test_result_found_after_terminal_escapes() -> None:
    line = "\x1b[0m\x1b[?25h" + result_line({"events": 3})

    assert parse_result(line) == {"events": 3}


def test_other_output_is_no_result() -> None:
    assert parse_result("[2026-12-03 16:07:56] [INFO] [quixstreams] : started") is None
