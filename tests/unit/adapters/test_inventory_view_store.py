"""An inventory reader's stored view: levels, reservation fates and each DOM action's
reservations survive a reopen together with the offsets they reflect; nothing written
before ``flush`` is on disk."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from streams.adapters.state_store import InventoryViewStore
from streams.domain.inventory import (
    InventoryEnvelope,
    InventoryReserved,
    InventoryShipped,
    ReservationRefused,
    fate_of,
)

AT = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
TOPICS = ["inventory.levels", "inventory.reservations"]


def _env(seq: int, on_hand: int, reserved: int) -> InventoryEnvelope:
    return InventoryEnvelope(
        event_id=f"e-{seq}",
        sku="TEE",
        source="SEA-DC",
        seq=seq,
        occurred_at=AT,
        correlation_id="c",
        causation_id=f"cmd-{seq}",
        issued_by="tests",
        on_hand=on_hand,
        reserved=reserved,
    )


def _reserved(seq: int, rid: str) -> InventoryReserved:
    who = {"order_id": "O-1", "line_id": "1", "quantity": 2, "requested_by": "act-1"}
    return InventoryReserved(envelope=_env(seq, 5, 2), reservation_id=rid, **who)


def test_a_flushed_view_reopens_with_its_fates_index_levels_and_checkpoint(tmp_path: Path) -> None:
    store = InventoryViewStore(tmp_path / "view")
    granted = _reserved(2, "act-1/1/SEA-DC/2/0")
    refused = ReservationRefused(
        envelope=_env(3, 5, 2),
        reservation_id="act-1/2/SEA-DC/9/0",
        order_id="O-1",
        line_id="2",
        quantity=9,
        requested_by="act-1",
        available=3,
        reason="9 wanted, 3 available",
    )
    for event in (granted, refused):
        decided = fate_of(event)
        assert decided is not None
        store.put_fate(*decided, event.requested_by)
    store["TEE@SEA-DC"] = refused.envelope
    assert store.reservations_of("act-1") == {granted.reservation_id, refused.reservation_id}
    store.flush({(TOPICS[1], 0): 3})
    store.close()

    again = InventoryViewStore(tmp_path / "view")
    try:
        assert again.checkpoint(TOPICS, 0) == {(TOPICS[0], 0): 0, (TOPICS[1], 0): 3}
        assert again.reservations_of("act-1") == {granted.reservation_id, refused.reservation_id}
        assert again.reservations_of("act-2") == set()
        fate = again.fate(refused.reservation_id)
        assert fate is not None and (fate.seq, fate.state, fate.event) == (3, "refused", refused)
        assert dict(again.items()) == {"TEE@SEA-DC": refused.envelope}
    finally:
        again.close()


def test_what_is_not_flushed_is_not_stored(tmp_path: Path) -> None:
    store = InventoryViewStore(tmp_path / "view")
    shipped = InventoryShipped(envelope=_env(4, 3, 0), quantity=2, reservation_id="r1", consumed=2)
    decided = fate_of(shipped)
    assert decided is not None and decided[1].state == "consumed"
    store.put_fate(*decided, None)
    assert store.fate("r1") == decided[1]
    store.discard_pending()
    assert store.fate("r1") is None
    store.close()
