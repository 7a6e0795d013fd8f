"""The measured stages. Each returns events, seconds and what it checked.

The read stages share one consumer configuration (the replay's), so their differences
are the work done per record: nothing, Avro decode, decode to models, decode + fold.
"""

from __future__ import annotations

import cProfile
import importlib.util
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from bench.child import DONE, ChildStage
from bench.profiling import REPLAY_STEPS, WRITER_STEPS, Breakdown, breakdown
from bench.progress import Ticker, say
from streams.adapters.command_bus import CommandBus
from streams.adapters.http.read_model import Stats
from streams.adapters.kafka import consumer_config
from streams.adapters.order_store import OrderStore
from streams.bootstrap import Components, bootstrap
from streams.domain.commands import Command
from streams.services.projection import ProjectionRunner, fold_shards, open_shards, projection_at, store_path
from streams.services.replay import READER, Progress, replay, replay_summary
from streams.services.writer import OrderWriter
from streams.settings import REPO_ROOT


@dataclass
class StageResult:
    name: str
    events: int
    seconds: float
    cpu: float = 0.0
    """CPU seconds of the measuring process over the same window, all threads (librdkafka's too)."""
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Failed checks: the figure is not to be trusted."""
    profile: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def _profile_lines(profiler: cProfile.Profile | None, steps: tuple[str, ...]) -> list[str]:
    if profiler is None:
        return []
    found: Breakdown = breakdown(profiler, steps)
    return found.lines()


def publish(components: Components, commands: list[Command]) -> StageResult:
    """Commands to ``order.commands`` through the CommandBus, encoding included."""
    bus = CommandBus(components.settings, components.topics, components.codec)
    ticker = Ticker()
    began, cpu = time.monotonic(), time.process_time()
    for i, command in enumerate(commands, 1):
        bus.send(command)
        if i % 1000 == 0 and ticker.due():
            say(f"publish: {i:,} / {len(commands):,} commands sent")
    say("publish: flushing")
    bus.flush(120)
    return StageResult(
        "publish commands (CommandBus)",
        len(commands),
        time.monotonic() - began,
        time.process_time() - cpu,
    )


class _WriterClock:
    """Times the writer from the end of its first batch to the batch that completes the run,
    so the group join, transaction init and restore are left out (and reported apart).
    A profiler, if any, covers the same window: it runs in the writer's thread."""

    def __init__(
        self,
        writer: OrderWriter,
        expected: int,
        stop: threading.Event,
        profiler: cProfile.Profile | None,
    ) -> None:
        self.writer = writer
        self.expected = expected
        self.stop = stop
        self.profiler = profiler
        self.started = time.monotonic()
        self.first: float | None = None
        self.first_cpu = 0.0
        self.first_events = 0
        self.last: float | None = None
        self.last_cpu = 0.0

    def on_batch(self) -> None:
        now, cpu = time.monotonic(), time.process_time()
        if self.first is None:
            self.first, self.first_cpu = now, cpu
            self.first_events = self.writer.stats.events
            if self.profiler is not None:
                self.profiler.enable()
        self.last, self.last_cpu = now, cpu
        if self.writer.stats.events >= self.expected and not self.stop.is_set():
            if self.profiler is not None:
                self.profiler.disable()
            self.stop.set()


