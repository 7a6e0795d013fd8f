"""Inventory per (SKU, source): on hand, soft reservations and what is available. Pure.

An event-sourced aggregate of its own, keyed ``SKU@source``: feeds report counts,
adjustments, receipts and shipments; DOM reserves units for order lines and releases
what it no longer needs. One writer decides every command of a key, one at a time, so
a reservation is granted only from units nobody holds: **no unit is ever promised
twice**, however many DOM coordinators compete for it.

Reservation ids are deterministic (DOM derives them from the provider action and the
line), and a reservation id is decided once: a retried saga step that asks again gets
no second grant and no second reply (the first one stands on the topic). The aggregate
remembers the last ``SETTLED_MEMORY`` refused or released ids for that, and the last
``COMMAND_MEMORY`` command ids, so a feed that sends a receipt twice counts it once.

Every event carries the key's on-hand and reserved units after it, so a reader keeps
an availability view by taking, per key, the event with the highest ``seq``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field

from streams.domain.ids import event_id
from streams.domain.values import Value

COMMAND_MEMORY = 1000
SETTLED_MEMORY = 5000


def inventory_key(sku: str, source: str) -> str:
    """The Kafka key (and aggregate id) of a SKU at a source."""
    return f"{sku}@{source}"


# --- commands ------------------------------------------------------------------------------


class InventoryCommandEnvelope(Value):
    command_id: str
    sku: str
    source: str
    issued_at: datetime
    correlation_id: str
    issued_by: str

    @property
    def key(self) -> str:
        return inventory_key(self.sku, self.source)


class InventoryCommand(Value):
    envelope: InventoryCommandEnvelope


class SetOnHand(InventoryCommand):
    """A count (or a bulk upload's snapshot): on hand is now ``quantity``."""

    quantity: int = Field(ge=0)


class AdjustOnHand(InventoryCommand):
    delta: int
    reason: str = ""


class RecordReceipt(InventoryCommand):
    quantity: int = Field(gt=0)
    reference: str = ""


class RecordShipment(InventoryCommand):
    """Units left the source; with a reservation id, they were that reservation's."""

    quantity: int = Field(gt=0)
    reservation_id: str | None = None
    reference: str = ""


class ReserveInventory(InventoryCommand):
    """Hold ``quantity`` units for an order line, leaving at least ``keep`` available."""

    reservation_id: str
    order_id: str
    line_id: str
    quantity: int = Field(gt=0)
    keep: int = Field(default=0, ge=0)
    requested_by: str = ""
    """The provider action (DOM request) that asked: DOM finds its reservations by it."""


class ReleaseReservation(InventoryCommand):
    reservation_id: str
    reason: str = ""


INVENTORY_COMMAND_TYPES: tuple[type[InventoryCommand], ...] = (
    SetOnHand,
    AdjustOnHand,
    RecordReceipt,
    RecordShipment,
    ReserveInventory,
    ReleaseReservation,
)


# --- events --------------------------------------------------------------------------------


class InventoryEnvelope(Value):
    event_id: str
    sku: str
    source: str
    seq: int
    occurred_at: datetime
    correlation_id: str
    causation_id: str
    issued_by: str
    on_hand: int
    """Units on hand after this event."""
    reserved: int
    """Units held by reservations after this event."""

    @property
    def key(self) -> str:
        return inventory_key(self.sku, self.source)

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class InventoryEvent(Value):
    kind: ClassVar[str]
    envelope: InventoryEnvelope


class OnHandCounted(InventoryEvent):
    kind: ClassVar[str] = "counted"
    quantity: int
    delta: int


class OnHandAdjusted(InventoryEvent):
    kind: ClassVar[str] = "adjusted"
    delta: int
    reason: str = ""


class InventoryReceived(InventoryEvent):
    kind: ClassVar[str] = "received"
    quantity: int
    reference: str = ""


class InventoryShipped(InventoryEvent):
    kind: ClassVar[str] = "shipped"
    quantity: int
    reservation_id: str | None = None
    consumed: int = 0
    """Units of the reservation the shipment used up."""
    reference: str = ""


class _ReservationEvent(InventoryEvent):
    reservation_id: str
    order_id: str
    line_id: str
    quantity: int
    requested_by: str = ""


class InventoryReserved(_ReservationEvent):
    kind: ClassVar[str] = "reserved"


class ReservationRefused(_ReservationEvent):
    kind: ClassVar[str] = "refused"
    available: int
    reason: str


class ReservationReleased(_ReservationEvent):
    kind: ClassVar[str] = "released"
    reason: str = ""


ON_HAND_EVENTS: tuple[type[InventoryEvent], ...] = (
    OnHandCounted,
    OnHandAdjusted,
    InventoryReceived,
    InventoryShipped,
)
RESERVATION_EVENTS: tuple[type[InventoryEvent], ...] = (
    InventoryReserved,
    ReservationRefused,
    ReservationReleased,
)
EVENT_KINDS: dict[str, type[InventoryEvent]] = {
    cls.kind: cls for cls in (*ON_HAND_EVENTS, *RESERVATION_EVENTS)
}
"""Each inventory event class by its ``kind`` (a stored view names its events so)."""


@dataclass(frozen=True)
class ReservationFate:
    """What became of a reservation id, as of the newest event about it (a reader's view)."""

    seq: int
    state: str
    """reserved, refused, released or consumed."""
    event: InventoryEvent


def fate_of(event: InventoryEvent) -> tuple[str, ReservationFate] | None:
    """The reservation ``event`` decides, and its fate after it; None for other events."""
    if isinstance(event, InventoryReserved | ReservationRefused | ReservationReleased):
        return event.reservation_id, ReservationFate(event.envelope.seq, event.kind, event)
    if isinstance(event, InventoryShipped) and event.reservation_id and event.consumed:
        return event.reservation_id, ReservationFate(event.envelope.seq, "consumed", event)
    return None


# --- state ---------------------------------------------------------------------------------


class Reservation(Value):
    order_id: str
    line_id: str
    quantity: int
    requested_by: str = ""


class InventoryState(Value):
    sku: str
    source: str
    version: int = 0
    on_hand: int = 0
    reservations: dict[str, Reservation] = Field(default_factory=dict)
    settled: tuple[str, ...] = ()
    """Recently refused or released reservation ids: asked again, they get nothing."""
    recent_commands: tuple[str, ...] = ()
    updated_at: datetime | None = None

    @property
    def key(self) -> str:
        return inventory_key(self.sku, self.source)

    @property
    def reserved(self) -> int:
        return sum(r.quantity for r in self.reservations.values())

    @property
    def available(self) -> int:
        """What can still be promised; negative when a count found fewer units than are held."""
        return self.on_hand - self.reserved


def _remember(ids: tuple[str, ...], new: str, limit: int) -> tuple[str, ...]:
    kept = (*ids, new)
    return kept[-limit:] if len(kept) > limit else kept


def empty_inventory(sku: str, source: str) -> InventoryState:
    return InventoryState(sku=sku, source=source)


def evolve_inventory(state: InventoryState | None, event: InventoryEvent) -> InventoryState:
    """The state after ``event``; a duplicate (seq already folded) leaves it as is. On hand
    and reserved come from the envelope, so folding never re-derives a decision."""
    env = event.envelope
    state = state or empty_inventory(env.sku, env.source)
    if env.seq <= state.version:
        return state
    reservations = state.reservations
    settled = state.settled
    if isinstance(event, InventoryReserved):
        reservations = {
            **reservations,
            event.reservation_id: Reservation(
                order_id=event.order_id,
                line_id=event.line_id,
                quantity=event.quantity,
                requested_by=event.requested_by,
            ),
        }
    elif isinstance(event, ReservationRefused):
        settled = _remember(settled, event.reservation_id, SETTLED_MEMORY)
    elif isinstance(event, ReservationReleased):
        reservations = {k: v for k, v in reservations.items() if k != event.reservation_id}
        settled = _remember(settled, event.reservation_id, SETTLED_MEMORY)
    elif isinstance(event, InventoryShipped) and event.reservation_id in reservations:
        held = reservations[event.reservation_id]
        left = held.quantity - event.consumed
        reservations = {k: v for k, v in reservations.items() if k != event.reservation_id}
        if left > 0:
            reservations[event.reservation_id] = held.model_copy(update={"quantity": left})
        else:
            settled = _remember(settled, event.reservation_id, SETTLED_MEMORY)
    recent = state.recent_commands
    if not isinstance(event, _ReservationEvent):
        recent = _remember(recent, env.causation_id, COMMAND_MEMORY)
    return state.model_copy(
        update={
            "version": env.seq,
            "on_hand": env.on_hand,
            "reservations": reservations,
            "settled": settled,
            "recent_commands": recent,
            "updated_at": env.occurred_at,
        }
    )


# --- decisions -----------------------------------------------------------------------------


def _event(
    cls: type[InventoryEvent],
    command: InventoryCommand,
    state: InventoryState,
    on_hand: int,
    reserved: int,
    **payload: Any,
) -> InventoryEvent:
    cmd = command.envelope
    envelope = InventoryEnvelope(
        event_id=event_id(cmd.command_id, 0),
        sku=cmd.sku,
        source=cmd.source,
        seq=state.version + 1,
        occurred_at=cmd.issued_at,
        correlation_id=cmd.correlation_id,
        causation_id=cmd.command_id,
        issued_by=cmd.issued_by,
        on_hand=on_hand,
        reserved=reserved,
    )
    return cls(envelope=envelope, **payload)


def _reserve(c: ReserveInventory, s: InventoryState) -> list[InventoryEvent]:
    if c.reservation_id in s.reservations or c.reservation_id in s.settled:
        return []  # decided before: the first reply stands
    who: dict[str, Any] = {"reservation_id": c.reservation_id, "order_id": c.order_id, "line_id": c.line_id}
    who |= {"quantity": c.quantity, "requested_by": c.requested_by}
    if s.available - c.quantity >= c.keep:
        return [_event(InventoryReserved, c, s, s.on_hand, s.reserved + c.quantity, **who)]
    reason = f"{c.quantity} wanted, {max(s.available, 0)} available"
    if c.keep:
        reason += f", {c.keep} kept back as safety stock"
    return [
        _event(ReservationRefused, c, s, s.on_hand, s.reserved, available=s.available, reason=reason, **who)
    ]


def _release(c: ReleaseReservation, s: InventoryState) -> list[InventoryEvent]:
    held = s.reservations.get(c.reservation_id)
    if held is None:
        return []  # never granted, or released already
    payload = {"reservation_id": c.reservation_id, **held.model_dump(), "reason": c.reason}
    return [_event(ReservationReleased, c, s, s.on_hand, s.reserved - held.quantity, **payload)]


def _ship(c: RecordShipment, s: InventoryState) -> list[InventoryEvent]:
    held = s.reservations.get(c.reservation_id or "")
    consumed = min(c.quantity, held.quantity) if held is not None else 0
    on_hand = max(0, s.on_hand - c.quantity)
    payload = {"quantity": c.quantity, "reservation_id": c.reservation_id, "consumed": consumed}
    return [_event(InventoryShipped, c, s, on_hand, s.reserved - consumed, reference=c.reference, **payload)]


_DECIDERS: dict[type[InventoryCommand], Callable[[Any, InventoryState], list[InventoryEvent]]] = {
    SetOnHand: lambda c, s: [
        _event(OnHandCounted, c, s, c.quantity, s.reserved, quantity=c.quantity, delta=c.quantity - s.on_hand)
    ],
    AdjustOnHand: lambda c, s: [
        _event(
            OnHandAdjusted,
            c,
            s,
            max(0, s.on_hand + c.delta),
            s.reserved,
            delta=max(c.delta, -s.on_hand),
            reason=c.reason,
        )
    ],
    RecordReceipt: lambda c, s: [
        _event(
            InventoryReceived,
            c,
            s,
            s.on_hand + c.quantity,
            s.reserved,
            quantity=c.quantity,
            reference=c.reference,
        )
    ],
    RecordShipment: _ship,
    ReserveInventory: _reserve,
    ReleaseReservation: _release,
}


def decide_inventory(command: InventoryCommand, state: InventoryState | None) -> list[InventoryEvent]:
    """The events ``command`` causes; none for a command already decided."""
    cmd = command.envelope
    state = state or empty_inventory(cmd.sku, cmd.source)
    if cmd.command_id in state.recent_commands:
        return []
    return _DECIDERS[type(command)](command, state)


# --- reading availability ------------------------------------------------------------------


def availability(levels: Mapping[str, InventoryEnvelope]) -> dict[tuple[str, str], int]:
    """(sku, source) -> units available, from the latest envelope of each key."""
    return {(env.sku, env.source): env.available for env in levels.values()}
