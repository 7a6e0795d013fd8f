"""The peers table's arithmetic: ratios to quix-streams in events/s and per CPU-second."""

from __future__ import annotations

from bench.report import peer_table, per_cpu, ratio
from bench.stages import StageResult


def test_ratio_of_two_rates() -> None:
    assert ratio(30_000.0, 10_000.0) == 3.0


def test_no_ratio_without_a_reference() -> None:
    assert ratio(30_000.0, 0.0) is None


def test_events_per_cpu_second() -> None:
    assert per_cpu(StageResult("replay", 200_000, 5.0, cpu=4.0)) == 50_000.0


def test_no_cpu_measured_gives_zero_not_a_division_error() -> None:
    assert per_cpu(StageResult("skipped", 0, 0.0)) == 0.0


def test_peer_table_shows_both_ratios_to_quix() -> None:
    replay = StageResult("replay", 100_000, 2.0, cpu=2.5)  # 50,000/s, 40,000 ev/cpu-s
    quix = StageResult("quix", 100_000, 10.0, cpu=10.0)  # 10,000/s, 10,000 ev/cpu-s

    lines = peer_table([replay, quix], quix)

    replay_row = next(line for line in lines if line.strip().startswith("replay"))
    assert replay_row.split()[-4:] == ["50,000", "40,000", "5.00x", "4.00x"]


def test_peer_table_without_quix_shows_no_ratio() -> None:
    lines = peer_table([StageResult("replay", 100, 1.0, cpu=1.0)], None)

    assert lines[-1].split()[-2:] == ["-", "-"]
