"""The writer killed with SIGKILL mid-stream and restarted: no duplicate, no gap."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

from order_watch import send
from writer_harness import committed_events, components, drop_topics, read_all, start_writer

from devkit.scenarios import journey1_orders
from streams.bootstrap import Components
from streams.services.replay import replay

ORDERS = 300
EVENTS_PER_ORDER = 10


def _wait_until(c: Components, done: int, writer: subprocess.Popen[bytes], timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        n = len(committed_events(c))
        if n >= done:
            return n
        assert writer.poll() is None, f"writer exited with {writer.returncode}"
        assert time.monotonic() < deadline, f"only {n}/{done} events after {timeout}s"
        time.sleep(0.2)


def test_sigkill_mid_stream_leaves_no_duplicate_and_no_gap(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    c = components(kafka_bootstrap, topic_prefix, tmp_path)
    try:
        total = ORDERS * EVENTS_PER_ORDER
        send(c, (cmd for order in journey1_orders(ORDERS) for cmd in order))

        first = start_writer(c, tmp_path / "state", "crash-test")
        try:
            seen = _wait_until(c, total // 5, first, timeout=60)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        assert seen < total, "the writer finished before it could be killed; raise ORDERS"

        second = start_writer(c, tmp_path / "state", "crash-test")
        try:
            _wait_until(c, total, second, timeout=90)
            time.sleep(1)  # anything extra (a duplicate) would show up now
        finally:
            second.terminate()
            second.wait(30)

        events = committed_events(c)
        per_order_seq = Counter(events)
        assert max(per_order_seq.values()) == 1, "an event was appended twice"
        seqs: dict[str, list[int]] = {}
        for order_id, seq in events:
            seqs.setdefault(order_id, []).append(seq)
        assert len(seqs) == ORDERS
        assert all(sorted(s) == list(range(1, EVENTS_PER_ORDER + 1)) for s in seqs.values())
        assert read_all(c.settings, [c.topics.rejections], c.topics.partitions) == []

        rebuilt = replay(c.settings, c.topics, c.codec)
        assert Counter((s.status, s.status_reason) for s in rebuilt.states.values()) == {
            ("Completed", "Fulfilled"): ORDERS
        }
        assert rebuilt.duplicates == 0 and not rebuilt.held
    finally:
        drop_topics(c)
