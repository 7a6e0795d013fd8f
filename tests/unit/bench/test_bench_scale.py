"""Two writers against one: wall-clock speed-up and events per CPU-second."""

from __future__ import annotations

import pytest

from bench.scale import ScaleRow, efficiency, parse, speedup


def test_two_writers_as_efficient_as_one_read_one() -> None:
    one = ScaleRow(1, commands=200_000, seconds=20.0, cpu=20.0)
    two = ScaleRow(2, commands=200_000, seconds=14.0, cpu=20.0)

    assert efficiency(two, one) == 1.0
    assert speedup(two, one) == pytest.approx(20.0 / 14.0)


def test_overhead_shows_as_efficiency_below_one() -> None:
    one = ScaleRow(1, commands=200_000, seconds=20.0, cpu=20.0)
    two = ScaleRow(2, commands=200_000, seconds=15.0, cpu=25.0)

    assert efficiency(two, one) == pytest.approx(0.8)


def test_nothing_measured_has_no_ratio() -> None:
    assert efficiency(ScaleRow(2), ScaleRow(1, commands=10, seconds=1.0, cpu=1.0)) is None
    assert speedup(ScaleRow(2), ScaleRow(1)) is None


def test_more_writers_than_partitions_is_a_usage_error() -> None:
    with pytest.raises(SystemExit):
        parse(["--writers", "1,7"])


def test_counts_are_read_for_writers_and_connectors_and_empty_means_none() -> None:
    args = parse(["--writers", "1,2", "--connectors", ""])

    assert args.writers == [1, 2]
    assert args.connectors == []
