"""The inventory writer on a real broker: counts and reservations decided per SKU@source,
replies on inventory.reservations, and a restarted writer that picks up where its
predecessor stopped (a retried reservation gets no second grant)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from inventory_harness import inventory_writer, levels, send, stock
from waits import wait_for

from streams.adapters.kafka import create_topics, delete_topics
from streams.bootstrap import Components, bootstrap
from streams.domain.inventory import InventoryReserved, RecordReceipt, ReservationRefused, ReserveInventory
from streams.services.inventory import InventoryView, inventory_envelope
from streams.settings import Settings


@pytest.fixture
def c(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Components]:
    settings = Settings(
        bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"inv{uuid.uuid4().hex[:8]}.",
        partitions=3,
        state_dir=tmp_path,
    )
    components = bootstrap(settings)
    create_topics(settings, components.topics)
    try:
        yield components
    finally:
        delete_topics(settings, [components.topics.topic(s.name) for s in components.topics.specs()])


def _reserve(rid: str, quantity: int = 1, sku: str = "TEE", source: str = "SEA-DC") -> ReserveInventory:
    return ReserveInventory(
        envelope=inventory_envelope(sku, source, "tests"),
        reservation_id=rid,
        order_id=f"O-{rid}",
        line_id="1",
        quantity=quantity,
        requested_by="action-1",
    )


def test_reservations_are_decided_against_what_is_on_hand_and_answered_on_the_topic(c: Components) -> None:
    with inventory_writer(c):
        stock(c, ("TEE", "SEA-DC", 3), ("TEE", "DEN-DC", 5))
        send(c, _reserve("r1", 2), _reserve("r2", 2), _reserve("r3", 1), _reserve("r4", 4, source="DEN-DC"))
        view = InventoryView(c.settings, c.topics, c.codec)
        try:
            rids = ("r1", "r2", "r3", "r4")
            wait_for("four replies", lambda: (view.poll(0.2), all(view.fate(r) for r in rids))[1])
            fates = {rid: f.state for rid in rids if (f := view.fate(rid)) is not None}
            assert fates == {"r1": "reserved", "r2": "refused", "r3": "reserved", "r4": "reserved"}
            assert view.reservations_of("action-1") == set(rids)
            refused = view.fate("r2").event  # type: ignore[union-attr]
            assert isinstance(refused, ReservationRefused) and refused.reason == "2 wanted, 1 available"
            assert view.availability() == {("TEE", "SEA-DC"): 0, ("TEE", "DEN-DC"): 1}
            assert set(view.granted_to("action-1")) == {"r1", "r3", "r4"}
        finally:
            view.close()


def test_a_restarted_writer_restores_its_state_and_a_retried_reservation_gets_no_second_grant(
    c: Components,
) -> None:
    with inventory_writer(c, "inv-a", store_name="first"):
        stock(c, ("TEE", "SEA-DC", 2))
        send(c, _reserve("r1"))
        wait_for("the grant", lambda: "TEE@SEA-DC" in levels(c) and levels(c)["TEE@SEA-DC"].reserved == 1)
    # restarted on another host: an empty store, rebuilt from the inventory topics
    with inventory_writer(c, "inv-a", store_name="second") as writer:
        send(
            c,
            _reserve("r1"),
            RecordReceipt(envelope=inventory_envelope("TEE", "SEA-DC", "tests"), quantity=3),
        )
        wait_for("the receipt", lambda: levels(c)["TEE@SEA-DC"].on_hand == 5)
        assert writer.stats.restored_events == 2
    state = levels(c)["TEE@SEA-DC"]
    assert (state.on_hand, state.reserved, list(state.reservations)) == (5, 1, ["r1"])
    view = InventoryView(c.settings, c.topics, c.codec)
    view.close()
    assert view.reservations_of("action-1") == {"r1"}
    assert type(view.fate("r1").event) is InventoryReserved  # type: ignore[union-attr]


def test_a_restarted_stored_view_resumes_from_its_position_and_sees_what_came_since(c: Components) -> None:
    """DOM's view (and the backorder job's) is kept in a store: reopened, it reads only the
    inventory events appended since it stopped, not the topics from offset 0."""
    with inventory_writer(c):
        stock(c, ("TEE", "SEA-DC", 3), ("MUG", "DEN-DC", 4))
        send(c, _reserve("r1", 2))
        first = InventoryView.stored(c.settings, c.topics, c.codec, "dom-view")
        try:
            wait_for(
                "the grant and both counts",  # on two partitions: either may come first
                lambda: (
                    first.poll(0.2),
                    first.fate("r1") is not None and first.available("MUG", "DEN-DC") == 4,
                )[1],
            )
            assert first.read == 3
        finally:
            first.close()

        again = InventoryView.stored(c.settings, c.topics, c.codec, "dom-view")
        try:
            assert again.read == 0, "a caught-up view reopened reads nothing again"
            assert again.availability() == {("TEE", "SEA-DC"): 1, ("MUG", "DEN-DC"): 4}
            assert set(again.granted_to("action-1")) == {"r1"}
            send(c, RecordReceipt(envelope=inventory_envelope("MUG", "DEN-DC", "tests"), quantity=6))
            wait_for("the receipt", lambda: (again.poll(0.2), again.available("MUG", "DEN-DC") == 10)[1])
            assert again.read == 1
        finally:
            again.close()

        send(c, _reserve("r2", 1), _reserve("r3", 9, sku="MUG", source="DEN-DC"))
        wait_for(
            "both replies",
            lambda: (
                {"r2", "r3"}
                <= set(levels(c)["TEE@SEA-DC"].reservations) | set(levels(c)["MUG@DEN-DC"].reservations)
            ),
        )
        third = InventoryView.stored(c.settings, c.topics, c.codec, "dom-view")
        try:
            assert third.read == 2, "only the two events appended while it was closed"
            assert third.reservations_of("action-1") == {"r1", "r2", "r3"}
            assert third.availability() == {("TEE", "SEA-DC"): 0, ("MUG", "DEN-DC"): 1}
        finally:
            third.close()
