"""The growth curve: each time against the previous one, per size ratio."""

from __future__ import annotations

import pytest

from bench.growth import parse, per_order, scaling


def test_linear_growth_reads_one() -> None:
    assert scaling([20_000, 100_000], [4.0, 20.0]) == [None, 1.0]


def test_better_than_linear_reads_below_one() -> None:
    factors = scaling([20_000, 100_000, 500_000], [4.0, 10.0, 100.0])

    assert factors[1] == pytest.approx(0.5)
    assert factors[2] == pytest.approx(2.0)


def test_a_missing_time_has_no_factor() -> None:
    assert scaling([20_000, 100_000], [0.0, 20.0]) == [None, None]


def test_bytes_per_order() -> None:
    assert per_order(51_200_000, 100_000) == 512.0
    assert per_order(10, 0) == 0.0


def test_sizes_are_sorted_and_deduplicated() -> None:
    assert parse(["--sizes", "100000,20000,20000"]).sizes == [20_000, 100_000]


def test_sizes_must_be_numbers() -> None:
    with pytest.raises(SystemExit):
        parse(["--sizes", "20k"])