def write_side(
    components: Components, expected: int, timeout: float, profile: bool
) -> tuple[StageResult, float]:
    """``OrderWriter`` in a thread over the published backlog; returns the stage and join time."""
    settings = components.settings
    store = OrderStore(settings.state_dir / "writer")
    writer = OrderWriter(settings, components.topics, components.codec, store, components.transitions)
    stop = threading.Event()
    profiler = cProfile.Profile() if profile else None
    clock = _WriterClock(writer, expected, stop, profiler)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            writer.run(stop, clock.on_batch)
        except BaseException as exc:
            errors.append(exc)
            stop.set()

    thread = threading.Thread(target=run, name="order-writer", daemon=True)
    thread.start()
    ticker = Ticker()
    deadline = clock.started + timeout
    while thread.is_alive():
        thread.join(0.25)
        if time.monotonic() > deadline and not stop.is_set():
            say(f"write: timed out after {timeout:.0f}s; stopping the writer")
            stop.set()
        if ticker.due():
            stats = writer.stats
            say(f"write: {stats.events:,} / {expected:,} events, {stats.transactions:,} transactions")
    store.close()
    if errors:
        raise RuntimeError("the writer failed") from errors[0]
    stats = writer.stats
    result = StageResult("write side (OrderWriter)", 0, 0.0)
    if clock.first is None or clock.last is None:
        result.problems.append("the writer processed no batch")
        return result, time.monotonic() - clock.started
    result.events = stats.events - clock.first_events
    result.seconds = clock.last - clock.first
    result.cpu = clock.last_cpu - clock.first_cpu
    result.notes.append(
        f"{stats.commands:,} commands -> {stats.events:,} events in {stats.transactions:,} "
        f"transactions; the first batch ({clock.first_events:,} events) is in the join time"
    )
    if result.events == 0:
        result.problems.append("every event was in the first batch: too few orders to time the writer")
    if stats.events < expected:
        result.problems.append(f"only {stats.events:,} of {expected:,} events written (timeout)")
    if stats.rejected or stats.dead_letters:
        result.problems.append(f"{stats.rejected} rejected, {stats.dead_letters} dead-lettered")
    result.profile = _profile_lines(profiler, WRITER_STEPS)
    return result, clock.first - clock.started


def settle(components: Components, timeout: float = 60.0) -> float:
    """Wait until every event partition's last stable offset is its high watermark.

    ``commit_transaction`` returns before the coordinator has written the commit markers;
    until they land, a read_committed consumer's partition end is the last stable offset
    and a read stage would stop short of the last transaction (seen: up to ~1 s).
    """
    settings = components.settings
    topics = components.topics
    partitions = [TopicPartition(t, p) for t in topics.event_topics() for p in range(topics.partitions)]
    clients = {
        level: Consumer(consumer_config(settings, None, **{"isolation.level": level}))
        for level in ("read_committed", "read_uncommitted")
    }
    began = time.monotonic()
    try:
        while True:
            ends = {
                level: [c.get_watermark_offsets(tp, timeout=10, cached=False)[1] for tp in partitions]
                for level, c in clients.items()
            }
            if ends["read_committed"] == ends["read_uncommitted"]:
                return time.monotonic() - began
            if time.monotonic() - began > timeout:
                raise TimeoutError(f"transaction markers not written within {timeout:.0f}s")
            time.sleep(0.05)
    finally:
        for client in clients.values():
            client.close()


def _reader(components: Components) -> Consumer:
    """The replay's consumer settings (``streams.services.replay``), for a like-for-like bound."""
    return Consumer(consumer_config(components.settings, None, **{"enable.partition.eof": True, **READER}))


def _bare_read_to_end(consumer: Consumer, start: dict[tuple[str, int], int]) -> Iterator[list[Message]]:
    """The bare client to the partitions' ends: the floor the project's loop
    (``streams.adapters.kafka_loop``) is measured against, so it is not that loop."""
    consumer.assign([TopicPartition(t, p, o) for (t, p), o in start.items()])
    pending = set(start)
    while pending:
        batch = []
        for msg in consumer.consume(5000, 0.1):
            err = msg.error()
            if err is None:
                batch.append(msg)
            elif err.code() == KafkaError._PARTITION_EOF:
                pending.discard((msg.topic() or "", msg.partition() or 0))
            else:
                raise KafkaException(err)
        yield batch


def read(
    components: Components, name: str, per_record: Callable[[Any], object] | None, expected: int
) -> StageResult:
    """Every event topic from the start to its end, doing ``per_record`` on each value."""
    topics = components.topics
    start = {(t, p): 0 for t in topics.event_topics() for p in range(topics.partitions)}
    consumer = _reader(components)
    ticker = Ticker()
    count = 0
    began, cpu = time.monotonic(), time.process_time()
    try:
        for batch in _bare_read_to_end(consumer, start):
            if per_record is not None:
                for msg in batch:
                    per_record(msg.value())
            count += len(batch)
            if ticker.due():
                say(f"{name}: {count:,} events")
    finally:
        consumer.close()
    stage = StageResult(name, count, time.monotonic() - began, time.process_time() - cpu)
    if count != expected:
        stage.problems.append(f"read {count:,} events, expected {expected:,}")
    return stage


