"""Two order writer processes in one group, every command published twice (as two connector
instances publish one webhook), and one writer SIGKILLed mid-stream: the other takes its
partitions over, and each order's history is its ten events, once each, in seq order:
a command id the writer has decided is not decided again."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from order_watch import send
from writer_harness import committed_events, components, drop_topics, start_writer

from devkit.scenarios import journey1_orders
from streams.adapters.kafka import admin
from streams.adapters.lag import members_with_partitions, wait_until_caught_up
from streams.bootstrap import Components
from streams.services.writer import WRITER_GROUP

ORDERS = 200
EVENTS_PER_ORDER = 10


def _wait(
    what: str, done: Callable[[], bool], timeout: float, writers: list[subprocess.Popen[bytes]]
) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert all(w.poll() is None for w in writers), "a writer exited"
        assert time.monotonic() < deadline, f"no {what} within {timeout}s"
        time.sleep(0.3)


def _complete(c: Components) -> bool:
    last: dict[str, int] = {}
    for order_id, seq in committed_events(c):
        last[order_id] = max(seq, last.get(order_id, 0))
    return len(last) == ORDERS and min(last.values()) >= EVENTS_PER_ORDER


def test_two_writers_and_every_command_twice_make_each_event_once(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    c: Components = components(kafka_bootstrap, topic_prefix, tmp_path)
    group = f"{topic_prefix}{WRITER_GROUP}"
    writers = [start_writer(c, tmp_path / "state", name) for name in ("writer-a", "writer-b")]
    try:
        both = lambda: members_with_partitions(admin(c.settings), group) == 2  # noqa: E731
        _wait("two writers sharing the partitions", both, 60, writers)
        total = ORDERS * EVENTS_PER_ORDER
        send(c, (copy for order in journey1_orders(ORDERS) for cmd in order for copy in (cmd, cmd)))
        _wait("a fifth of the events", lambda: len(committed_events(c)) >= total // 5, 60, writers)
        writers[0].send_signal(signal.SIGKILL)
        writers[0].wait(10)
        # The survivor takes the killed writer's partitions once its session expires (15 s);
        # what it appends there becomes visible once the killed writer's open transaction
        # is aborted: it cannot fence a transactional id not its own, so after the
        # transaction timeout (60 s by default).
        _wait("every order complete", lambda: _complete(c), 150, writers[1:])
        behind = wait_until_caught_up(admin(c.settings), [group], timeout=30)
        events = committed_events(c)
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.terminate()
                writer.wait(30)
        drop_topics(c)

    assert max(Counter(events).values()) == 1, "an event was appended twice"
    seqs: dict[str, list[int]] = {}
    for order_id, seq in events:
        seqs.setdefault(order_id, []).append(seq)
    assert len(seqs) == ORDERS
    assert Counter(len(s) for s in seqs.values()) == {EVENTS_PER_ORDER: ORDERS}, "a command was decided twice"
    assert all(sorted(s) == list(range(1, EVENTS_PER_ORDER + 1)) for s in seqs.values())
    assert behind == {}
