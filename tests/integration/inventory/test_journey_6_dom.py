"""Journey 6 end to end on the real broker: DOM sources each order and reserves its units
through the inventory writer, one fulfillment order per source, warehouses stamped, only
the sourced lines synced to F&O; with backorders, lines without stock wait in Backorder
hold until a receipt and the backorder job release them, or until their cancellation
SLA runs out; without backorders they are simply left out."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from dom_oms import DomOms, running_dom_oms
from inventory_harness import levels, send, stocked
from waits import wait_for

from devkit.scenarios import CommandFactory, journey_order
from streams.adapters.kafka import admin, create_topics, delete_topics
from streams.adapters.kafka_loop import models, read_all
from streams.adapters.lag import groups, wait_until_caught_up
from streams.bootstrap import bootstrap
from streams.domain.events import (
    FulfillmentOrderCreated,
    OrderLinesBackordered,
    OrderLinesCanceled,
    OrderLinesReleased,
    ProviderActionRequested,
)
from streams.domain.inventory import InventoryEvent, InventoryShipped, RecordReceipt
from streams.domain.order import OrderState
from streams.domain.transitions import BACKORDER_HOLD
from streams.domain.values import OrderLine
from streams.services.backorders import BackorderJob, job_log
from streams.services.dom import DOM_GROUP
from streams.services.inventory import inventory_envelope
from streams.services.inventory_writer import INVENTORY_GROUP
from streams.services.sourcing_config import load_dom_config
from streams.services.writer import WRITER_GROUP
from streams.settings import REPO_ROOT, Settings

DONE = ("Completed", "Fulfilled")
JOURNEY_6 = REPO_ROOT / "flows" / "journey-6-bigcommerce-dom-fno.yaml"
SLA_SECONDS = 3


def _variant(text: str, name: str, attribute: str, params: str) -> str:
    """Journey 6 under another name and filter, whose DOM step names its own backorder
    settings (they win over config/order-handling.yaml)."""
    return (
        text.replace("name: bigcommerce-dom-fno", f"name: {name}")
        .replace(
            "{field: attributes.fulfillment, op: eq, value: dom}",
            f"{{field: attributes.fulfillment, op: eq, value: {attribute}}}",
        )
        .replace(
            "action: send_to_fulfillment_optimization\n    provider: dom\n",
            f"action: send_to_fulfillment_optimization\n    provider: dom\n    params: {params}\n",
            1,
        )
    )


@pytest.fixture(scope="module")
def oms(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DomOms]:
    state = tmp_path_factory.mktemp("j6")
    flows = tmp_path_factory.mktemp("j6-flows")
    shutil.copy(REPO_ROOT / "flows" / "policies.yaml", flows)
    shutil.copy(JOURNEY_6, flows)
    text = JOURNEY_6.read_text()
    (flows / "no-backorders.yaml").write_text(
        _variant(text, "dom-without-backorders", "dom-nobo", "{backorders: disabled}")
    )
    (flows / "short-sla.yaml").write_text(
        _variant(
            text, "dom-short-sla", "dom-sla", f"{{backorders: enabled, cancellation_sla: {SLA_SECONDS}s}}"
        )
    )
    global _factory
    # Commands are issued from now, not from import time: a provider action's deadline counts
    # from its cause's time (and DOM skips requests already past theirs).
    _factory = CommandFactory(source="j6-test", start=datetime.now(UTC))
    settings = Settings(
        bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"j6{uuid.uuid4().hex[:8]}.",
        partitions=3,
        state_dir=state,
    )
    c = bootstrap(settings)
    create_topics(settings, c.topics)
    try:
        with running_dom_oms(c, flows, load_dom_config()) as running:
            yield running
    finally:
        delete_topics(settings, [c.topics.topic(s.name) for s in c.topics.specs()])


_factory = CommandFactory(source="j6-test", start=datetime.now(UTC))
_n = [0]


def _order(oms: DomOms, *skus: str, fulfillment: str = "dom") -> str:
    """A Seattle order for one of each SKU (2 units a line), in the flow ``fulfillment`` picks."""
    import random

    _n[0] += 1
    order_id = f"J6-{_n[0]:03d}"
    created = journey_order(6, _factory, order_id, random.Random(_n[0]), ref=_n[0])
    lines = tuple(
        OrderLine(line_id=str(i), sku=sku, quantity=2, unit_price=Decimal("12.00"))
        for i, sku in enumerate(skus, 1)
    )
    ship_to = created.ship_to.model_copy(update={"city": "Seattle", "postal_code": "98101"})
    oms.send(
        [
            created.model_copy(
                update={"lines": lines, "ship_to": ship_to, "attributes": {"fulfillment": fulfillment}}
            )
        ]
    )
    return order_id


def _line(state: OrderState, line_id: str) -> tuple[str, str]:
    line = state.line(line_id)
    assert line is not None
    return state.line_status(line), state.line_status_reason(line)


def _fno_syncs(oms: DomOms, order_id: str) -> list[str]:
    return [
        e.params.get("lines", "")
        for e in oms.timeline(order_id)
        if isinstance(e, ProviderActionRequested) and e.provider == "fno"
    ]


def _settled(state: OrderState) -> bool:
    return not state.pending_actions


def test_dom_reserves_the_units_and_makes_one_fulfillment_order_per_source(oms: DomOms) -> None:
    stocked(oms.c, ("J6-TEE", "SEA-DC", 10), ("J6-MUG", "DEN-DC", 10))
    order_id = _order(oms, "J6-TEE", "J6-MUG")

    state = oms.wait_until(order_id, lambda s: (s.status, s.status_reason) == DONE and _settled(s))

    fos = [e for e in oms.timeline(order_id) if isinstance(e, FulfillmentOrderCreated)]
    assert [(f.source, f.warehouse, [(x.line_id, x.quantity) for x in f.lines]) for f in fos] == [
        ("SEA-DC", "11", [("1", 2)]),
        ("DEN-DC", "12", [("2", 2)]),
    ]
    assert [(x.line_id, x.warehouse, x.synced) for x in state.lines] == [("1", "11", True), ("2", "12", True)]
    assert _fno_syncs(oms, order_id) == ["1,2"]
    promised = {x.reservation_id for f in fos for x in f.lines}
    assert len(promised) == 2 and None not in promised
    # shipped: each line's reservation is consumed and its units leave their source
    wait_for("the shipment in the inventory", lambda: _shipped_from(oms, promised))
    inventory = levels(oms.c)
    for key in ("J6-TEE@SEA-DC", "J6-MUG@DEN-DC"):
        assert (inventory[key].on_hand, inventory[key].reserved, inventory[key].reservations) == (8, 0, {})


def _shipped_from(oms: DomOms, reservations: set[str | None]) -> bool:
    """Every one of ``reservations`` consumed by a shipment (the order writer's outbox)."""
    consumed = {
        e.reservation_id
        for e in read_all(oms.c.settings, _inventory_start(oms), models(oms.c.codec, InventoryEvent))
        if isinstance(e, InventoryShipped) and e.consumed
    }
    return reservations <= consumed


def _inventory_start(oms: DomOms) -> dict[tuple[str, int], int]:
    topics = oms.c.topics
    return {(t, p): 0 for t in topics.inventory_event_topics() for p in range(topics.partitions)}


def test_without_backorders_a_line_without_stock_is_left_out_of_the_sync(oms: DomOms) -> None:
    stocked(oms.c, ("J6-CAP", "SEA-DC", 10))
    order_id = _order(oms, "J6-CAP", "J6-NONE-1", fulfillment="dom-nobo")

    state = oms.wait_until(order_id, lambda s: (s.status, s.status_reason) == DONE and _settled(s))

    assert _fno_syncs(oms, order_id) == ["1"]
    assert state.line("2") is not None and state.line("2").warehouse is None  # type: ignore[union-attr]
    assert not any(isinstance(e, OrderLinesBackordered) for e in oms.timeline(order_id))
    assert state.steps["optimize-fulfillment"].details.startswith("partially sourced")


def test_with_backorders_the_line_waits_until_a_receipt_and_the_backorder_job_release_it(
    oms: DomOms, request: pytest.FixtureRequest
) -> None:
    stocked(oms.c, ("J6-SOCK", "SEA-DC", 10))
    order_id = _order(oms, "J6-SOCK", "J6-BAG")

    held = oms.wait_until(order_id, lambda s: _line(s, "1") == DONE and _settled(s))
    assert _line(held, "2") == ("On hold", BACKORDER_HOLD)
    assert (held.status, held.status_reason) == ("In progress", "Validation succeeded")  # the lines disagree
    assert _fno_syncs(oms, order_id) == ["1"]

    job = BackorderJob(oms.c.settings, oms.c.topics, oms.c.codec, load_dom_config())
    request.addfinalizer(job.close)
    quiet = job.run_once()  # no stock yet: nothing to do but wait
    assert quiet.rechecked == () and quiet.waiting >= 1
    assert quiet.orders_examined >= 1  # the orders with lines on hold, not every order
    first_read, view_read = job.events_read, job.inventory_view().read
    job.run_once()  # reads what came since, not the topics from 0 again
    assert job.events_read < first_read and job.inventory_view().read == view_read

    send(
        oms.c,
        RecordReceipt(
            envelope=inventory_envelope("J6-BAG", "DEN-DC", "tests"), quantity=12, reference="ASN-1"
        ),
    )
    wait_for("the receipt seen by the job", lambda: any(order_id in x for x in job.run_once().rechecked), 20)

    done = oms.wait_until(order_id, lambda s: (s.status, s.status_reason) == DONE and _settled(s))
    timeline = oms.timeline(order_id)
    (released,) = [e for e in timeline if isinstance(e, OrderLinesReleased)]
    assert [c.line_id for c in released.lines] == ["2"]
    assert _fno_syncs(oms, order_id) == ["1", "2"]
    assert [(x.line_id, x.warehouse) for x in done.lines] == [("1", "11"), ("2", "12")]
    assert [f.source for f in timeline if isinstance(f, FulfillmentOrderCreated)] == ["SEA-DC", "DEN-DC"]
    reservations = {
        x.reservation_id for f in timeline if isinstance(f, FulfillmentOrderCreated) for x in f.lines
    }
    wait_for("the shipments in the inventory", lambda: _shipped_from(oms, reservations))
    bag = levels(oms.c)["J6-BAG@DEN-DC"]
    assert (bag.on_hand, bag.reserved) == (10, 0)  # 12 received, 2 shipped
    assert any(
        order_id in x for run in job_log(oms.c.settings, oms.c.topics, oms.c.codec) for x in run.rechecked
    )


def test_a_line_held_past_the_cancellation_sla_is_canceled_with_the_reason(oms: DomOms) -> None:
    stocked(oms.c, ("J6-PEN", "SEA-DC", 10))
    order_id = _order(oms, "J6-PEN", "J6-NONE-2", fulfillment="dom-sla")
    held = oms.wait_until(order_id, lambda s: _line(s, "1") == DONE and _settled(s))
    assert _line(held, "2") == ("On hold", BACKORDER_HOLD)

    time.sleep(SLA_SECONDS)  # the clock passing the SLA is what is under test, not a wait
    job = BackorderJob(oms.c.settings, oms.c.topics, oms.c.codec, load_dom_config())
    try:
        run = job.run_once()
    finally:
        job.close()

    assert f"{order_id}: 2" in run.canceled
    state = oms.wait_until(order_id, lambda s: _line(s, "2")[0] == "Canceled")
    reason = f"Backorder hold past its cancellation SLA ({SLA_SECONDS}s)"
    assert _line(state, "2") == ("Canceled", reason)
    assert (state.status, state.status_reason) == DONE  # the header follows its open line
    assert [e.reason for e in oms.timeline(order_id) if isinstance(e, OrderLinesCanceled)] == [reason]


def test_caught_up_every_consumer_group_reads_lag_0(oms: DomOms) -> None:
    stocked(oms.c, ("J6-LAG", "SEA-DC", 10))
    order_id = _order(oms, "J6-LAG")
    oms.wait_until(order_id, lambda s: (s.status, s.status_reason) == DONE and _settled(s))

    client = admin(oms.c.settings)
    prefix = oms.c.topics.prefix
    named = {f"{prefix}{g}" for g in (WRITER_GROUP, INVENTORY_GROUP, DOM_GROUP, "oms-fake-providers")}
    assert named <= set(groups(client, prefix))
    # The DOM coordinator and the fakes read topics the writers write in transactions.
    assert wait_until_caught_up(client, groups(client, prefix), timeout=30) == {}
