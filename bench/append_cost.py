"""``python -m bench.append_cost``: the order writer's CPU per event outside the domain, in one process.

The writer is the real ``OrderWriter`` (the shipped flows, an ``OrderStore`` on disk, its
transactional producer) against librdkafka's in-process mock cluster, so neither a broker
nor other load on one changes the figures. Journey-1 orders go through it round by round:
the first round creates them, each next one is what the stand-in providers
(``devkit.fake_providers``) answer to the requests of the round before, as in
``bench.journeys``. The rounds are recorded once, then each step is timed on its own over
the same records, best of ``--repeat``, in CPU time of the writer's thread (librdkafka's
own threads are left out; the produce call and the delivery reports are the thread's):

* decode: ``sort_out`` with the writer's decoder, per command;
* order_context: entering and leaving the logging context of a command;
* process (the domain, for scale): ``orchestration.process`` per command;
* append: ``OrderWriter._append`` with a producer that drops what it is given (encode and
  the writer's own work), and the produce calls plus their delivery reports into a real
  transaction of the mock cluster;
* request: ``OrderWriter._request`` (the snapshot, the request, its encoding);
* store: ``store[order] = state`` per decision and the flush of each round's states;
* writer: ``_process`` of every round (transactions included) and a flush per round, the
  whole of it; its excess over the steps is the loop's and the Kafka client's.

Every figure is microseconds per appended event, so that the steps add up.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Message, Producer
from pydantic import BaseModel

from devkit.fake_providers import FakeProviders
from devkit.scenarios import CommandFactory, journey_order
from streams.adapters.config_files import load_order_handling, load_products
from streams.adapters.flow_files import load_flows
from streams.adapters.kafka import partition_for
from streams.adapters.kafka_loop import Batch, sort_out
from streams.adapters.order_store import OrderStore
from streams.bootstrap import Components
from streams.domain.commands import Command, ProviderActionRequest
from streams.domain.events import Event
from streams.domain.flows import FlowCatalog
from streams.domain.orchestration import FlowEngine, process
from streams.domain.order import OrderState
from streams.services import transactional
from streams.services.writer import OrderWriter
from streams.settings import REPO_ROOT, Settings

PARTITIONS = 4
"""What the mock cluster gives a topic it creates on first use."""


class _Dropping:
    """A producer that drops what it is given: the writer's own work, without librdkafka."""

    def produce(self, topic: str, value: bytes, key: bytes, partition: int = -1, **_: Any) -> None:
        return None


class _Recording:
    """A producer that keeps what it is given (the rounds' provider requests)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def produce(self, topic: str, value: bytes, key: bytes, partition: int = -1, **_: Any) -> None:
        self.sent.append((topic, value))


@dataclass
class Workload:
    rounds: list[list[tuple[Command, Message]]] = field(default_factory=list)
    """Each round's commands, with the message each would be consumed as."""
    appended: list[tuple[Event, int]] = field(default_factory=list)
    """Every event the writer appends, with its partition, in order."""
    appended_per_round: list[int] = field(default_factory=list)
    requested: list[tuple[Any, OrderState | None, int]] = field(default_factory=list)
    """``_request``'s arguments, each time the writer called it."""
    decided: list[list[OrderState]] = field(default_factory=list)
    """Each round's ``store[order] = state`` (a decision that appended), in order."""

    @property
    def events(self) -> int:
        return len(self.appended)

    @property
    def commands(self) -> int:
        return sum(len(r) for r in self.rounds)


def mock_cluster() -> tuple[Producer, str]:
    """A mock cluster in this process (kept alive by the returned client) and its address."""
    holder = Producer({"test.mock.num.brokers": 1, "log_level": 3})
    brokers = holder.list_topics(timeout=10).brokers.values()
    return holder, ",".join(f"{b.host}:{b.port}" for b in brokers)


def engine() -> FlowEngine:
    flows = [f.model_copy(update={"version": 1}) for f in load_flows(REPO_ROOT / "flows")]
    return FlowEngine(FlowCatalog(flows), load_order_handling(), load_products())


def new_writer(c: Components, store_dir: Path) -> OrderWriter:
    writer = OrderWriter(c.settings, c.topics, c.codec, OrderStore(store_dir), c.transitions)
    writer.engine = engine()
    return writer


def _providers() -> FakeProviders:
    """``FakeProviders.answer`` without its Kafka loop."""
    providers = FakeProviders.__new__(FakeProviders)
    providers.failures, providers.silent, providers.unsourced_skus = {}, frozenset(), frozenset()
    return providers


