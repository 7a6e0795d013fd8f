"""The one Kafka loop on a real broker: transactional and not, dead letters with their
origin, partition EOF and caught-up, rebalance hooks, lag."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Message
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]
from waits import wait_for

from streams.adapters.avro import UndecodableRecord
from streams.adapters.kafka import admin, consumer_config
from streams.adapters.kafka_loop import Batch, Commits, DeadLetterReason, KafkaLoop, Publisher, read_all
from streams.settings import Settings

GOOD = [f"ok:{i}".encode() for i in range(10)]
BAD = b"\x00not-ok"


def text(msg: Message) -> str:
    value = msg.value() or b""
    if not value.startswith(b"ok:"):
        raise UndecodableRecord("not ok")
    return value.decode()


def raw(msg: Message) -> Message:
    return msg


@dataclass
class Topics:
    settings: Settings
    inbound: str
    outbound: str
    dead: str


@pytest.fixture
def topics(kafka_bootstrap: str, topic_prefix: str) -> Iterator[Topics]:
    settings = Settings(bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix)
    t = Topics(settings, f"{topic_prefix}in", f"{topic_prefix}out", f"{topic_prefix}dead")
    client = admin(settings)
    futures = client.create_topics(
        [NewTopic(t.inbound, 2, 1), NewTopic(t.outbound, 1, 1), NewTopic(t.dead, 1, 1)], operation_timeout=30
    )
    for future in futures.values():
        future.result()
    publisher = Publisher(settings)
    for i, value in enumerate(GOOD):
        publisher.send(t.inbound, None, value, partition=i % 2)
    publisher.send(t.inbound, None, BAD, partition=1)
    publisher.flush()
    yield t
    client.delete_topics([t.inbound, t.outbound, t.dead], operation_timeout=30)


def everything(t: Topics, topic: str, partitions: int = 1) -> list[Message]:
    return read_all(t.settings, {(topic, p): 0 for p in range(partitions)}, raw)


def run_until(loop: KafkaLoop[str], handle: Callable[[Batch[str]], None], done: Callable[[], bool]) -> None:
    """``loop.run`` in this thread until ``done`` (checked after each batch), for at most 60 s."""
    stop = threading.Event()
    watchdog = threading.Timer(60, stop.set)
    watchdog.start()

    def handled(batch: Batch[str]) -> None:
        handle(batch)
        if done():
            stop.set()

    try:
        loop.run(handled, stop, tick=lambda: stop.set() if done() else None)
    finally:
        watchdog.cancel()
    assert done(), "the loop did not get there in 60 s"


def test_a_transactional_loop_aborts_and_rewinds_then_writes_each_record_once(topics: Topics) -> None:
    loop = KafkaLoop(
        topics.settings,
        text,
        group=f"{topics.inbound}-tx",
        commits=Commits.TRANSACTIONAL,
        dead_letters=topics.dead,
        producer={"transactional.id": f"{topics.inbound}-tx-1"},
    )
    committed: list[str] = []
    attempts: list[int] = []

    def handle(batch: Batch[str]) -> None:
        def work() -> None:
            assert loop.publisher is not None
            for value in batch.records:
                loop.publisher.send(topics.outbound, None, value.encode())
            attempts.append(len(batch.records))
            if len(attempts) == 1:  # the first transaction fails after producing
                raise KafkaException(KafkaError(KafkaError._STATE, "injected", txn_requires_abort=True))

        if loop.transaction(work, batch):
            committed.extend(batch.records)

    loop.subscribe([topics.inbound])
    try:
        run_until(loop, handle, lambda: len(committed) == len(GOOD))
    finally:
        loop.close()

    assert len(attempts) >= 2
    out = everything(topics, topics.outbound)  # read_committed: the aborted attempt is invisible
    assert sorted(m.value() or b"" for m in out) == sorted(GOOD)
    parked = everything(topics, topics.dead)
    assert [m.value() for m in parked] == [BAD]  # once, though its first transaction aborted
    assert loop.stats.dead_letters[(topics.inbound, DeadLetterReason.UNDECODABLE)] >= 1
    assert loop.stats.transactions >= 1 and loop.stats.transaction_seconds > 0


def test_after_produce_the_group_resumes_past_what_it_answered_and_the_dead_letter_has_its_origin(
    topics: Topics,
) -> None:
    group = f"{topics.inbound}-plain"
    answered: list[str] = []

    def first_member() -> KafkaLoop[str]:
        return KafkaLoop(
            topics.settings, text, group=group, commits=Commits.AFTER_PRODUCE, dead_letters=topics.dead
        )

    loop = first_member()

    def handle(batch: Batch[str]) -> None:
        assert loop.publisher is not None
        for value in batch.records:
            loop.publisher.send(topics.outbound, None, value.encode())
        answered.extend(batch.records)

    loop.subscribe([topics.inbound])
    try:
        run_until(loop, handle, lambda: len(answered) == len(GOOD) and bool(loop.stats.dead_letters))
    finally:
        loop.close()

    [parked] = everything(topics, topics.dead)
    headers = dict(parked.headers() or [])
    assert parked.value() == BAD  # the original bytes
    assert headers["dlq.topic"].decode() == topics.inbound
    assert headers["dlq.partition"] == b"1"
    assert int(headers["dlq.offset"]) == len(GOOD) // 2
    assert headers["dlq.reason"] == b"not ok"
    assert loop.stats.consumed[topics.inbound] == len(GOOD) + 1
    assert loop.stats.commits >= 1

    again = first_member()
    seen: list[str] = []
    again.subscribe([topics.inbound])
    try:
        run_until(again, seen.extend, lambda: again.caught_up and len(again.stats.assigned) == 2)
    finally:
        again.close()
    assert seen == []  # everything was committed, the dead letter's offset included


def test_a_reader_reads_to_the_end_counting_what_it_cannot_decode_and_is_caught_up(topics: Topics) -> None:
    loop = KafkaLoop(topics.settings, text, name="reader")
    try:
        loop.assign({(topics.inbound, 0): 0, (topics.inbound, 1): 0})
        assert not loop.caught_up
        read = [value for batch in loop.read_to_end() for value in batch.records]
        assert loop.caught_up
        positions = {tp.partition: tp.offset for tp in loop.positions()}
    finally:
        loop.close()
    assert sorted(read) == sorted(g.decode() for g in GOOD)
    assert (loop.stats.consumed[topics.inbound], loop.stats.skipped[topics.inbound]) == (len(GOOD) + 1, 1)
    assert positions == {0: len(GOOD) // 2, 1: len(GOOD) // 2 + 1}
    assert everything(topics, topics.dead) == []  # a reader writes nothing


def test_rebalance_hooks_hand_partitions_over_between_members(topics: Topics) -> None:
    group = f"{topics.inbound}-members"
    assigned: dict[str, list[set[int]]] = {"a": [], "b": []}
    revoked: list[set[int]] = []

    def member(name: str) -> KafkaLoop[str]:
        return KafkaLoop(
            topics.settings,
            text,
            group=group,
            dead_letters=topics.dead,
            consumer={"session.timeout.ms": 6000, "heartbeat.interval.ms": 500},
            on_assign=lambda tps: assigned[name].append({tp.partition for tp in tps}),
            on_revoke=lambda tps: revoked.append({tp.partition for tp in tps}) if name == "a" else None,
            name=name,
        )

    a, b = member("a"), member("b")
    stop = threading.Event()
    threads = [threading.Thread(target=m.run, args=(lambda batch: None, stop), daemon=True) for m in (a, b)]
    a.subscribe([topics.inbound])
    threads[0].start()
    try:
        wait_for("a owns both partitions", lambda: assigned["a"][-1:] == [{0, 1}])
        b.subscribe([topics.inbound])
        threads[1].start()
        wait_for(
            "the partitions are shared",
            lambda: (
                bool(assigned["b"])
                and len(assigned["a"]) >= 2
                and not (assigned["a"][-1] & assigned["b"][-1])
            ),
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        a.close()
        b.close()
    assert revoked and revoked[0] == {0, 1}
    assert assigned["a"][-1] | assigned["b"][-1] == {0, 1}
    assert len(a.stats.assigned) == 0  # closing left the group: nothing is assigned any more


def test_lag_comes_from_the_watermarks_of_what_was_fetched(topics: Topics) -> None:
    loop = KafkaLoop(topics.settings, text, batch_size=2, name="slow reader")
    try:
        loop.assign({(topics.inbound, 0): 0})
        read = 0
        deadline = time.monotonic() + 30
        while read < 2 and time.monotonic() < deadline:
            read += len(loop.poll(0.5).records)
        loop.measure_lag()
    finally:
        loop.close()
    assert read == 2
    assert loop.stats.lag == {(topics.inbound, 0): len(GOOD) // 2 - 2}


def test_a_one_shot_read_of_a_topic_that_does_not_exist_says_so(topics: Topics) -> None:
    with pytest.raises(KafkaException):
        read_all(
            topics.settings,
            {(f"{topics.inbound}-missing", 0): 0},
            raw,
            **{"topic.metadata.refresh.interval.ms": 1000},
        )


def test_a_batch_of_undecodable_records_only_reaches_the_handler_and_is_parked_in_its_transaction(
    topics: Topics,
) -> None:
    def nothing_decodes(msg: Message) -> str:
        raise UndecodableRecord("no")

    loop = KafkaLoop(
        topics.settings,
        nothing_decodes,
        group=f"{topics.inbound}-bad",
        commits=Commits.TRANSACTIONAL,
        dead_letters=topics.dead,
        producer={"transactional.id": f"{topics.inbound}-bad-1"},
    )
    rejected: list[int] = []

    def handle(batch: Batch[str]) -> None:
        assert batch.records == []
        if loop.transaction(lambda: None, batch):
            rejected.append(len(batch.rejects))

    loop.subscribe([topics.inbound])
    try:
        run_until(loop, handle, lambda: sum(rejected) == len(GOOD) + 1)
    finally:
        loop.close()
    assert len(everything(topics, topics.dead)) == len(GOOD) + 1


def test_a_static_member_fenced_by_its_own_instance_id_joins_again_and_commits_on(topics: Topics) -> None:
    # Given a transactional group member with a static instance id, reading
    group, instance = f"{topics.inbound}-static", "writer-1"
    static = {"group.instance.id": instance, "session.timeout.ms": 6000}
    loop = KafkaLoop(
        topics.settings,
        text,
        group=group,
        commits=Commits.TRANSACTIONAL,
        dead_letters=topics.dead,
        consumer=static,
        producer={"transactional.id": f"{group}-1"},
    )
    committed: list[str] = []

    def handle(batch: Batch[str]) -> None:
        if loop.transaction(lambda: None, batch):
            committed.extend(batch.records)

    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(handle, stop), daemon=True)
    loop.subscribe([topics.inbound])
    thread.start()
    try:
        wait_for("the member committed what is there", lambda: len(committed) == len(GOOD))
        # When another consumer joins with the same instance id (what librdkafka's own
        # second JoinGroup does after a broker restart), fencing the member for good
        twin = Consumer(consumer_config(topics.settings, group, **static))
        twin.subscribe([topics.inbound])
        deadline = time.monotonic() + 30
        while not twin.assignment() and time.monotonic() < deadline:
            twin.poll(0.2)
        twin.close()
        # Then it joins again with a new consumer and commits what comes next
        publisher = Publisher(topics.settings)
        publisher.send(topics.inbound, None, b"ok:after", partition=0)
        publisher.flush()
        wait_for("the record after the fencing is committed", lambda: "ok:after" in committed)
    finally:
        stop.set()
        thread.join(30)
        loop.close()
    assert loop.stats.rejoins >= 1
