"""The one Kafka loop of the confluent-kafka services: consume a batch, decode, hand it to
a handler, produce, commit.

Every process that reads Kafka with confluent-kafka reads through a ``KafkaLoop``: the
order and inventory writers (transactional), DOM, the projection, replays and timelines,
the inventory view, the flow catalog feed, the backorder job and the stand-in providers.
The loop owns what each of them used to do its own way:

- **poll** in batches, never a record at a time, each handed on as soon as a record is
  there (with whatever else was fetched), never held back to fill up;
- **decode** each record with the loop's ``Decoder``; a record it cannot decode goes to
  the dead-letter topic with its reason and origin (``dead_letter``), inside the
  transaction when there is one. A loop without a dead-letter topic is a reader: the
  record stays where it is, counted (a loop that commits or joins a group must have one);
- **partition EOF**: ``caught_up`` once every assigned partition reached its end since it
  was assigned (the shell's ``/ready``); ``read_to_end`` reads a start position to the
  end and stops (saying so if a partition does not exist or no broker answers), the same
  loop serving one-shot reads and long-running ones;
- **commits** (``Commits``): none (offsets live elsewhere), after the batch's output is
  flushed, or in one transaction with it, aborted and rewound on an abortable error;
- **rebalance hooks**, errors (fatal ones raise, others warn once per interval), lag per
  partition from the consumer's watermarks, commit latency: all in ``LoopStats``, and
  told to the process-wide ``OBSERVERS`` (the shell's metrics).

Nothing here costs per record beyond the decode and two list appends: counts are per batch.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final, Generic, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from streams.adapters.avro import AvroCodec, UndecodableRecord
from streams.adapters.kafka import consumer_config, dead_letter, producer_config
from streams.adapters.watchdog import CallWatchdog
from streams.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
M = TypeVar("M")

Decoder = Callable[[Message], T | None]
"""A record's value, from its message; ``None`` skips a record that is not this loop's
(another order's, say); ``UndecodableRecord`` sends it to the dead letters."""

Where = tuple[str, int]
"""(topic, partition)."""


TXN_TIMEOUT = 10.0
"""Seconds a transaction call (init, commit, abort) may take before it is tried again."""
TXN_OFFSETS_TIMEOUT = 5.0
"""The same for ``send_offsets_to_transaction``: short, so that the watchdog ends a process
hung in it (librdkafka #5456) well before a liveness probe would (20 s in the soak)."""

TRANSACTIONAL_PRODUCER: Mapping[str, Any] = {
    # Back to back, a transaction's AddPartitionsToTxn and AddOffsetsToTxn are refused with
    # CONCURRENT_TRANSACTIONS until the coordinator has finished the one before (its commit
    # markers), a few ms; librdkafka then tries again after retry.backoff.ms, by default
    # 100 ms (doubling): most of a writer's transaction time was that wait (measured: 10
    # topics, one record each: p50 70-110 ms a transaction, 8-16 ms with 5). It still
    # doubles up to retry.backoff.max.ms (1 s) while a broker is away.
    "retry.backoff.ms": 5,
}
"""Producer settings every transactional loop starts from (its ``producer=`` overrides)."""

_COMMIT_LATER = frozenset(
    {
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.UNKNOWN_MEMBER_ID,
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError._TRANSPORT,
        KafkaError._TIMED_OUT,
    }
)
"""Commit errors a group member outlives: the offsets go with its next commit."""

_FENCED = frozenset({KafkaError._FATAL, KafkaError.FENCED_INSTANCE_ID})
"""A consumer's errors after which it cannot commit again (its static id went to another)."""


class Commits(Enum):
    """Who records how far a loop has read."""

    NONE = "none"
    """The loop commits nothing: offsets live elsewhere (the projection's store), nowhere
    (a replay), or the handler calls ``commit`` when it knows what is done (DOM)."""
    AFTER_PRODUCE = "after-produce"
    """After each batch, flush what the handler produced, then commit the positions: at
    least once (a crash in between produces again; deterministic ids make that a no-op)."""
    TRANSACTIONAL = "transactional"
    """The handler runs ``transaction(work, batch)``: what it produces and the batch's
    offsets commit together or not at all (exactly once)."""


class DeadLetterReason(Enum):
    """Why a record was parked: the closed set behind ``oms_dead_letters_total{reason}``
    (the ``dlq.reason`` header carries the full text)."""

    UNDECODABLE = "undecodable"
    UNEXPECTED = "unexpected"
    """It decodes, but is not what the topic carries (an event on a command topic)."""


class UnexpectedRecord(UndecodableRecord):
    """A record that decodes to a model this loop does not read."""


def reason_of(exc: UndecodableRecord) -> DeadLetterReason:
    return DeadLetterReason.UNEXPECTED if isinstance(exc, UnexpectedRecord) else DeadLetterReason.UNDECODABLE


def models(codec: AvroCodec, kind: type[M]) -> Decoder[M]:
    """Decode with ``codec``; anything but a ``kind`` is an ``UnexpectedRecord``."""
    decode = codec.decode
    name = kind.__name__

    def decoder(msg: Message) -> M:
        record = decode(msg.value())  # type: ignore[arg-type]  # None: "too short", undecodable
        if isinstance(record, kind):
            return record
        raise UnexpectedRecord(f"{type(record).__name__} found where {name} records belong")

    return decoder


@dataclass(slots=True)
class Batch(Generic[T]):
    """One ``consume``: the decoded records and the messages they came from, side by side."""

    records: list[T]
    messages: list[Message]
    """``records[i]`` came from ``messages[i]`` (its partition and offset)."""
    rejects: list[tuple[Message, UndecodableRecord]] = field(default_factory=list)
    """Records that did not decode (dead-lettered by the loop, or counted by a reader)."""
    settled: bool = False
    """Set by ``KafkaLoop.transaction``: a transactional handler must settle its batch."""

    def __len__(self) -> int:
        return len(self.records)

    def firsts(self) -> dict[Where, int]:
        """The first offset of each partition in the batch (where to rewind to)."""
        out: dict[Where, int] = {}
        for msg in [*self.messages, *(m for m, _ in self.rejects)]:
            key, offset = (msg.topic() or "", msg.partition() or 0), msg.offset() or 0
            if offset < out.get(key, offset + 1):
                out[key] = offset
        return out


def sort_out(msgs: list[Message], decode: Decoder[T]) -> tuple[Batch[T], list[Message]]:
    """A consume's messages decoded: the batch, and the events that are not records (a
    partition's EOF, an error) in the order they came."""
    batch: Batch[T] = Batch([], [])
    records, messages, rejects = batch.records, batch.messages, batch.rejects
    events = []
    for msg in msgs:
        if msg.error() is not None:
            events.append(msg)
            continue
        try:
            record = decode(msg)
        except UndecodableRecord as exc:
            rejects.append((msg, exc))
            continue
        if record is not None:
            records.append(record)
            messages.append(msg)
    return batch, events


@dataclass
class LoopObservers:
    """Process-wide hooks that every loop's ``LoopStats`` tells as it counts: the process
    shell points them at its Prometheus metrics once, at start (``OBSERVERS``)."""

    consumed: Callable[[str, int], None] | None = None
    """(topic, records) per batch: ``oms_records_consumed_total``."""
    dead_lettered: Callable[[str, DeadLetterReason], None] | None = None
    """(topic, reason): ``oms_dead_letters_total``."""
    lag: Callable[[str, str, int, int], None] | None = None
    """(group, topic, partition, records behind), every few seconds: ``oms_consumer_lag``."""
    transaction: Callable[[float], None] | None = None
    """Seconds each ``commit_transaction`` took: ``oms_transaction_commit_seconds``."""


OBSERVERS = LoopObservers()


@dataclass
class LoopStats:
    """What a loop did, for the process shell to export (``oms_records_consumed_total``,
    ``oms_dead_letters_total``, ``oms_consumer_lag``, ``oms_transaction_commit_seconds``),
    read by ``/ready`` (``assigned``, ``caught_up``); each count is told to ``OBSERVERS``.

    Written by the loop's thread; ``snapshot`` is safe from any other.
    """

    group: str = ""
    consumed: Counter[str] = field(default_factory=Counter)
    """Records read, per topic."""
    dead_letters: Counter[tuple[str, DeadLetterReason]] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    """Undecodable records a reader left in their topic, per topic."""
    lag: dict[Where, int] = field(default_factory=dict)
    """Records between the position and the high watermark, per assigned partition."""
    commits: int = 0
    """Offset commits outside transactions."""
    rejoins: int = 0
    """Times the consumer was replaced after a fatal error (fenced) and joined again."""
    transactions: int = 0
    """Transactions committed (their records and offsets at once)."""
    transaction_seconds: float = 0.0
    """Total time spent in ``commit_transaction``."""
    assigned: frozenset[Where] = frozenset()
    caught_up: bool = False
    """Every assigned partition reached its end since it was assigned."""

    def count(self, topic: str, records: int) -> None:
        self.consumed[topic] += records
        if OBSERVERS.consumed is not None:
            OBSERVERS.consumed(topic, records)

    def parked(self, topic: str, reason: DeadLetterReason) -> None:
        self.dead_letters[(topic, reason)] += 1
        if OBSERVERS.dead_lettered is not None:
            OBSERVERS.dead_lettered(topic, reason)

    def behind(self, where: Where, records: int) -> None:
        self.lag[where] = records
        if OBSERVERS.lag is not None:
            OBSERVERS.lag(self.group, where[0], where[1], records)

    def committed(self) -> None:
        self.commits += 1

    def transacted(self, seconds: float) -> None:
        self.transactions += 1
        self.transaction_seconds += seconds
        if OBSERVERS.transaction is not None:
            OBSERVERS.transaction(seconds)

    def snapshot(self) -> LoopStats:
        return LoopStats(
            self.group,
            Counter(dict(self.consumed)),
            Counter(dict(self.dead_letters)),
            Counter(dict(self.skipped)),
            dict(self.lag),
            self.commits,
            self.rejoins,
            self.transactions,
            self.transaction_seconds,
            self.assigned,
            self.caught_up,
        )


class Publisher:
    """A producer that waits for room when its queue is full, and whose ``flush`` says
    what it could not deliver (the command bus, the inventory feed, every loop's output)."""

    def __init__(self, settings: Settings, **config: Any) -> None:
        self.producer = Producer(producer_config(settings, **config))

    def send(self, topic: str, key: bytes | None, value: bytes, partition: int | None = None) -> None:
        while True:
            try:
                if partition is None:
                    self.producer.produce(topic, key=key, value=value)
                else:
                    self.producer.produce(topic, key=key, value=value, partition=partition)
                break
            except BufferError:  # local queue full: let deliveries drain, then retry
                self.producer.poll(0.1)
        self.producer.poll(0)

    def flush(self, timeout: float = 30.0, what: str = "records") -> None:
        remaining = self.producer.flush(timeout)
        if remaining:
            raise TimeoutError(f"{remaining} {what} not delivered within {timeout}s")


class Warnings:
    """One warning per error code per ``interval``: a broker that is down does not flood the log."""

    def __init__(self, interval: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._last: dict[int, float] = {}
        self._quiet: Counter[int] = Counter()

    def warn(self, name: str, error: KafkaError) -> None:
        code, now = error.code(), self._clock()
        if now - self._last.get(code, -self.interval) < self.interval:
            self._quiet[code] += 1
            return
        more = f" ({self._quiet.pop(code)} more like it)" if self._quiet.get(code) else ""
        self._last[code] = now
        log.warning("%s: %s%s", name, error, more)


Hook = Callable[[list[TopicPartition]], None]


class KafkaLoop(Generic[T]):
    r"""One consumer (and the producer of what its handler writes), run the one way.

    ``group`` names a consumer group to ``subscribe`` to (or only the name its offsets
    are committed under, for a reader that ``assign``\ s its partitions). A loop that
    moves past records for good (a group member, or ``Commits`` other than ``NONE``)
    must have a ``dead_letters`` topic; a reader without one skips what it cannot decode
    and counts it in ``stats.skipped`` (the record stays in its topic).
    """

    def __init__(
        self,
        settings: Settings,
        decode: Decoder[T],
        *,
        group: str | None = None,
        commits: Commits = Commits.NONE,
        dead_letters: str | None = None,
        produces: bool = False,
        consumer: Mapping[str, Any] | None = None,
        producer: Mapping[str, Any] | None = None,
        batch_size: int = 1000,
        poll_timeout: float = 0.1,
        on_assign: Hook | None = None,
        on_revoke: Hook | None = None,
        name: str = "",
        stats: LoopStats | None = None,
    ) -> None:
        if commits is not Commits.NONE and dead_letters is None:
            raise ValueError("a loop that commits past records must dead-letter what it cannot decode")
        self.name = name or group or "reader"
        self.commits = commits
        self.batch_size = batch_size
        self.poll_timeout = poll_timeout
        self.stats = stats or LoopStats()
        self.stats.group = group or ""
        self._decode = decode
        self._dead_letters = dead_letters
        self._on_assign, self._on_revoke = on_assign, on_revoke
        self._consumer_config = consumer_config(
            settings, group, **{"enable.partition.eof": True, **(consumer or {})}
        )
        self._consumer = Consumer(self._consumer_config)
        self._topics: list[str] = []
        """What ``subscribe`` joined the group on (to join it again after a fencing)."""
        self.publisher: Publisher | None = None
        if produces or dead_letters is not None or commits is not Commits.NONE:
            base = TRANSACTIONAL_PRODUCER if commits is Commits.TRANSACTIONAL else {}
            self.publisher = Publisher(settings, **{**base, **(producer or {})})
        self._transactional = commits is Commits.TRANSACTIONAL
        self._transactions_ready = False
        self._pending: set[Where] = set()
        """Assigned partitions that have not reached their end since they were assigned."""
        self._committed: dict[Where, int] = {}
        self._strict = False
        self._warnings = Warnings()
        self._lag_due = 0.0
        self.watchdog = CallWatchdog(self.name)

    # -- what to read
    def subscribe(self, topics: list[str]) -> None:
        """Join the group on ``topics``: its members share their partitions (and commit)."""
        if self._dead_letters is None:
            raise ValueError(f"{self.name}: a group member must dead-letter what it cannot decode")
        self._topics = list(topics)
        self._consumer.subscribe(topics, on_assign=self._assigned, on_revoke=self._revoked)

    def _rejoin(self, error: KafkaError) -> None:
        """Leave the group with the consumer a fatal error ended, and join it again with a
        new one. After a broker restart, librdkafka's static member can be fenced by its own
        second JoinGroup ("fenced by other consumer with same group.instance.id"): the
        consumer is dead from then on, while the process looks alive. What it had read but
        not committed is read again by the new one (from the committed offsets)."""
        log.warning("%s: %s; joining the group again with a new consumer", self.name, error)
        with contextlib.suppress(KafkaException, RuntimeError):
            self._consumer.close()
        still = [TopicPartition(t, p) for t, p in self.stats.assigned]
        if still:  # a fenced consumer's close may not revoke: they are gone all the same
            self._revoked(self._consumer, still)
        self.stats.rejoins += 1
        self._consumer = Consumer(self._consumer_config)
        self._consumer.subscribe(self._topics, on_assign=self._assigned, on_revoke=self._revoked)

    def assign(self, start: Mapping[Where, int]) -> None:
        """Read these partitions from these offsets (a reader: no group, no rebalance)."""
        self._consumer.assign([TopicPartition(t, p, o) for (t, p), o in start.items()])
        self._pending = set(start)
        self.stats.assigned = frozenset(start)
        self.stats.caught_up = not self._pending

    def unassign(self) -> None:
        """Stop reading (a reader between reads): librdkafka fetches ahead for every
        assigned partition, polled or not, so an idle reader would keep pulling records."""
        self._consumer.unassign()
        self._pending = set()
        self.stats.assigned = frozenset()
        self.stats.caught_up = True

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        new = {(tp.topic, tp.partition) for tp in partitions}
        self._pending |= new
        self.stats.assigned = self.stats.assigned | new
        self.stats.caught_up = not self._pending
        if self._on_assign is not None:
            self._on_assign(partitions)

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self._on_revoke is not None:  # first: it may commit what it finished on them
            self._on_revoke(partitions)
        gone = {(tp.topic, tp.partition) for tp in partitions}
        self._pending -= gone
        self.stats.assigned = self.stats.assigned - gone
        self.stats.caught_up = not self._pending
        for where in gone:  # whoever gets them next commits them
            self.stats.lag.pop(where, None)
            self._committed.pop(where, None)

    @property
    def caught_up(self) -> bool:
        return self.stats.caught_up

    # -- one batch
    def poll(self, timeout: float | None = None) -> Batch[T]:
        """Consume one batch and decode it. Outside a transaction, undecodable records go
        to the dead letters now; a transactional loop parks them in ``transaction``."""
        try:
            msgs = self._fetched(self.poll_timeout if timeout is None else timeout)
        except KafkaException as exc:
            if not self._fenced(exc.args[0]):
                raise
            self._rejoin(exc.args[0])
            msgs = []
        if not msgs:
            batch: Batch[T] = Batch([], [])
        else:
            batch, events = sort_out(msgs, self._decode)
            for event in events:
                self._error(event)
            self._count(msgs, len(events))
            if batch.rejects and not self._transactional:
                self._park(batch)
        if time.monotonic() >= self._lag_due:
            self.measure_lag()
        return batch

    def _fetched(self, timeout: float) -> list[Message]:
        """Up to ``batch_size`` records, handed on as soon as there is one: wait up to
        ``timeout`` for the first, then take what else is already fetched without waiting.
        ``consume(n, timeout)`` alone waits out the whole timeout unless ``n`` records come
        (measured: a lone record waited 1,000 ms in ``consume(1000, 1.0)``, 0.1 ms this
        way), so batches used to cost every hop up to a poll timeout. Batches still grow
        under load, by themselves: what arrives while a batch is handled is the next one.
        An idle loop blocks in ``poll``, as before: no busy wait."""
        first = self._consumer.poll(timeout)
        if first is None:
            return []
        if self.batch_size <= 1:
            return [first]
        return [first, *self._consumer.consume(self.batch_size - 1, 0)]

    def _count(self, msgs: list[Message], events: int) -> None:
        first = msgs[0].topic() or ""
        if not events and msgs[-1].topic() == first:
            self.stats.count(first, len(msgs))  # the usual case: one topic, cheap
        elif len(msgs) > events:
            for topic, n in Counter(m.topic() or "" for m in msgs if m.error() is None).items():
                self.stats.count(topic, n)

    def _error(self, msg: Message) -> None:
        err = msg.error()
        assert err is not None
        if err.code() == KafkaError._PARTITION_EOF:
            self._pending.discard((msg.topic() or "", msg.partition() or 0))
            if not self._pending:
                self.stats.caught_up = True
            return
        if self._fenced(err):
            self._rejoin(err)
            return
        if err.fatal() or self._strict:
            raise KafkaException(err)
        self._warnings.warn(self.name, err)

    def _fenced(self, error: object) -> bool:
        """A group member's consumer is unusable (fatal, or its offsets refused as fenced): rejoin."""
        return (
            bool(self._topics)
            and isinstance(error, KafkaError)
            and (error.code() in _FENCED or error.fatal())
        )

    def _park(self, batch: Batch[T]) -> None:
        """Dead-letter (or, for a reader, count) the batch's undecodable records."""
        for msg, exc in batch.rejects:
            topic = msg.topic() or ""
            if self._dead_letters is None or self.publisher is None:
                self.stats.skipped[topic] += 1
                log.error(
                    "%s: skipped undecodable %s[%s]@%s: %s",
                    self.name,
                    topic,
                    msg.partition(),
                    msg.offset(),
                    exc,
                )
                continue
            dead_letter(self.publisher.producer, self._dead_letters, msg, str(exc))
            self.stats.parked(topic, reason_of(exc))

    def measure_lag(self, every: float = 5.0) -> None:
        """Update ``stats.lag`` from the watermarks of the last fetches (no broker call);
        ``poll`` does it every ``every`` seconds."""
        self._lag_due = time.monotonic() + every
        assigned = self.stats.assigned
        if not assigned:
            return
        for tp in self._consumer.position([TopicPartition(t, p) for t, p in assigned]):
            if tp.offset < 0:
                continue
            _low, high = self._consumer.get_watermark_offsets(tp, cached=True)
            if high >= 0:
                self.stats.behind((tp.topic, tp.partition), max(0, high - tp.offset))

    # -- commits
    def positions(self) -> list[TopicPartition]:
        """Where the consumer is on each assigned partition it has read (past transaction
        markers, unlike last offset + 1)."""
        assigned = [TopicPartition(t, p) for t, p in self.stats.assigned]
        return [tp for tp in self._consumer.position(assigned) if tp.offset >= 0] if assigned else []

    def commit(self, offsets: list[TopicPartition] | None = None, *, asynchronous: bool = False) -> None:
        """Commit ``offsets`` (default: the positions) that moved since the last commit,
        after what was produced is delivered. Positions are past the commit markers of
        transactions, so a caught-up group's lag reads 0 (last record + 1 would read 1)."""
        offsets = self.positions() if offsets is None else offsets
        moved = [tp for tp in offsets if self._committed.get((tp.topic, tp.partition)) != tp.offset]
        if not moved:
            return
        if self.publisher is not None:
            self.publisher.flush(30)
        try:
            if asynchronous:
                self._consumer.commit(offsets=moved, asynchronous=True)
            else:
                self._consumer.commit(offsets=moved, asynchronous=False)
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() in _COMMIT_LATER or error.retriable():
                # The coordinator moved or the group is rebalancing (a broker restart): the
                # next commit carries these offsets too; if the partitions went to another
                # member, it reads from the last commit (at least once, deterministic ids).
                self._warnings.warn(f"{self.name}: commit (again with the next one)", error)
                return
            if error.code() != KafkaError._NO_OFFSET:
                raise
        self._committed.update({(tp.topic, tp.partition): tp.offset for tp in moved})
        self.stats.committed()

    def transaction(self, work: Callable[[], None], batch: Batch[T] | None = None) -> bool:
        """Run ``work`` (which produces through ``publisher``) in one transaction with the
        batch's undecodable records dead-lettered and its offsets, if a batch. False if the
        transaction was aborted: the batch is rewound, to be read again. A retriable error
        (the broker away for a while) is retried until the broker answers; a call that
        outlives its timeout ends the process (``watchdog``)."""
        producer = self._transactions()
        producer.begin_transaction()
        try:
            if batch is not None:
                batch.settled = True
                self._park(batch)
            work()
            if batch is not None:
                metadata = self._consumer.consumer_group_metadata()
                positions = self.positions()
                self._call(
                    "send_offsets_to_transaction",
                    TXN_OFFSETS_TIMEOUT,
                    lambda t: producer.send_offsets_to_transaction(positions, metadata, t),
                )
            began = time.monotonic()
            self._call("commit_transaction", TXN_TIMEOUT, producer.commit_transaction)
        except KafkaException as exc:
            error = exc.args[0]
            if not (isinstance(error, KafkaError) and error.txn_requires_abort()):
                raise
            log.warning("%s: aborting transaction: %s; the batch will be read again", self.name, error)
            self._call("abort_transaction", TXN_TIMEOUT, producer.abort_transaction)
            if batch is not None:
                self.rewind(batch)
            if self._fenced(error):  # the offsets were refused: this consumer is done for
                self._rejoin(error)
            return False
        except Exception:
            # The work failed: nothing of it may become visible, nor hold readers back
            # until the transaction times out.
            with contextlib.suppress(KafkaException):
                producer.abort_transaction(TXN_TIMEOUT)
            raise
        self.stats.transacted(time.monotonic() - began)
        return True

    def _call(self, what: str, timeout: float, call: Callable[[float], object]) -> None:
        """A blocking transaction call, again while it fails retriably (the coordinator
        away, a timeout), each try under the watchdog."""
        while True:
            try:
                with self.watchdog.guard(what, timeout):
                    call(timeout)
                return
            except KafkaException as exc:
                error = exc.args[0]
                if not (isinstance(error, KafkaError) and error.retriable()):
                    raise
                self._warnings.warn(f"{self.name}: {what} (retrying)", error)

    def _transactions(self) -> Producer:
        """The transactional producer, its transactions initialised (which fences a zombie
        predecessor with the same ``transactional.id``)."""
        if not self._transactional or self.publisher is None:
            raise RuntimeError(f"{self.name}: transactions need Commits.TRANSACTIONAL")
        if not self._transactions_ready:
            self._call("init_transactions", TXN_TIMEOUT, self.publisher.producer.init_transactions)
            self._transactions_ready = True
        return self.publisher.producer

    def rewind(self, batch: Batch[T]) -> None:
        for (topic, partition), offset in batch.firsts().items():
            self._consumer.seek(TopicPartition(topic, partition, offset))

    # -- running
    def run(
        self,
        handle: Callable[[Batch[T]], None],
        stop: threading.Event,
        *,
        tick: Callable[[], None] | None = None,
        tick_every: float = 0.5,
        until_caught_up: bool = False,
    ) -> None:
        """Hand each batch with records or undecodable ones to ``handle`` until ``stop`` is
        set (or, with ``until_caught_up``, every partition is at its end); ``tick`` between
        batches. A transactional handler settles its batch with ``transaction``."""
        if self._transactional:
            self._transactions()
        last_tick = time.monotonic()
        while not stop.is_set():
            batch = self.poll()
            if batch.records or batch.rejects:
                self._dispatch(handle, batch)
            if self.commits is Commits.AFTER_PRODUCE:
                self.commit()  # also when idle: the position moves past a trailing marker
            if until_caught_up and self.caught_up:
                return
            if tick is not None and time.monotonic() - last_tick >= tick_every:
                last_tick = time.monotonic()
                tick()

    def _dispatch(self, handle: Callable[[Batch[T]], None], batch: Batch[T]) -> None:
        handle(batch)  # undecodable records only, maybe: it may count them
        if self._transactional and not batch.settled:
            raise RuntimeError(f"{self.name}: a transactional handler must settle its batch")

    def read_to_end(self, start: Mapping[Where, int] | None = None) -> Iterator[Batch[T]]:
        """Batches until every partition is at its end (from ``start``, if given: assigned
        here, once they are known to exist). End is the partition-EOF event, not the high
        watermark: transaction markers take offsets no consumer sees, so a position may stay
        below it for ever. Any error but EOF raises: a one-shot read that cannot read says so."""
        if start is not None:
            self._exist(start)
            self.assign(start)
        self._strict = True
        try:
            while self._pending:
                batch = self.poll()
                if batch.records or batch.rejects:
                    yield batch
        finally:
            self._strict = False

    def _exist(self, start: Mapping[Where, int], timeout: float = 10.0) -> None:
        """Raise unless every partition exists: a consumer waits for ever on one that does
        not, without a word (and ``list_topics`` says within ``timeout`` if no broker answers).
        A topic just created reaches each broker of a cluster a moment apart: asked again
        until ``timeout`` before it counts as missing."""
        deadline = time.monotonic() + timeout
        while True:
            topics = self._consumer.list_topics(timeout=timeout).topics
            missing = sorted(
                f"{t}[{p}]" for t, p in start if t not in topics or p not in topics[t].partitions
            )
            if not missing or time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        if missing:
            error = KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART, f"no such partitions: {', '.join(missing)}")
            raise KafkaException(error)

    def close(self) -> None:
        """Close the consumer (leaving its group at once) and deliver what is queued."""
        self.watchdog.close()
        try:
            self._consumer.close()
        finally:
            if self.publisher is not None:
                self.publisher.producer.flush(10)


CATCH_UP: Final[Mapping[str, Any]] = {"fetch.wait.max.ms": 10}
"""The consumer settings of a reader that reads to the end and stops: the broker answers a
fetch with nothing new at once. librdkafka's default holds it 500 ms, which every read to
the end paid at its last fetch (measured: 0.57 s to read an empty topic to its end, 0.08 s
with this): half a second of a writer's restart, of ``oms show``, of each catch-up. Not for
a loop that stays: idle, it would fetch a hundred times a second."""

FEED: Final[Mapping[str, Any]] = {"fetch.wait.max.ms": 100}
"""A loop that reads a small topic to its end at start and then follows it (the flow
catalog, the control topic): a read to the end in ~0.15 s instead of ~0.6 s, and ten idle
fetches a second, not a hundred."""


def read_to_end(
    settings: Settings, start: Mapping[Where, int], decode: Decoder[T], **consumer: Any
) -> Iterator[Batch[T]]:
    """A one-shot read of ``start`` ((topic, partition) -> offset) to the end, by a fresh reader."""
    if not start:
        return
    loop = KafkaLoop(settings, decode, consumer={**CATCH_UP, **consumer}, batch_size=5000)
    try:
        yield from loop.read_to_end(start)
    finally:
        loop.close()


def read_all(settings: Settings, start: Mapping[Where, int], decode: Decoder[T], **consumer: Any) -> list[T]:
    """Every record of a one-shot read (``read_to_end``), decoded, in partition order."""
    return [record for batch in read_to_end(settings, start, decode, **consumer) for record in batch.records]
