"""The writer killed with SIGKILL mid-stream and restarted: no duplicate, no gap."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

from order_watch import send
from waits import alive
from writer_harness import (
    assert_each_event_once,
    committed_events,
    components,
    drop_topics,
    read_all,
    start_writer,
    wait_for_events,
)

from devkit.scenarios import journey1_orders
from streams.adapters.kafka import admin
from streams.adapters.lag import wait_until_caught_up
from streams.services.replay import replay
from streams.services.writer import WRITER_GROUP

ORDERS = 300
EVENTS_PER_ORDER = 10


def test_sigkill_mid_stream_leaves_no_duplicate_and_no_gap(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    c = components(kafka_bootstrap, topic_prefix, tmp_path)
    try:
        total = ORDERS * EVENTS_PER_ORDER
        send(c, (cmd for order in journey1_orders(ORDERS) for cmd in order))

        first = start_writer(c, tmp_path / "state", "crash-test")
        try:
            seen = wait_for_events(c, total // 5, timeout=60, check=alive(first))
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        assert seen < total, "the writer finished before it could be killed; raise ORDERS"

        second = start_writer(c, tmp_path / "state", "crash-test")
        try:
            wait_for_events(c, total, timeout=90, check=alive(second))
            # Events and command offsets commit in one transaction: with every command's
            # offset committed, nothing more (no duplicate) can come.
            group = c.topics.prefix + WRITER_GROUP
            assert wait_until_caught_up(admin(c.settings), [group], timeout=60) == {}
        finally:
            second.terminate()
            second.wait(30)

        assert_each_event_once(committed_events(c), ORDERS, EVENTS_PER_ORDER)
        assert read_all(c.settings, [c.topics.rejections], c.topics.partitions) == []

        rebuilt = replay(c.settings, c.topics, c.codec)
        assert Counter((s.status, s.status_reason) for s in rebuilt.states.values()) == {
            ("Completed", "Fulfilled"): ORDERS
        }
        assert rebuilt.duplicates == 0 and not rebuilt.held
    finally:
        drop_topics(c)
