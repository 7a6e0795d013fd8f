"""The order writer on a real broker: commands in, events out, state rebuildable."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from order_watch import send
from writer_harness import components, drop_topics, read_all, running_writer

from devkit.scenarios import CommandFactory, journey1_orders
from streams.adapters.kafka import partition_for
from streams.bootstrap import Components
from streams.domain.commands import CommandRejected, RecordActionResult, RecordPicked, RecordShipped
from streams.domain.events import Event
from streams.services.replay import replay

ORDERS = 40
EVENTS_PER_ORDER = 10


@pytest.fixture
def oms(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> Components:
    c = components(kafka_bootstrap, topic_prefix, tmp_path)
    yield c
    drop_topics(c)


def _events(c: Components) -> list[tuple[str, int, Event]]:
    msgs = read_all(c.settings, c.topics.event_topics(), c.topics.partitions)
    return [(m.topic(), m.partition(), c.codec.decode(m.value())) for m in msgs]  # type: ignore[misc]


def test_commands_become_events_on_their_topics_with_gapless_seqs(oms: Components) -> None:
    send(oms, (cmd for order in journey1_orders(ORDERS) for cmd in order))

    with running_writer(oms) as w:
        w.wait_for(lambda wr: wr.stats.events >= ORDERS * EVENTS_PER_ORDER)

    seqs: dict[str, list[int]] = defaultdict(list)
    for topic, partition, event in _events(oms):
        order_id = event.envelope.order_id
        assert topic == oms.topics.event_topic(type(event)), f"{type(event).__name__} on {topic}"
        assert partition == partition_for(order_id, oms.topics.partitions), "not co-partitioned"
        seqs[order_id].append(event.envelope.seq)
    assert len(seqs) == ORDERS
    for order_id, got in seqs.items():
        assert sorted(got) == list(range(1, EVENTS_PER_ORDER + 1)), order_id


def test_replay_rebuilds_exactly_the_states_the_writer_holds(oms: Components) -> None:
    orders = list(journey1_orders(ORDERS))
    # Stop half the orders half-way, so the states differ from each other.
    send(oms, (cmd for i, order in enumerate(orders) for cmd in (order if i % 2 else order[:5])))
    expected_events = sum(EVENTS_PER_ORDER if i % 2 else 5 for i in range(ORDERS))

    with running_writer(oms) as w:
        w.wait_for(lambda wr: wr.stats.events >= expected_events)
    held = w.final_states

    rebuilt = replay(oms.settings, oms.topics, oms.codec)
    assert rebuilt.states == held
    assert len(held) == ORDERS
    assert not rebuilt.held


def test_a_refused_command_is_recorded_with_its_reason_and_changes_nothing(oms: Components) -> None:
    first = next(journey1_orders(1))
    send(oms, first[:1])  # created: status New
    illegal = RecordPicked(  # the channel has the order, but nothing can be picked while New
        envelope=CommandFactory("test").envelope(first[0].envelope.order_id), provider="bigcommerce"
    )
    send(oms, [illegal])

    with running_writer(oms) as w:
        w.wait_for(lambda wr: wr.stats.rejected == 1)
        assert w.store[first[0].envelope.order_id].version == 1

    rejected = read_all(oms.settings, [oms.topics.rejections], oms.topics.partitions)
    assert len(rejected) == 1
    rejection = oms.codec.decode(rejected[0].value())
    assert isinstance(rejection, CommandRejected)
    assert rejection.command_id == illegal.envelope.command_id
    assert first[0].envelope.order_id in rejection.error
    assert "'Order picked'" in rejection.error and "'New'" in rejection.error


def test_an_undecodable_command_goes_to_the_dead_letter_topic_with_its_origin(
    oms: Components,
) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": oms.settings.bootstrap_servers})
    producer.produce(oms.topics.commands, key=b"ORD-X", value=b"\xc3\x01garbage-fingerprint", partition=0)
    producer.produce(oms.topics.commands, key=b"ORD-Y", value=b'{"json": true}', partition=0)
    producer.flush(10)
    good = next(journey1_orders(1))
    send(oms, good)

    with running_writer(oms) as w:
        w.wait_for(lambda wr: wr.stats.dead_letters == 2 and wr.stats.events == EVENTS_PER_ORDER)

    parked = read_all(oms.settings, [oms.topics.dead_letters], oms.topics.partitions)
    assert sorted(m.key() for m in parked) == [b"ORD-X", b"ORD-Y"]
    for msg in parked:
        headers = dict(msg.headers() or [])
        assert headers["dlq.topic"].decode() == oms.topics.commands
        assert headers["dlq.partition"] == b"0"
        assert int(headers["dlq.offset"]) in (0, 1)
        assert headers["dlq.reason"]
    by_key = {m.key(): m for m in parked}
    assert b"unknown schema fingerprint" in dict(by_key[b"ORD-X"].headers())["dlq.reason"]
    assert by_key[b"ORD-Y"].value() == b'{"json": true}'  # original bytes kept


def test_a_restarted_writer_restores_state_from_the_event_topics(oms: Components, tmp_path: Path) -> None:
    orders = list(journey1_orders(10))
    send(oms, (cmd for order in orders for cmd in order[:4]))
    with running_writer(oms, store_name="first") as w:
        w.wait_for(lambda wr: wr.stats.events >= 40)

    # The writer back on a new machine, its store empty: all it knows comes from the topics.
    send(oms, (cmd for order in orders for cmd in order[4:]))
    with running_writer(oms, store_name="second") as w:
        w.wait_for(lambda wr: wr.stats.events >= 60)
    assert w.writer.stats.restored_events == 40
    assert w.writer.stats.rejected == 0
    assert {w.final_states[o[0].envelope.order_id].version for o in orders} == {EVENTS_PER_ORDER}


def test_bad_commands_are_refused_with_a_reason_and_the_writer_goes_on(oms: Components) -> None:
    """Issue 10, item 8: each bad input is a clear rejection; nothing is half-applied."""
    order = next(journey1_orders(1))
    order_id = order[0].envelope.order_id
    factory = CommandFactory("test")
    created = order[0]
    unknown_order = RecordPicked(envelope=factory.envelope("NO-SUCH-ORDER"), provider="fno")
    stranger = RecordShipped(envelope=factory.envelope(order_id), provider="flexe")
    no_action = RecordActionResult(envelope=factory.envelope(order_id), action_id="nope", success=True)
    send(oms, [created, created, unknown_order, stranger, no_action, *order[1:]])

    with running_writer(oms) as w:
        w.wait_for(lambda wr: wr.stats.rejected == 3 and wr.stats.events >= EVENTS_PER_ORDER)
        assert w.writer.stats.duplicates == 1
        assert w.store[order_id].version == EVENTS_PER_ORDER

    rejections = [
        oms.codec.decode(m.value())
        for m in read_all(oms.settings, [oms.topics.rejections], oms.topics.partitions)
    ]
    errors = {r.command_id: r.error for r in rejections if isinstance(r, CommandRejected)}
    assert "does not exist" in errors[unknown_order.envelope.command_id]
    assert "flexe reports 'Order shipped' for an order it never got" in errors[stranger.envelope.command_id]
    assert "no action 'nope' was ever requested" in errors[no_action.envelope.command_id]
