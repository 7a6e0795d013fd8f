"""Latency per hop from the moments orders passed each mark (bench/latency.py)."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from bench.latency import HOPS, HTTP_HOPS, Hop, Mark, hops, percentiles, summary

END_TO_END = Hop("end to end", Mark.PUBLISHED, Mark.READ)
FIRST = Hop("published -> appended", Mark.PUBLISHED, Mark.APPENDED)


def test_percentiles_rank_measured_values_by_nearest_rank() -> None:
    got = percentiles(float(v) for v in range(100, 0, -1))  # 1..100, shuffled order
    assert (got.count, got.p50, got.p95, got.p99, got.max) == (100, 50.0, 95.0, 99.0, 100.0)


def test_one_sample_is_every_percentile() -> None:
    got = percentiles([7.5])
    assert (got.p50, got.p95, got.p99, got.max) == (7.5, 7.5, 7.5, 7.5)


def test_nothing_to_rank_says_so() -> None:
    got = percentiles([])
    assert got.count == 0
    assert math.isnan(got.p99)
    assert got.line() == "no samples"


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1))
def test_percentiles_are_ordered_and_taken_from_the_values(values: list[float]) -> None:
    got = percentiles(values)
    assert got.p50 <= got.p95 <= got.p99 <= got.max == max(values)
    assert {got.p50, got.p95, got.p99} <= set(values)


def test_given_orders_with_moments_then_each_hop_is_end_minus_start() -> None:
    orders = {
        "o1": {Mark.PUBLISHED: 1000.0, Mark.APPENDED: 1004.0, Mark.READ: 1030.0},
        "o2": {Mark.PUBLISHED: 2000.0, Mark.APPENDED: 2010.0, Mark.READ: 2050.0},
    }
    got = hops(orders, [FIRST, END_TO_END])
    assert sorted(got[FIRST]) == [4.0, 10.0]
    assert sorted(got[END_TO_END]) == [30.0, 50.0]


def test_an_order_that_missed_a_mark_is_left_out_of_the_hops_that_need_it() -> None:
    orders = {
        "read": {Mark.PUBLISHED: 0.0, Mark.APPENDED: 3.0, Mark.READ: 20.0},
        "never read": {Mark.PUBLISHED: 0.0, Mark.APPENDED: 5.0},
    }
    by_hop = dict(summary(orders, [FIRST, END_TO_END]))
    assert by_hop[FIRST].count == 2
    assert by_hop[END_TO_END].count == 1
    assert by_hop[END_TO_END].max == 20.0


def test_the_stream_path_goes_mark_to_mark_and_ends_with_the_whole_way() -> None:
    legs = HOPS[:-1]
    assert [h.end for h in legs[:-1]] == [h.start for h in legs[1:]]
    assert (HOPS[-1].start, HOPS[-1].end) == (legs[0].start, legs[-1].end)


def test_the_http_path_goes_from_the_webhook_to_the_sales_order_in_fno() -> None:
    legs = HTTP_HOPS[:-1]
    assert [h.end for h in legs[:-1]] == [h.start for h in legs[1:]]
    assert (HTTP_HOPS[-1].start, HTTP_HOPS[-1].end) == (Mark.WEBHOOK, Mark.AT_PROVIDER)
