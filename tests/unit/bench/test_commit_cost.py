"""The commit-cost stage's counters: produce requests from librdkafka's statistics."""

from __future__ import annotations

import json

from bench.commit_cost import Requests


def test_the_produce_requests_are_summed_over_the_brokers_statistics() -> None:
    # given librdkafka statistics for two brokers (and its internal pseudo-broker, no req)
    stats = {
        "brokers": {
            "127.0.0.1:9092/1": {"req": {"Produce": 7, "Metadata": 3}},
            "127.0.0.1:9093/2": {"req": {"Produce": 5}},
            ":0/internal": {},
        }
    }
    requests = Requests()
    # when they arrive
    requests.on_stats(json.dumps(stats))
    # then the produce requests of both brokers are counted, nothing else
    assert requests.produce == 12


def test_statistics_without_brokers_count_none() -> None:
    requests = Requests()
    requests.on_stats(json.dumps({"name": "rdkafka#producer-1"}))
    assert requests.produce == 0
