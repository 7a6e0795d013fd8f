"""The writer killed with SIGKILL mid-stream and restarted: no duplicate, no gap."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from order_watch import send
from writer_harness import (
    assert_each_event_once,
    committed_events,
    components,
    drop_topics,
    read_all,
    wait_for_events,
)

from devkit.scenarios import journey1_orders
from streams.bootstrap import Components
from streams.services.replay import replay

ORDERS = 300
EVENTS_PER_ORDER = 10


def _start_writer(c: Components, state_dir: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": c.settings.bootstrap_servers,
        "OMS_TOPIC_PREFIX": c.settings.topic_prefix,
        "OMS_PARTITIONS": str(c.settings.partitions),
        "OMS_STATE_DIR": str(state_dir),
        "OMS_INSTANCE_ID": "crash-test",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streams.cli",
            "writer",
            "--batch-size",
            "50",
            "--log-level",
            "WARNING",
        ],
        env=env,
    )


def _alive(writer: subprocess.Popen[bytes]) -> Callable[[], None]:
    def check() -> None:
        assert writer.poll() is None, f"writer exited with {writer.returncode}"

    return check


def test_sigkill_mid_stream_leaves_no_duplicate_and_no_gap(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    c = components(kafka_bootstrap, topic_prefix, tmp_path)
    try:
        total = ORDERS * EVENTS_PER_ORDER
        send(c, (cmd for order in journey1_orders(ORDERS) for cmd in order))

        first = _start_writer(c, tmp_path / "state")
        try:
            seen = wait_for_events(c, total // 5, timeout=60, check=_alive(first))
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        assert seen < total, "the writer finished before it could be killed; raise ORDERS"

        second = _start_writer(c, tmp_path / "state")
        try:
            wait_for_events(c, total, timeout=90, check=_alive(second))
            time.sleep(1)  # anything extra (a duplicate) would show up now
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
