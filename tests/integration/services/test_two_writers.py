"""Two order writer processes in one group, every command published twice (as two connector
instances publish one webhook), and one writer SIGKILLed mid-stream: the other takes its
partitions over; no seq twice, no gap, the group caught up; and each order's history is
its ten events, once each: a command id the writer has decided is not decided again."""

from __future__ import annotations

import signal
import uuid
from collections import Counter
from dataclasses import dataclass

import pytest
from order_watch import send
from waits import alive, wait_for
from writer_harness import committed_events, components, drop_topics, start_writer

from devkit.scenarios import journey1_orders
from streams.adapters.kafka import admin
from streams.adapters.lag import members_with_partitions, wait_until_caught_up
from streams.bootstrap import Components
from streams.services.writer import WRITER_GROUP

ORDERS = 200
EVENTS_PER_ORDER = 10


def _complete(c: Components) -> bool:
    last: dict[str, int] = {}
    for order_id, seq in committed_events(c):
        last[order_id] = max(seq, last.get(order_id, 0))
    return len(last) == ORDERS and min(last.values()) >= EVENTS_PER_ORDER


@dataclass
class Run:
    events: list[tuple[str, int]]
    """(order id, seq) of every committed event."""
    behind: dict[str, dict[tuple[str, int], int]]

    def seqs(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for order_id, seq in self.events:
            out.setdefault(order_id, []).append(seq)
        return out


@pytest.fixture(scope="module")
def run(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Run:
    tmp_path = tmp_path_factory.mktemp("two-writers")
    prefix = f"t{uuid.uuid4().hex[:8]}."
    c: Components = components(kafka_bootstrap, prefix, tmp_path)
    group = f"{prefix}{WRITER_GROUP}"
    writers = [start_writer(c, tmp_path / "state", name) for name in ("writer-a", "writer-b")]
    try:
        both = lambda: members_with_partitions(admin(c.settings), group) == 2  # noqa: E731
        wait_for("two writers sharing the partitions", both, 60, check=alive(*writers))
        total = ORDERS * EVENTS_PER_ORDER
        send(c, (copy for order in journey1_orders(ORDERS) for cmd in order for copy in (cmd, cmd)))
        wait_for(
            "a fifth of the events", lambda: len(committed_events(c)) >= total // 5, 60, check=alive(*writers)
        )
        writers[0].send_signal(signal.SIGKILL)
        writers[0].wait(10)
        # The survivor takes the killed writer's partitions once its session expires (15 s);
        # what it appends there becomes visible once the killed writer's open transaction
        # is aborted: it cannot fence a transactional id not its own, so after the
        # transaction timeout (60 s by default).
        wait_for("every order complete", lambda: _complete(c), 150, check=alive(*writers[1:]))
        return Run(committed_events(c), wait_until_caught_up(admin(c.settings), [group], timeout=30))
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.terminate()
                writer.wait(30)
        drop_topics(c)


def test_two_writers_one_killed_leave_no_duplicate_seq_no_gap_and_no_lag(run: Run) -> None:
    assert max(Counter(run.events).values()) == 1, "an event was appended twice"
    seqs = run.seqs()
    assert len(seqs) == ORDERS
    assert all(sorted(s) == list(range(1, len(s) + 1)) for s in seqs.values())
    assert run.behind == {}


def test_every_command_published_twice_is_decided_once(run: Run) -> None:
    lengths = Counter(len(s) for s in run.seqs().values())
    assert lengths == {EVENTS_PER_ORDER: ORDERS}, "a command was decided twice"