def _messages(c: Components, commands: list[Command], offset: int) -> list[tuple[Command, Message]]:
    out = []
    for i, command in enumerate(commands):
        order_id = command.envelope.order_id
        value = c.codec.encode(command)
        partition = partition_for(order_id, c.topics.partitions)
        msg = Message(topic=c.topics.commands, partition=partition, offset=offset + i, value=value)
        out.append((command, msg))
    return out


def record(c: Components, orders: int, store_dir: Path) -> Workload:
    """Run the orders through a writer whose producer records, answering its requests."""
    writer, work, answers = new_writer(c, store_dir), Workload(), _providers()
    recording = _Recording()
    writer._producer = recording  # type: ignore[assignment]
    request, append = writer._request, writer._append

    def requested(event: Any, state: OrderState | None, partition: int) -> None:
        work.requested.append((event, state, partition))
        request(event, state, partition)

    def appended(event: Event, partition: int) -> None:
        work.appended.append((event, partition))
        append(event, partition)

    watch = writer._watch

    def watched(state: OrderState) -> None:
        work.decided[-1].append(state)
        watch(state)

    writer._request, writer._append = requested, appended  # type: ignore[method-assign]
    writer._watch = watched  # type: ignore[method-assign]
    factory = CommandFactory(source="bench", start=datetime.now(UTC), step=timedelta(microseconds=10))
    rng = random.Random(1)
    commands: list[Command] = [journey_order(1, factory, f"AC-{i:06d}", rng, ref=i) for i in range(orders)]
    offset = 0
    while commands:
        work.rounds.append(_messages(c, commands, offset))
        offset += len(commands)
        recording.sent.clear()
        work.decided.append([])
        for command, msg in work.rounds[-1]:
            writer._apply(command, msg.partition() or 0)
        writer.store.commit_pending()
        work.appended_per_round.append(len(work.appended) - sum(work.appended_per_round))
        commands = []
        for topic, value in recording.sent:
            sent = c.codec.decode(value)
            if isinstance(sent, ProviderActionRequest):
                commands += answers.answer(sent)
            elif topic == c.topics.commands and isinstance(sent, Command):
                commands.append(sent)  # a replacement order's create
    writer.store.close()
    return work


def best(repeat: int, run: Callable[[], object]) -> float:
    """The least thread CPU seconds of ``repeat`` runs."""
    took = float("inf")
    for _ in range(repeat):
        began = time.thread_time()
        run()
        took = min(took, time.thread_time() - began)
    return took