def full_replay(components: Components, orders: int, expected: int, profile: bool) -> StageResult:
    """``streams.services.replay.replay`` as shipped, and a check of what it rebuilt."""

    def progress(p: Progress) -> None:
        say(f"replay: {p.events:,} events, {p.orders:,} orders, {p.rate:,.0f}/s")

    profiler = cProfile.Profile() if profile else None
    args = (components.settings, components.topics, components.codec, progress, 2.0)
    cpu = time.process_time()
    result = profiler.runcall(replay, *args) if profiler is not None else replay(*args)
    cpu = time.process_time() - cpu
    stage = StageResult("replay (decode + merge + fold)", result.events, result.seconds, cpu)
    statuses = result.by_status()
    done = statuses.get(DONE, 0)
    stage.notes.append(f"{len(result.states):,} orders rebuilt, {done:,} {'/'.join(DONE)}")
    if result.events != expected:
        stage.problems.append(f"read {result.events:,} events, expected {expected:,}")
    if len(result.states) != orders or done != orders:
        stage.problems.append(f"expected {orders:,} orders all {'/'.join(DONE)}; got {dict(statuses)}")
    if result.held or result.undecodable or result.duplicates:
        stage.problems.append(
            f"{len(result.held)} orders with gaps, {result.undecodable} undecodable, "
            f"{result.duplicates} duplicates"
        )
    stage.profile = _profile_lines(profiler, REPLAY_STEPS)
    return stage


def parallel_replay(components: Components, orders: int, expected: int, workers: int) -> StageResult:
    """``oms replay`` as shipped: ``workers`` processes, each folding a share of the partitions."""

    def progress(p: Progress) -> None:
        say(f"replay x{workers}: {p.events:,} events, {p.rate:,.0f}/s")

    cpu = time.process_time()
    result = replay_summary(
        components.settings, components.topics, components.codec, workers, progress, wire=bootstrap
    )
    cpu = time.process_time() - cpu  # the parent's only: the workers are other processes
    stage = StageResult(f"replay, {workers} processes (oms replay)", result.events, result.seconds, cpu)
    done = result.by_status.get(DONE, 0)
    stage.notes.append(
        f"{result.orders:,} orders rebuilt, {done:,} {'/'.join(DONE)}; worker start-up (a fork) included"
    )
    if result.events != expected:
        stage.problems.append(f"read {result.events:,} events, expected {expected:,}")
    if result.orders != orders or done != orders:
        stage.problems.append(
            f"expected {orders:,} orders all {'/'.join(DONE)}; got {dict(result.by_status)}"
        )
    if result.held or result.undecodable or result.duplicates:
        stage.problems.append(
            f"{len(result.held)} orders with gaps, {result.undecodable} undecodable, "
            f"{result.duplicates} duplicates"
        )
    return stage


PROJECTION_NAMES = ("bench-one", "bench-sharded")
"""The projections' names in a run (their stores and consumer groups, after the prefix)."""


def _check_projection(stage: StageResult, stats: Stats, orders: int, expected: int) -> None:
    """What the projection holds once caught up: every order, done, every event once."""
    done = sum(s.orders for s in stats.by_status if (s.status, s.reason) == DONE)
    stage.notes.append(f"{stats.orders:,} orders in the store(s), {done:,} {'/'.join(DONE)}")
    if stats.events != expected or stage.events != expected:
        stage.problems.append(
            f"folded {stats.events:,} events (read {stage.events:,}), expected {expected:,}"
        )
    if stats.orders != orders or done != orders:
        stage.problems.append(f"expected {orders:,} orders all {'/'.join(DONE)}; got {stats.by_status}")
    if stats.waiting or stats.undecodable or stats.duplicates:
        stage.problems.append(
            f"{len(stats.waiting)} orders with gaps, {stats.undecodable} undecodable, "
            f"{stats.duplicates} duplicates"
        )


