"""Running the order writer and reading topics back, for integration tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Message
from loops import loops_running
from order_watch import OrderWatch
from waits import wait_for

from devkit.fake_providers import FakeProviders
from streams.adapters.control_feed import ControlFeed
from streams.adapters.flow_definitions import FlowCatalogFeed, publish_flows
from streams.adapters.flow_files import load_flows
from streams.adapters.kafka import create_topics, delete_topics
from streams.adapters.kafka_loop import read_all as read_messages
from streams.adapters.order_store import OrderStore
from streams.bootstrap import Components, bootstrap
from streams.domain.order import OrderState
from streams.services.writer import OrderWriter
from streams.settings import REPO_ROOT, Settings


def components(bootstrap_servers: str, prefix: str, state_dir: Path, partitions: int = 3) -> Components:
    settings = Settings(
        bootstrap_servers=bootstrap_servers,
        topic_prefix=prefix,
        partitions=partitions,
        state_dir=state_dir,
    )
    c = bootstrap(settings)
    create_topics(settings, c.topics)
    return c


def drop_topics(c: Components) -> None:
    delete_topics(c.settings, [c.topics.topic(s.name) for s in c.topics.specs()])


@dataclass
class RunningWriter:
    writer: OrderWriter
    store: OrderStore
    final_states: dict[str, OrderState] = field(default_factory=dict)
    """The store's content after the writer stopped (its last transaction included)."""

    def wait_for(self, predicate: Callable[[OrderWriter], bool], timeout: float = 60.0) -> None:
        try:
            wait_for("the writer got there", lambda: predicate(self.writer), timeout, every=0.05)
        except AssertionError as failed:
            raise AssertionError(f"{failed}: {self.writer.stats}") from None


@contextmanager
def running_writer(
    c: Components, instance_id: str = "writer-test", store_name: str = "store"
) -> Iterator[RunningWriter]:
    settings = c.settings.model_copy(update={"instance_id": instance_id})
    store = OrderStore(settings.state_dir / store_name)
    writer = OrderWriter(settings, c.topics, c.codec, store, c.transitions, batch_size=500)
    running = RunningWriter(writer, store)
    try:
        with loops_running(writer.run):
            yield running
        # After the loop stopped: its last transaction included.
        running.final_states = {order_id: store[order_id] for order_id in store}
    finally:
        store.close()


def start_writer(c: Components, state_dir: Path, instance_id: str) -> subprocess.Popen[bytes]:
    """``oms writer`` as its own process (small batches, so that a kill lands mid-stream)."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": c.settings.bootstrap_servers,
        "OMS_TOPIC_PREFIX": c.settings.topic_prefix,
        "OMS_PARTITIONS": str(c.settings.partitions),
        "OMS_STATE_DIR": str(state_dir),
        "OMS_INSTANCE_ID": instance_id,
    }
    argv = ["streams.cli", "writer", "--batch-size", "50", "--log-level", "WARNING"]
    return subprocess.Popen([sys.executable, "-m", *argv], env=env)


def committed_events(c: Components) -> list[tuple[str, int]]:
    """(order id, seq) of every event on the event topics, transactions committed only."""
    msgs = read_all(c.settings, c.topics.event_topics(), c.topics.partitions)
    return [(m.key().decode(), c.codec.decode(m.value()).envelope.seq) for m in msgs]  # type: ignore[attr-defined]


def read_all(settings: Settings, topics: Iterable[str], partitions: int) -> list[Message]:
    """Every record of ``topics``, undecoded (a dead letter's headers, say)."""
    start = {(t, p): 0 for t in topics for p in range(partitions)}
    return read_messages(settings, start, lambda msg: msg)


def assert_each_event_once(events: list[tuple[str, int]], orders: int, per_order: int) -> None:
    """Every order has seqs 1..``per_order``, each exactly once: nothing lost, nothing twice."""
    twice = [e for e, n in Counter(events).items() if n > 1]
    assert not twice, f"{len(twice)} events were appended twice, e.g. {twice[:3]}"
    seqs: dict[str, list[int]] = {}
    for order_id, seq in events:
        seqs.setdefault(order_id, []).append(seq)
    assert len(seqs) == orders
    gapped = {o: sorted(s) for o, s in seqs.items() if sorted(s) != list(range(1, per_order + 1))}
    assert not gapped, f"{len(gapped)} orders lack events, e.g. {list(gapped.items())[:3]}"


def wait_for_events(
    c: Components, done: int, timeout: float, check: Callable[[], None] = lambda: None
) -> int:
    """Until at least ``done`` events are committed; ``check`` raises if waiting is futile."""

    def committed() -> int:
        n = len(committed_events(c))
        return n if n >= done else 0

    return wait_for(f"{done} events committed", committed, timeout, check=check, every=0.2)


@dataclass
class RunningOms(OrderWatch):
    """The order writer with flows, and fake provider connectors, on one broker."""

    writer: OrderWriter
    fakes: FakeProviders

    def state(self, order_id: str) -> OrderState | None:
        return self.writer.store.get(order_id)


@contextmanager
def running_oms(c: Components, flows_dir: Path = REPO_ROOT / "flows") -> Iterator[RunningOms]:
    flows = load_flows(flows_dir)
    publish_flows(c.settings, c.topics, c.codec, [(f, f.name) for f in flows])
    store = OrderStore(c.settings.state_dir / "oms-store")
    feed = FlowCatalogFeed(c.settings, c.topics, c.codec)
    control = ControlFeed(c.settings, c.topics, c.codec)
    writer = OrderWriter(
        c.settings,
        c.topics,
        c.codec,
        store,
        c.transitions,
        batch_size=500,
        flows=feed,
        control=control,
        handling=c.order_handling,
        products=c.products,
    )
    fakes = FakeProviders(c.settings, c.topics, c.codec)
    try:
        with loops_running(writer.run, fakes.run):
            yield RunningOms(c, writer, fakes)
    finally:
        store.close()
