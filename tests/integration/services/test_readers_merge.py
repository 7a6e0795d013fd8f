"""Every reader of the event topics merges an order's history the one way (``SeqMerge``):
the replay, an order's timeline and the what-if's recorded histories agree, event for
event, on histories a real writer appended across the per-type topics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from order_watch import send
from writer_harness import components, drop_topics, running_writer

from devkit.scenarios import journey1_orders
from streams.services.replay import order_timeline, replay
from streams.services.what_if import recorded_histories

ORDERS = 12
EVENTS_PER_ORDER = 10


def test_replay_timelines_and_what_if_histories_agree(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    c = components(kafka_bootstrap, topic_prefix, tmp_path)
    try:
        send(c, (cmd for order in journey1_orders(ORDERS) for cmd in order))
        with running_writer(c) as w:
            w.wait_for(lambda wr: wr.stats.events >= ORDERS * EVENTS_PER_ORDER)

        replayed = replay(c.settings, c.topics, c.codec)
        recorded = recorded_histories(
            c.settings, c.topics, c.codec, since=datetime.now(UTC) - timedelta(days=3650)
        )

        assert len(recorded) == len(replayed.states) == ORDERS
        for history in recorded:
            order_id = history[0].envelope.order_id
            timeline = order_timeline(c.settings, c.topics, c.codec, order_id)
            assert [e.envelope.seq for e in history] == list(range(1, EVENTS_PER_ORDER + 1))
            assert [e for _, e in timeline.events] == history
            assert timeline.state == replayed.states[order_id]
            assert timeline.waiting == []
    finally:
        drop_topics(c)
