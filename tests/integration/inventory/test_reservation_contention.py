"""1,000 orders compete for 100 units of one SKU: two inventory writer processes and two DOM
coordinators (one consumer group each), started as an operator would, and exactly 100
units are reserved, none twice, each held for exactly one order that was told so."""

from __future__ import annotations

import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from confluent_kafka import Consumer, ConsumerGroupState, Producer
from inventory_harness import levels, processes, stock
from waits import wait_for

from streams.adapters.kafka import (
    admin,
    consumer_config,
    create_topics,
    delete_topics,
    partition_for,
    producer_config,
    value_of,
)
from streams.bootstrap import Components, bootstrap
from streams.domain.commands import ProviderActionRequest, RecordActionResult
from streams.domain.order import LineState, OrderState
from streams.domain.values import Address
from streams.services.inventory import InventoryView
from streams.settings import Settings

ORDERS = 1000
SKU = "SKU-HOT"
SOURCES = {
    "S-WEST": (47.6, -122.3),
    "S-MOUNTAIN": (39.7, -105.0),
    "S-SOUTH": (32.8, -96.8),
    "S-EAST": (40.7, -74.0),
}
CITIES = [
    ("98101", 47.61, -122.33),
    ("80202", 39.75, -105.0),
    ("73301", 30.27, -97.74),
    ("10001", 40.75, -73.99),
]
PARTITIONS = 4

DOM_YAML = """
sources:
{sources}
strategies:
  - name: closest
    constraints: {{max_sources_per_line: 1}}
default_strategy: closest
geocodes:
{geocodes}
"""


@pytest.fixture
def c(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Components]:
    settings = Settings(
        bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"race{uuid.uuid4().hex[:8]}.",
        partitions=PARTITIONS,
        state_dir=tmp_path,
    )
    components = bootstrap(settings)
    create_topics(settings, components.topics)
    try:
        yield components
    finally:
        delete_topics(settings, [components.topics.topic(s.name) for s in components.topics.specs()])


def _dom_config(folder: Path) -> Path:
    sources = "\n".join(
        f"  - {{id: {sid}, location: {{lat: {lat}, lon: {lon}}}, warehouse: W-{sid}}}"
        for sid, (lat, lon) in SOURCES.items()
    )
    geocodes = "\n".join(f"  US-{code}: {{lat: {lat}, lon: {lon}}}" for code, lat, lon in CITIES)
    path = folder / "dom.yaml"
    path.write_text(DOM_YAML.format(sources=sources, geocodes=geocodes))
    return path


def _members(c: Components, group: str) -> int:
    """Members of a stable group that have partitions assigned."""
    client = admin(c.settings)  # must outlive its future
    future = client.describe_consumer_groups([c.topics.prefix + group])[c.topics.prefix + group]
    try:
        described = future.result(timeout=10)
    except Exception:
        return 0
    if described.state != ConsumerGroupState.STABLE:
        return 0
    return sum(1 for m in described.members if m.assignment and m.assignment.topic_partitions)


def _request(c: Components, n: int, rng: random.Random, now: datetime) -> ProviderActionRequest:
    order_id = f"RACE-{n:04d}"
    code, _, _ = rng.choice(CITIES)
    order = OrderState(
        order_id=order_id,
        version=9,
        status="In progress",
        status_reason="Validation succeeded",
        channel="bigcommerce",
        customer_id="C-1",
        currency="USD",
        ship_to=Address(name="n", line1="l", city="c", postal_code=code, country="US"),
        lines=(LineState(line_id="1", sku=SKU, quantity=1, unit_price=Decimal("5.00"), site="1"),),
        company="USMF",
        created_by="x",
        created_at=now,
        updated_at=now,
    )
    return ProviderActionRequest(
        action_id=f"action-{order_id}",
        order_id=order_id,
        provider="dom",
        action="send_to_fulfillment_optimization",
        step="optimize-fulfillment",
        attempt=1,
        not_before=now,
        deadline=now + timedelta(minutes=5),
        correlation_id=order_id,
        order=order.snapshot(),
    )