def projection_one(components: Components, orders: int, expected: int) -> StageResult:
    """The read side's fold as ``oms api`` runs it (``ProjectionRunner``), into an empty store:
    decode, merge, fold and one RocksDB write per batch, with the offsets."""
    settings, name = components.settings, PROJECTION_NAMES[0]

    def progress(p: Progress) -> None:
        say(f"projection: {p.events:,} events, {p.orders:,} orders, {p.rate:,.0f}/s")

    projection = projection_at(store_path(settings.state_dir, name), components)
    try:
        runner = ProjectionRunner(settings, components.topics, projection, name=name)
        cpu = time.process_time()
        result = runner.run(until_caught_up=True, progress=progress, progress_every=2.0)
        cpu = time.process_time() - cpu
        stats = projection.stats()
    finally:
        projection.close()
    stage = StageResult("projection, 1 process", result.records, result.seconds, cpu)
    _check_projection(stage, stats, orders, expected)
    return stage


def projection_sharded(components: Components, orders: int, expected: int, shards: int) -> StageResult:
    """``oms projection rebuild --shards N`` as shipped: a process per shard, each folding its
    partitions into its own store; then the stores opened as one read model for the checks."""
    settings, name = components.settings, PROJECTION_NAMES[1]

    def progress(events: int, seconds: float) -> None:
        say(f"projection x{shards}: {events:,} events, {events / seconds if seconds else 0:,.0f}/s")

    began, cpu = time.monotonic(), time.process_time()
    runs = fold_shards(settings, name, shards, bootstrap, fresh=True, progress=progress)
    seconds, cpu = time.monotonic() - began, time.process_time() - cpu  # the parent's CPU only
    stage = StageResult(
        f"projection, {shards} processes (sharded)", sum(r.records for r in runs), seconds, cpu
    )
    stage.notes.append("worker start-up (a fork of the fork server) included")
    sharded = open_shards(settings, name, shards, components)
    try:
        _check_projection(stage, sharded.stats(), orders, expected)
    finally:
        sharded.close()
    return stage


class FaustFloor:
    """The per-record Faust agent in its own process (``bench.faust_floor``), started with
    the run and waiting on its stdin (``bench.child``); ``measure`` lets it go."""

    def __init__(
        self,
        components: Components,
        expected: int,
        orders: int,
        timeout: float,
        datadir: Path,
        store: str,
        table: bool,
        profile: bool,
    ) -> None:
        settings = components.settings
        self.expected, self.orders, self.timeout = expected, orders, timeout
        self.store, self.table = store, table
        self.name = f"faust floor, Table {store}" if table else "faust floor (per-record agent)"
        self.child: ChildStage | None = None
        if importlib.util.find_spec("cramjam") is None:
            return  # measure() says why
        command = [
            sys.executable,
            "-m",
            "bench.faust_floor",
            "--bootstrap",
            settings.bootstrap_servers,
            "--prefix",
            settings.topic_prefix,
            "--partitions",
            str(settings.partitions),
            "--topics",
            ",".join(components.topics.event_topics()),
            "--schemas-dir",
            str(settings.schemas_dir),
            "--expected",
            str(expected),
            "--timeout",
            str(timeout),
            "--app-id",
            f"{settings.topic_prefix}faust-floor{'-table' if table else ''}",
            "--datadir",
            str(datadir),
            "--store",
            store,
        ]
        if table:
            command.append("--table")
        if profile:
            command.append("--profile")
        self.child = ChildStage(command, REPO_ROOT, "faust-floor", say)

    def close(self) -> None:
        if self.child is not None:
            self.child.close()

    def measure(self) -> tuple[StageResult, float]:
        if self.child is None:
            stage = StageResult(self.name, 0, 0.0)
            stage.problems.append(
                "not run: aiokafka cannot read lz4-compressed records (the producers' "
                "compression.type) without cramjam: pip install 'aiokafka[lz4]'"
            )
            return stage, 0.0
        outcome = self.child.run(self.timeout)
        if outcome is None:
            stage = StageResult(self.name, 0, 0.0)
            stage.problems.append(f"the Faust worker gave no result (exit {self.child.proc.returncode})")
            stage.problems += [f"  {line}" for line in self.child.chatter]
            return stage, 0.0
        return self._stage(outcome), float(outcome["startup_seconds"])

    def _stage(self, outcome: dict[str, Any]) -> StageResult:
        mode = f"Table, store {self.store}" if self.table else "plain dict"
        stage = fold_stage(
            self.name, outcome, self.expected, self.orders, self.timeout, f"states in a {mode}"
        )
        stage.profile = list(outcome.get("profile", []))
        return stage