class Steps:
    """Each step of the writer timed on its own over a recorded workload."""

    def __init__(self, c: Components, work: Workload, scratch: Path, repeat: int) -> None:
        self.c, self.work, self.scratch, self.repeat = c, work, scratch, repeat
        self._n = 0

    def writer(self) -> OrderWriter:
        self._n += 1
        return new_writer(self.c, self.scratch / f"store-{self._n}")

    def per_event(self, run: Callable[[], object]) -> float:
        return 1e6 * best(self.repeat, run) / self.work.events

    def decode(self) -> float:
        writer = self.writer()
        messages = [msg for r in self.work.rounds for _, msg in r]
        return self.per_event(lambda: sort_out(messages, writer._command))

    def context(self) -> float:
        """``_process`` around an ``_apply`` that does nothing, outside a transaction."""
        writer = self.writer()

        def transaction(work: Callable[[], None], batch: object) -> bool:
            work()
            return True

        writer._apply = lambda command, partition: None  # type: ignore[method-assign]
        writer._transaction = transaction  # type: ignore[method-assign]
        batches = [_batch(r) for r in self.work.rounds]

        def run() -> None:
            for batch in batches:
                writer._process(batch)

        return self.per_event(run)

    def domain(self) -> float:
        flows, table = engine(), self.c.transitions
        commands = [command for r in self.work.rounds for command, _ in r]

        def run() -> None:
            states: dict[str, OrderState | None] = {}
            for command in commands:
                order_id = command.envelope.order_id
                outcome = process(command, states.get(order_id), flows, table)
                if outcome.events:
                    states[order_id] = outcome.state

        return self.per_event(run)

    def append_dropped(self) -> float:
        writer = self.writer()
        writer._producer = _Dropping()  # type: ignore[assignment]
        appended, append = self.work.appended, writer._append

        def run() -> None:
            for event, partition in appended:
                append(event, partition)

        return self.per_event(run)

    def encode(self) -> float:
        encode = self.c.codec.encode
        return self.per_event(lambda: [encode(e) for e, _ in self.work.appended])

    def append_produced(self) -> float:
        """``_append`` into a real transaction per round, its commit (delivery reports) included."""
        writer = self.writer()
        writer._transaction(lambda: None, None)  # init_transactions, the partitions' leaders
        appended, per_round, append = self.work.appended, self.work.appended_per_round, writer._append

        def run() -> None:
            start = 0
            for count in per_round:
                chunk = appended[start : start + count]

                def work(chunk: list[tuple[Event, int]] = chunk) -> None:
                    for event, partition in chunk:
                        append(event, partition)

                writer._transaction(work, None)
                start += count

        return self.per_event(run)

    def request(self) -> float:
        writer = self.writer()
        writer._producer = _Dropping()  # type: ignore[assignment]
        requested, request = self.work.requested, writer._request

        def run() -> None:
            for event, state, partition in requested:
                request(event, state, partition)

        return self.per_event(run)

    def store(self) -> float:
        """A fresh store per run (opened and closed outside the timing)."""
        stores = iter([OrderStore(self.scratch / f"store-{self._n}-{i}") for i in range(self.repeat)])
        checkpoint = {(t, p): 1 for t in self.c.topics.event_topics() for p in range(PARTITIONS)}

        def run() -> None:
            store = next(stores)
            for decided in self.work.decided:
                for state in decided:
                    store[state.order_id] = state
                store.commit_pending()
                store.flush(checkpoint)

        return self.per_event(run)

    def whole(self) -> float:
        """Every round through ``_process`` (its transaction) and a flush after each."""

        def run() -> None:
            writer = self.writer()
            writer._transaction(lambda: None, None)
            batches = [_batch(r) for r in self.work.rounds]
            began = time.thread_time()
            for batch in batches:
                writer._process(batch)
                writer._flush()
            run.took = time.thread_time() - began  # type: ignore[attr-defined]
            writer.store.close()

        took = float("inf")
        for _ in range(self.repeat):
            run()
            took = min(took, run.took)  # type: ignore[attr-defined]
        return 1e6 * took / self.work.events


def _batch(round_: list[tuple[Command, Message]]) -> Batch[BaseModel]:
    return Batch([command for command, _ in round_], [msg for _, msg in round_])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.append_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1000, help="journey-1 orders (default 1000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per step, the best counts (default 3)")
    parser.add_argument("--only", nargs="*", default=None, help=f"steps to time: {' '.join(_STEPS)}")
    args = parser.parse_args(argv)
    holder, bootstrap = mock_cluster()
    transactional.FLUSH_SECONDS = float("inf")  # the harness flushes once per round
    with tempfile.TemporaryDirectory(prefix="append-cost-") as scratch:
        settings = Settings(
            bootstrap_servers=bootstrap, topic_prefix="ac.", partitions=PARTITIONS, state_dir=Path(scratch)
        )
        c = Components(settings)
        work = record(c, args.orders, Path(scratch) / "record")
        print(
            f"{args.orders:,} journey-1 orders: {work.commands:,} commands, {work.events:,} events, "
            f"{len(work.requested):,} requests, {sum(map(len, work.decided)):,} states stored "
            f"in {len(work.rounds)} rounds"
        )
        steps = Steps(c, work, Path(scratch), args.repeat)
        print(f"CPU us per appended event, best of {args.repeat} (writer thread):")
        for name, (title, run) in _STEPS.items():
            if args.only is None or name in args.only:
                print(f"  {title:<36} {run(steps):7.2f}", flush=True)
    del holder
    return 0


_STEPS: dict[str, tuple[str, Callable[[Steps], float]]] = {
    "decode": ("decode (sort_out)", Steps.decode),
    "context": ("order_context (_process, no apply)", Steps.context),
    "domain": ("process (the domain, for scale)", Steps.domain),
    "append": ("append, producer dropped", Steps.append_dropped),
    "encode": ("  of which encode", Steps.encode),
    "produce": ("append + produce + commit", Steps.append_produced),
    "request": ("request, producer dropped", Steps.request),
    "store": ("store (set, commit, flush)", Steps.store),
    "writer": ("writer (_process + flush)", Steps.whole),
}


if __name__ == "__main__":
    raise SystemExit(main())