def _answers(c: Components, expected: int, timeout: float) -> dict[str, list[RecordActionResult]]:
    consumer = Consumer(consumer_config(c.settings, None))
    consumer.subscribe([c.topics.commands])
    found: dict[str, list[RecordActionResult]] = {}
    deadline = time.monotonic() + timeout
    try:
        while len(found) < expected and time.monotonic() < deadline:
            for msg in consumer.consume(1000, 0.5):
                if msg.error() is None:
                    answer = c.codec.decode(value_of(msg))
                    assert isinstance(answer, RecordActionResult)
                    found.setdefault(answer.action_id, []).append(answer)
    finally:
        consumer.close()
    return found


def test_a_thousand_orders_on_two_coordinators_and_two_inventory_writers_reserve_exactly_the_hundred_units(
    c: Components, tmp_path: Path
) -> None:
    keys = {partition_for(f"{SKU}@{sid}", PARTITIONS) for sid in SOURCES}
    assert len(keys) >= 2, f"the SKU's sources should spread over partitions, got {keys}"
    config = _dom_config(tmp_path)
    argvs = [
        ("inv-1", ["-m", "streams.cli", "inventory-writer", "--batch-size", "500"]),
        ("inv-2", ["-m", "streams.cli", "inventory-writer", "--batch-size", "500"]),
        ("dom-1", ["-m", "streams.entrypoints.dom_cli", "--config", str(config)]),
        ("dom-2", ["-m", "streams.entrypoints.dom_cli", "--config", str(config)]),
    ]
    with processes(c, *argvs, log_dir=tmp_path) as running:
        wait_for(
            "two inventory writers and two DOM coordinators in their groups",
            lambda: _members(c, "oms-inventory-writer") == 2 and _members(c, "oms-dom") == 2,
            timeout=60,
        )
        stock(c, *((SKU, sid, 25) for sid in SOURCES))
        view = InventoryView(c.settings, c.topics, c.codec)
        wait_for("100 units on hand", lambda: (view.poll(0.2), sum(view.availability().values()) == 100)[1])
        view.close()

        rng = random.Random(5)
        now = datetime.now(UTC)
        producer = Producer(producer_config(c.settings))
        for n in range(ORDERS):
            request = _request(c, n, rng, now)
            producer.produce(
                c.topics.provider_requests("dom"),
                key=request.order_id.encode(),
                value=c.codec.encode(request),
            )
        producer.flush(30)
        answers = _answers(c, ORDERS, timeout=90)
        assert all(p.poll() is None for p in running), "a worker process died; see its log in tmp_path"

    # every order was answered, and an answer given twice (a rebalance) says the same
    assert len(answers) == ORDERS
    plans = {}
    for action_id, given in answers.items():
        assert all(a.success for a in given)
        distinct = {a.plan for a in given}
        assert len(distinct) == 1, f"{action_id} was told two different plans"
        plan = distinct.pop()
        assert plan is not None, f"{action_id} was answered without a plan"
        plans[action_id] = plan

    promised = [a for plan in plans.values() for a in plan.allocations]
    assert sum(a.quantity for a in promised) == 100
    ids = [a.reservation_id for a in promised]
    assert len(set(ids)) == len(ids) == 100, "a reservation was promised to two orders"
    assert Counter(plan.outcome for plan in plans.values()) == {"fully sourced": 100, "not sourced": 900}

    # the inventory holds exactly those reservations: nothing leaked, nothing twice
    inventory = levels(c)
    held = {rid: state.key for state in inventory.values() for rid in state.reservations}
    assert set(held) == set(ids)
    assert sum(s.on_hand for s in inventory.values()) == sum(s.reserved for s in inventory.values()) == 100
    assert all(s.reserved <= s.on_hand for s in inventory.values())
    for a in promised:
        assert held[a.reservation_id or ""] == f"{SKU}@{a.source}"

    # both coordinators took requests, both inventory writers decided commands
    for name in ("dom-1", "dom-2", "inv-1", "inv-2"):
        text = (tmp_path / f"{name}.log").read_text()
        took = re.search(r"stopped(?: after \d+s)?: (\d+) (?:requests|commands)", text)
        assert took is not None and int(took.group(1)) > 0, f"{name} did no work:\n{text[-2000:]}"