def fold_stage(
    name: str, outcome: dict[str, Any], expected: int, orders: int, timeout: float, what: str
) -> StageResult:
    """A child's fold (``bench.child``) as a stage, with the checks its outcome allows."""
    stage = StageResult(name, int(outcome["events"]), float(outcome["seconds"]), float(outcome["cpu"]))
    folded = outcome["folded"]
    stage.notes.append(
        f"{what}; {folded:,} of {expected:,} events folded, "
        f"{outcome['orders']:,} orders, {outcome['done']:,} {'/'.join(DONE)}"
    )
    if outcome["error"]:
        stage.problems.append(f"the fold failed: {outcome['error']}")
    elif outcome["timed_out"]:
        stage.problems.append(
            f"timed out after {timeout:.0f}s: the rate is over the {folded:,} events folded"
        )
    elif outcome["undecodable"] or outcome["held"]:
        stage.problems.append(
            f"{outcome['undecodable']:,} undecodable, {outcome['held']:,} events held for gaps"
        )
    elif outcome["done"] != orders:
        stage.problems.append(f"expected {orders:,} orders {'/'.join(DONE)}, got {outcome['done']:,}")
    return stage


BENCH_PYTHON = REPO_ROOT / ".venv-bench" / "bin" / "python"
"""The peers' interpreter (``make bench-peers``): quix-streams pins older libraries than ours."""
QUIX_GROUP = "quix-peer"
"""The quix-streams peer's consumer group, after the run's prefix (its changelog topics' names hold it)."""


class QuixPeer:
    """The quix-streams peer (``bench.quix_peer``) in ``.venv-bench``, started with the run
    like the Faust floor; without that virtualenv the stage says it was skipped."""

    name = "quix-streams (StreamingDataFrame, RocksDB)"

    def __init__(
        self, components: Components, expected: int, orders: int, timeout: float, datadir: Path
    ) -> None:
        settings = components.settings
        self.expected, self.orders, self.timeout = expected, orders, timeout
        self.group = f"{settings.topic_prefix}{QUIX_GROUP}"
        self.child: ChildStage | None = None
        if not BENCH_PYTHON.exists():
            return  # measure() says why
        command = [
            str(BENCH_PYTHON),
            "-m",
            "bench.quix_peer",
            "--bootstrap",
            settings.bootstrap_servers,
            "--prefix",
            settings.topic_prefix,
            "--partitions",
            str(settings.partitions),
            "--topics",
            ",".join(components.topics.event_topics()),
            "--schemas-dir",
            str(settings.schemas_dir),
            "--expected",
            str(expected),
            "--timeout",
            str(timeout),
            "--group",
            self.group,
            "--datadir",
            str(datadir),
            "--consumer-config",
            json.dumps(READER),
        ]
        self.child = ChildStage(command, REPO_ROOT, "quix-peer", say)

    def close(self) -> None:
        if self.child is not None:
            self.child.close()

    def measure(self) -> tuple[StageResult, float]:
        if self.child is None:
            stage = StageResult(self.name, 0, 0.0)
            stage.notes.append("skipped: quix-streams not installed (make bench-peers)")
            return stage, 0.0
        outcome = self.child.run(self.timeout)
        if outcome is None:
            stage = StageResult(self.name, 0, 0.0)
            stage.problems.append(
                f"the quix-streams child gave no result (exit {self.child.proc.returncode})"
            )
            stage.problems += [f"  {line}" for line in self.child.chatter]
            return stage, 0.0
        return self._stage(outcome), float(outcome["startup_seconds"])

    def _stage(self, outcome: dict[str, Any]) -> StageResult:
        what = (
            f"quixstreams {outcome['quixstreams']} on confluent-kafka {outcome['confluent_kafka']} and "
            f"pydantic {outcome['pydantic']} (its own pins, .venv-bench)"
        )
        return fold_stage(self.name, outcome, self.expected, self.orders, self.timeout, what)
