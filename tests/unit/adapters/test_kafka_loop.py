"""The one Kafka loop's pure parts: sorting a consume out, decoders, rewinding, warnings, stats.
(The loop on a real broker: tests/integration/adapters/test_kafka_loop_broker.py.)"""

from __future__ import annotations

import logging

import pytest
from confluent_kafka import KafkaError, Message

from devkit.scenarios import journey1_orders
from streams.adapters import kafka_loop
from streams.adapters.avro import UndecodableRecord
from streams.adapters.kafka_loop import (
    Batch,
    Commits,
    DeadLetterReason,
    KafkaLoop,
    LoopObservers,
    LoopStats,
    UnexpectedRecord,
    Warnings,
    models,
    reason_of,
    sort_out,
)
from streams.bootstrap import bootstrap
from streams.domain.commands import Command
from streams.domain.events import Event
from streams.settings import Settings

C = bootstrap(Settings(bootstrap_servers="127.0.0.1:1"))
"""A broker nobody answers on: these tests never talk to one."""


def record(value: bytes, partition: int = 0, offset: int = 0, topic: str = "in") -> Message:
    return Message(topic=topic, partition=partition, offset=offset, key=b"k", value=value)


def eof(partition: int, topic: str = "in") -> Message:
    return Message(topic=topic, partition=partition, offset=9, error=KafkaError(KafkaError._PARTITION_EOF))


def text(msg: Message) -> str | None:
    """A toy decoder: ``ok:...`` decodes, ``skip:...`` is someone else's, anything else is bad."""
    value = msg.value() or b""
    if value.startswith(b"skip:"):
        return None
    if not value.startswith(b"ok:"):
        raise UndecodableRecord(f"not ok: {value!r}")
    return value[3:].decode()


def test_a_consume_is_sorted_into_records_rejects_and_events_each_with_its_message() -> None:
    msgs = [
        record(b"ok:a", 0, 1),
        record(b"bad", 0, 2),
        eof(1),
        record(b"skip:x", 1, 3),
        record(b"ok:b", 1, 4),
    ]

    batch, events = sort_out(msgs, text)

    assert batch.records == ["a", "b"]
    assert [(m.partition(), m.offset()) for m in batch.messages] == [(0, 1), (1, 4)]
    assert [(m.offset(), str(exc)) for m, exc in batch.rejects] == [(2, "not ok: b'bad'")]
    assert [e.partition() for e in events] == [1]


def test_a_batch_rewinds_to_the_first_offset_of_each_partition_undecodable_records_included() -> None:
    batch, _ = sort_out([record(b"ok:a", 0, 5), record(b"bad", 0, 4), record(b"ok:b", 1, 7)], text)
    assert batch.firsts() == {("in", 0): 4, ("in", 1): 7}


def test_models_decodes_what_the_topic_carries_and_refuses_anything_else() -> None:
    command = next(journey1_orders(1))[0]
    as_command, as_event = models(C.codec, Command), models(C.codec, Event)

    assert as_command(record(C.codec.encode(command))) == command
    with pytest.raises(UnexpectedRecord, match="CreateOrder found where Event records belong"):
        as_event(record(C.codec.encode(command)))
    with pytest.raises(UndecodableRecord) as garbage:
        as_command(record(b"\xc3\x01garbage-fingerprint"))
    assert reason_of(garbage.value) is DeadLetterReason.UNDECODABLE
    assert reason_of(UnexpectedRecord("x")) is DeadLetterReason.UNEXPECTED


def test_a_repeated_client_error_is_logged_once_per_interval_with_how_many_were_quiet(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    warnings = Warnings(interval=10.0, clock=lambda: now[0])
    down = KafkaError(KafkaError._ALL_BROKERS_DOWN, "all brokers down")
    with caplog.at_level(logging.WARNING, "streams.adapters.kafka_loop"):
        for t in (0.0, 1.0, 2.0, 9.0, 10.5):
            now[0] = t
            warnings.warn("writer", down)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "(3 more like it)" in lines[1]


def test_stats_tell_the_process_observers_and_a_snapshot_does_not_move_with_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    told: list[tuple[object, ...]] = []
    observers = LoopObservers(
        consumed=lambda *a: told.append(("consumed", *a)),
        dead_lettered=lambda *a: told.append(("dead", *a)),
        lag=lambda *a: told.append(("lag", *a)),
        transaction=lambda *a: told.append(("transaction", *a)),
    )
    monkeypatch.setattr(kafka_loop, "OBSERVERS", observers)
    stats = LoopStats(group="g")
    stats.count("in", 3)
    stats.transacted(0.25)
    snapshot = stats.snapshot()
    stats.count("in", 1)
    stats.parked("in", DeadLetterReason.UNEXPECTED)
    stats.behind(("in", 2), 7)
    stats.committed()

    assert told == [
        ("consumed", "in", 3),
        ("transaction", 0.25),
        ("consumed", "in", 1),
        ("dead", "in", DeadLetterReason.UNEXPECTED),
        ("lag", "g", "in", 2, 7),
    ]
    assert (snapshot.consumed["in"], snapshot.transactions, snapshot.transaction_seconds) == (3, 1, 0.25)
    assert (stats.consumed["in"], stats.transactions, stats.commits, stats.lag) == (4, 1, 1, {("in", 2): 7})


def test_a_loop_that_moves_past_records_must_have_somewhere_to_put_the_undecodable() -> None:
    with pytest.raises(ValueError, match="must dead-letter"):
        KafkaLoop(C.settings, text, group="g", commits=Commits.AFTER_PRODUCE)
    reader = KafkaLoop(C.settings, text, group="g")
    try:
        with pytest.raises(ValueError, match="a group member must dead-letter"):
            reader.subscribe(["in"])
    finally:
        reader.close()


def test_an_empty_batch_has_nothing_to_rewind() -> None:
    assert Batch[str]([], []).firsts() == {}


class FetchedConsumer:
    """Stands in for the loop's consumer: ``queued`` is what librdkafka already fetched."""

    def __init__(self, queued: list[Message]) -> None:
        self.queued = queued
        self.calls: list[tuple[str, int, float]] = []

    def poll(self, timeout: float) -> Message | None:
        self.calls.append(("poll", 1, timeout))
        return self.queued.pop(0) if self.queued else None

    def consume(self, num_messages: int, timeout: float) -> list[Message]:
        self.calls.append(("consume", num_messages, timeout))
        taken, self.queued = self.queued[:num_messages], self.queued[num_messages:]
        return taken

    def close(self) -> None:
        return None


def test_a_batch_is_handed_on_once_a_record_is_there_with_what_else_was_fetched() -> None:
    loop = KafkaLoop(C.settings, text, batch_size=3, poll_timeout=0.5)
    loop._consumer.close()
    fake = FetchedConsumer([record(b"ok:%d" % i, offset=i) for i in range(5)])
    loop._consumer = fake  # type: ignore[assignment]
    try:
        assert loop.poll().records == ["0", "1", "2"]
        assert loop.poll().records == ["3", "4"]
        assert loop.poll().records == []
    finally:
        loop.close()
    # Waiting (up to the poll timeout) only for a first record; the rest without waiting.
    assert fake.calls == [
        ("poll", 1, 0.5),
        ("consume", 2, 0),
        ("poll", 1, 0.5),
        ("consume", 2, 0),
        ("poll", 1, 0.5),
    ]
