"""``python -m bench.dom``: how fast DOM decides, and how fast reservations go through Kafka.

1. Sourcing decisions per second: the pure ``source_order`` on orders of 5 lines over 50
   sources, with plenty of stock (one pass) and with scarce stock (the second pass and
   the alternate strategy run too).
2. Reservations per second through Kafka: ``ReserveInventory`` commands into
   ``inventory.commands``, decided by an inventory writer process, until every reply is
   visible on ``inventory.reservations`` (read committed).
3. DOM sagas per second: order requests into ``provider.dom.requests``, a DOM coordinator
   process and an inventory writer process, until every answer is on ``order.commands``.
4. Start-up of the inventory view DOM and the backorder job read (``--view-events``, 100k
   by default; ``--view-only`` runs just this stage): from offset 0 without a store (how
   they started before), the first start with a store, a restart from the store with
   nothing new, and one after 1,000 new events.

Uses the broker at ``KAFKA_BOOTSTRAP_SERVERS`` if it answers, else starts a local one.
Topics get a unique prefix and are deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from confluent_kafka import Consumer, Producer

from devkit.local_broker import LocalBroker, broker_answers
from streams.adapters.kafka import consumer_config, create_topics, delete_topics, producer_config, value_of
from streams.bootstrap import Components, bootstrap
from streams.domain.commands import ProviderActionRequest, RecordActionResult
from streams.domain.inventory import (
    InventoryEnvelope,
    InventoryEvent,
    InventoryReserved,
    OnHandCounted,
    ReservationRefused,
    ReservationReleased,
    ReserveInventory,
    SetOnHand,
)
from streams.domain.order import LineState, OrderState
from streams.domain.sourcing import (
    Constraints,
    DomConfig,
    GeoPoint,
    Source,
    SourcingLine,
    SourcingRequest,
    Strategy,
    source_order,
)
from streams.domain.values import Address
from streams.services.inventory import InventoryFeed, InventoryView, inventory_envelope
from streams.settings import REPO_ROOT, Settings

SOURCES = 50
SKUS = 40
LINES = 5


@dataclass
class Row:
    stage: str
    count: int
    unit: str
    seconds: float

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- the pure decision -------------------------------------------------------------------------


def world(seed: int = 11) -> tuple[DomConfig, list[GeoPoint]]:
    """50 sources over the continental US, a default and an alternate strategy, and ship-to points."""
    rng = random.Random(seed)

    def point() -> GeoPoint:
        return GeoPoint(lat=rng.uniform(26.0, 48.5), lon=rng.uniform(-123.0, -71.0))

    sources = tuple(
        Source(
            id=f"DC-{i:02d}",
            location=point(),
            warehouse=f"{10 + i}",
            site=str(1 + i % 3),
            safety_stock=rng.choice([0, 1, 2]),
            priority=rng.choice([10, 20, 50]),
            active=i % 25 != 24,
        )
        for i in range(SOURCES)
    )
    default = Strategy(
        name="closest",
        constraints=Constraints(
            max_distance_km=1500,
            max_sources_per_order=3,
            soft=frozenset({"max_distance", "max_sources_per_order"}),
        ),
    )
    alternate = Strategy(name="anywhere", constraints=Constraints(max_sources_per_line=3))
    config = DomConfig(
        sources=sources,
        strategies=(default, alternate),
        default_strategy="closest",
        alternate_strategy="anywhere",
    )
    return config, [point() for _ in range(500)]


def stock(config: DomConfig, presence: float, most: int, seed: int = 12) -> dict[tuple[str, str], int]:
    rng = random.Random(seed)
    return {
        (f"SKU-{k:03d}", s.id): rng.randint(1, most)
        for k in range(SKUS)
        for s in config.sources
        if rng.random() < presence
    }


def requests(points: list[GeoPoint], count: int, seed: int = 13) -> list[SourcingRequest]:
    rng = random.Random(seed)
    at = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
    return [
        SourcingRequest(
            order_id=f"B-{n}",
            ship_to=rng.choice(points),
            lines=tuple(
                SourcingLine(line_id=str(i + 1), sku=sku, quantity=rng.randint(1, 4))
                for i, sku in enumerate(rng.sample([f"SKU-{k:03d}" for k in range(SKUS)], LINES))
            ),
            at=at,
        )
        for n in range(count)
    ]


def bench_sourcing(count: int) -> list[Row]:
    config, points = world()
    asks = requests(points, count)
    rows = []
    for label, availability in (
        ("plenty of stock", stock(config, presence=0.6, most=50)),
        ("scarce stock", stock(config, presence=0.08, most=3)),
    ):
        source_order(asks[0], config, availability)  # warm up
        began = time.perf_counter()
        outcomes: dict[str, int] = {}
        for ask in asks:
            plan = source_order(ask, config, availability)
            outcomes[plan.outcome] = outcomes.get(plan.outcome, 0) + 1
        seconds = time.perf_counter() - began
        fully = outcomes.get("fully sourced", 0) * 100 // count
        rows.append(
            Row(
                f"sourcing, {LINES} lines x {SOURCES} sources, {label} ({fully}% fully sourced)",
                count,
                "decisions",
                seconds,
            )
        )
    return rows


# --- through Kafka -----------------------------------------------------------------------------


@contextmanager
def broker() -> Iterator[str]:
    configured = Settings.from_env().bootstrap_servers
    if broker_answers(configured):
        say(f"using the broker at {configured}")
        yield configured
        return
    local = LocalBroker(home=Settings.from_env().kafka_home, port=29192)
    say(f"no broker at {configured}: starting one on {local.bootstrap_servers}")
    local.start(timeout=120)
    try:
        yield local.bootstrap_servers
    finally:
        local.stop()


@contextmanager
def workspace(bootstrap_servers: str, partitions: int) -> Iterator[Components]:
    with tempfile.TemporaryDirectory(prefix="bench-dom-") as state:
        settings = Settings(
            bootstrap_servers=bootstrap_servers,
            topic_prefix=f"benchdom{uuid.uuid4().hex[:6]}.",
            partitions=partitions,
            state_dir=Path(state),
        )
        c = bootstrap(settings)
        create_topics(settings, c.topics)
        try:
            yield c
        finally:
            delete_topics(settings, [c.topics.topic(s.name) for s in c.topics.specs()])


@contextmanager
def process(c: Components, instance: str, *argv: str) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": c.settings.bootstrap_servers,
        "OMS_TOPIC_PREFIX": c.settings.topic_prefix,
        "OMS_PARTITIONS": str(c.settings.partitions),
        "OMS_STATE_DIR": str(c.settings.state_dir),
        "OMS_INSTANCE_ID": instance,
        "PYTHONPATH": str(REPO_ROOT),
    }
    proc = subprocess.Popen(
        [sys.executable, *argv], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(30)


def seed_stock(c: Components, config: DomConfig, units: int) -> int:
    feed = InventoryFeed(c.settings, c.topics, c.codec)
    entries = [(f"SKU-{k:03d}", s.id) for k in range(SKUS) for s in config.sources]
    feed.send_all(
        SetOnHand(envelope=inventory_envelope(sku, src, "bench"), quantity=units) for sku, src in entries
    )
    feed.flush()
    view = InventoryView(c.settings, c.topics, c.codec)
    deadline = time.monotonic() + 120
    while len(view.levels) < len(entries):
        if time.monotonic() > deadline:
            raise SystemExit("the inventory writer did not record the stock within 120 s")
        view.poll(0.2)
    view.close()
    return len(entries)


def bench_reservations(c: Components, config: DomConfig, count: int) -> Row:
    keys = seed_stock(c, config, units=10_000)
    say(f"  stock recorded for {keys} SKU@source keys; sending {count:,} reservations")
    rng = random.Random(21)
    view = InventoryView(c.settings, c.topics, c.codec)
    feed = InventoryFeed(c.settings, c.topics, c.codec, **{"linger.ms": 5})
    began = time.perf_counter()
    for n in range(count):
        source = config.sources[rng.randrange(SOURCES)].id
        feed.send(
            ReserveInventory(
                envelope=inventory_envelope(
                    f"SKU-{rng.randrange(SKUS):03d}", source, "bench", command_id=f"bench/{n}"
                ),
                reservation_id=f"bench-r{n}",
                order_id=f"B-{n}",
                line_id="1",
                quantity=1,
                requested_by="bench",
            )
        )
    feed.flush()
    seen = 0
    deadline = time.monotonic() + 300
    while seen < count and time.monotonic() < deadline:
        seen += sum(isinstance(e, InventoryReserved | ReservationRefused) for e in view.poll(0.2))
    seconds = time.perf_counter() - began
    view.close()
    if seen < count:
        raise SystemExit(f"only {seen:,} of {count:,} reservations were answered")
    return Row(
        "reservations: command -> inventory writer -> reply (1 writer process)",
        count,
        "reservations",
        seconds,
    )


def dom_request(n: int, rng: random.Random, points: list[GeoPoint], now: datetime) -> ProviderActionRequest:
    order_id = f"BENCH-{n:06d}"
    point = rng.choice(points)
    lines = tuple(
        LineState(
            line_id=str(i + 1), sku=sku, quantity=rng.randint(1, 3), unit_price=Decimal("9.99"), site="1"
        )
        for i, sku in enumerate(rng.sample([f"SKU-{k:03d}" for k in range(SKUS)], LINES))
    )
    order = OrderState(
        order_id=order_id,
        version=8,
        status="In progress",
        status_reason="Validation succeeded",
        channel="bigcommerce",
        customer_id="C",
        currency="USD",
        ship_to=Address(name="n", line1="l", city="c", postal_code="00000", country="US"),
        lines=lines,
        attributes={"ship_to_lat": str(point.lat), "ship_to_lon": str(point.lon)},
        company="USMF",
        created_by="bench",
        created_at=now,
        updated_at=now,
    )
    return ProviderActionRequest(
        action_id=f"bench-action-{n}",
        order_id=order_id,
        provider="dom",
        action="send_to_fulfillment_optimization",
        step="optimize-fulfillment",
        attempt=1,
        not_before=now,
        deadline=now + timedelta(minutes=10),
        correlation_id=order_id,
        order=order.snapshot(),
    )


def bench_sagas(
    c: Components, config: DomConfig, points: list[GeoPoint], count: int, config_file: Path
) -> Row:
    seed_stock(c, config, units=5_000)
    with process(c, "bench-dom", "-m", "streams.entrypoints.dom_cli", "--config", str(config_file)):
        time.sleep(6)  # the coordinator reads the inventory topics and joins its group
        consumer = Consumer(consumer_config(c.settings, None))
        consumer.subscribe([c.topics.commands])
        consumer.consume(1, 2.0)
        rng = random.Random(31)
        now = datetime.now(UTC)
        producer = Producer(producer_config(c.settings))
        say(f"  sending {count:,} DOM requests of {LINES} lines")
        began = time.perf_counter()
        for n in range(count):
            request = dom_request(n, rng, points, now)
            producer.produce(
                c.topics.provider_requests("dom"),
                key=request.order_id.encode(),
                value=c.codec.encode(request),
            )
            producer.poll(0)
        producer.flush(30)
        answered: set[str] = set()
        deadline = time.monotonic() + 600
        while len(answered) < count and time.monotonic() < deadline:
            for msg in consumer.consume(1000, 0.5):
                if msg.error() is None:
                    answer = c.codec.decode(value_of(msg))
                    if isinstance(answer, RecordActionResult):
                        answered.add(answer.action_id)
        seconds = time.perf_counter() - began
        consumer.close()
    if len(answered) < count:
        raise SystemExit(f"only {len(answered):,} of {count:,} DOM requests were answered")
    return Row(
        f"DOM sagas: request -> plan -> {LINES} reservations -> answer (1 coordinator, 1 writer)",
        count,
        "orders",
        seconds,
    )


@dataclass
class StartUp:
    stage: str
    read: int
    """Events read from Kafka during the start."""
    seconds: float


def _inventory_events(count: int, first: int = 0, keys: int = 200) -> Iterator[InventoryEvent]:
    """Events as inventory writers append them: per SKU@source a count, then reservations,
    every fifth releasing an earlier one (seq gapless per key from ``first``'s position)."""
    at = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
    for n in range(first, first + count):
        k, seq = n % keys, n // keys + 1
        reserved = seq - 1 - (seq - 1) // 5
        env = InventoryEnvelope(
            event_id=f"bench-e{n}",
            sku=f"SKU-{k % SKUS:03d}",
            source=f"DC-{k // SKUS:02d}",
            seq=seq,
            occurred_at=at,
            correlation_id="bench",
            causation_id=f"bench-c{n}",
            issued_by="bench",
            on_hand=1_000_000,
            reserved=reserved,
        )
        who = {"order_id": f"B-{n}", "line_id": "1", "quantity": 1, "requested_by": f"bench-a{n // 10}"}
        if seq == 1:
            yield OnHandCounted(envelope=env, quantity=1_000_000, delta=1_000_000)
        elif seq % 5 == 0:
            yield ReservationReleased(envelope=env, reservation_id=f"bench-r{n - keys}", **who)
        else:
            yield InventoryReserved(envelope=env, reservation_id=f"bench-r{n}", **who)


def _append(c: Components, events: Iterator[InventoryEvent]) -> int:
    producer = Producer(producer_config(c.settings, **{"linger.ms": 20}))
    n = 0
    for event in events:
        topic = c.topics.inventory_event_topic(type(event))
        while True:
            try:
                producer.produce(topic, key=event.envelope.key.encode(), value=c.codec.encode(event))
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
        n += 1
    producer.flush(60)
    return n


def _start(c: Components, label: str, stored: bool) -> StartUp:
    began = time.perf_counter()
    view = (
        InventoryView.stored(c.settings, c.topics, c.codec, "bench-view")
        if stored
        else InventoryView(c.settings, c.topics, c.codec)
    )
    seconds = time.perf_counter() - began
    view.close()
    return StartUp(label, view.read, seconds)


def bench_view_start(c: Components, count: int) -> list[StartUp]:
    say(f"  appending {count:,} inventory events")
    _append(c, _inventory_events(count))
    rows = [
        _start(c, "from offset 0, no store (as DOM and the backorder job started before)", stored=False),
        _start(c, "first start with a store: from offset 0, store written", stored=True),
        _start(c, "restart from the store, nothing new", stored=True),
    ]
    _append(c, _inventory_events(1_000, first=count))
    rows.append(_start(c, "restart from the store after 1,000 new events", stored=True))
    return rows


def startup_table(events: int, rows: list[StartUp]) -> str:
    width = max(len(r.stage) for r in rows)
    out = [f"inventory view start-up, {events:,} inventory events on the topics:"]
    out.append(f"{'start':<{width}}  {'events read':>11}  {'seconds':>8}")
    out += [f"{r.stage:<{width}}  {r.read:>11,}  {r.seconds:>8.2f}" for r in rows]
    return "\n".join(out)


def table(rows: list[Row]) -> str:
    width = max(len(r.stage) for r in rows)
    out = [f"{'stage':<{width}}  {'count':>8}  {'seconds':>8}  {'rate':>18}"]
    for r in rows:
        out.append(f"{r.stage:<{width}}  {r.count:>8,}  {r.seconds:>8.2f}  {r.rate:>10,.0f} {r.unit}/s")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.dom", description=__doc__.split("\n\n")[0] if __doc__ else ""
    )
    parser.add_argument("--decisions", type=int, default=5_000, help="sourcing decisions per stock level")
    parser.add_argument("--reservations", type=int, default=20_000)
    parser.add_argument("--sagas", type=int, default=5_000, help="DOM requests (5 lines each)")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--pure-only", action="store_true", help="no broker: the sourcing function only")
    parser.add_argument("--view-events", type=int, default=100_000, help="inventory events for stage 4")
    parser.add_argument("--view-only", action="store_true", help="only stage 4: the view's start-up")
    args = parser.parse_args(argv)

    startup: list[StartUp] = []
    if args.view_only:
        with broker() as servers, workspace(servers, args.partitions) as c:
            say("inventory view start-up")
            startup = bench_view_start(c, args.view_events)
        print(f"bench.dom on {platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}")
        print(startup_table(args.view_events, startup))
        return 0
    say(f"sourcing: {args.decisions:,} orders of {LINES} lines over {SOURCES} sources, twice")
    rows = bench_sourcing(args.decisions)
    if not args.pure_only:
        config, points = world()
        with broker() as servers, tempfile.TemporaryDirectory(prefix="bench-dom-config-") as folder:
            config_file = Path(folder) / "dom.yaml"
            config_file.write_text(config.model_dump_json())  # JSON is YAML
            with (
                workspace(servers, args.partitions) as c,
                process(c, "bench-inv", "-m", "streams.cli", "inventory-writer"),
            ):
                say("reservations through an inventory writer process")
                rows.append(bench_reservations(c, config, args.reservations))
            with (
                workspace(servers, args.partitions) as c,
                process(c, "bench-inv", "-m", "streams.cli", "inventory-writer"),
            ):
                say("DOM sagas through a coordinator process and an inventory writer process")
                rows.append(bench_sagas(c, config, points, args.sagas, config_file))
            with workspace(servers, args.partitions) as c:
                say("inventory view start-up")
                startup = bench_view_start(c, args.view_events)
    print()
    print(f"bench.dom on {platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}")
    print(table(rows))
    if startup:
        print()
        print(startup_table(args.view_events, startup))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
