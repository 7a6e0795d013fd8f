"""Talking to the inventory aggregate: commands in (``InventoryFeed``), and what it decided
read back (``InventoryView``): units available per SKU@source and every reservation's fate.

The view reads every partition of both inventory event topics from the beginning, so a
DOM coordinator that restarts knows which of its reservations were already granted and
the availability it plans with, and then tails them. Each event carries its key's on
hand and reserved units, so availability is simply the newest event per key.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from streams.adapters.avro import AvroCodec
from streams.adapters.kafka_loop import KafkaLoop, Publisher, models
from streams.adapters.topics import TopicRegistry
from streams.domain.inventory import (
    InventoryCommand,
    InventoryCommandEnvelope,
    InventoryEnvelope,
    InventoryEvent,
    InventoryReserved,
    InventoryShipped,
    ReservationRefused,
    ReservationReleased,
    inventory_key,
)
from streams.settings import Settings


def inventory_envelope(
    sku: str,
    source: str,
    issued_by: str,
    command_id: str | None = None,
    correlation_id: str | None = None,
    issued_at: datetime | None = None,
) -> InventoryCommandEnvelope:
    command_id = command_id or f"{issued_by}/{uuid.uuid4()}"
    return InventoryCommandEnvelope(
        command_id=command_id,
        sku=sku,
        source=source,
        issued_at=issued_at or datetime.now(UTC),
        correlation_id=correlation_id or command_id,
        issued_by=issued_by,
    )


class InventoryFeed:
    """Publishes inventory commands to ``inventory.commands``, keyed SKU@source."""

    def __init__(
        self, settings: Settings, topics: TopicRegistry, codec: AvroCodec, **producer: object
    ) -> None:
        self._publisher = Publisher(settings, **producer)
        self._topic = topics.inventory_commands
        self._codec = codec

    def send(self, command: InventoryCommand) -> None:
        self._publisher.send(self._topic, command.envelope.key.encode(), self._codec.encode(command))

    def send_all(self, commands: Iterable[InventoryCommand]) -> int:
        n = 0
        for command in commands:
            self.send(command)
            n += 1
        return n

    def flush(self, timeout: float = 30.0) -> None:
        self._publisher.flush(timeout, "inventory commands")


@dataclass(frozen=True)
class ReservationFate:
    """What became of a reservation id, as of the newest event about it."""

    seq: int
    state: str
    """reserved, refused, released or consumed."""
    event: InventoryEvent


class InventoryView:
    """Availability per SKU@source and every reservation's fate, from the inventory event topics."""

    def __init__(self, settings: Settings, topics: TopicRegistry, codec: AvroCodec) -> None:
        self.levels: dict[str, InventoryEnvelope] = {}
        self.fates: dict[str, ReservationFate] = {}
        self.by_action: dict[str, set[str]] = {}
        self.loop = KafkaLoop(
            settings,
            models(codec, InventoryEvent),
            consumer={"fetch.wait.max.ms": 10},
            batch_size=5000,
            name="inventory view",
        )
        start = {(t, p): 0 for t in topics.inventory_event_topics() for p in range(topics.partitions)}
        for batch in self.loop.read_to_end(start):  # then it goes on from there
            self._absorb(batch.records)

    def poll(self, timeout: float = 0.0) -> list[InventoryEvent]:
        """Newly committed inventory events (also folded into the view)."""
        return self._absorb(self.loop.poll(timeout).records)

    def _absorb(self, events: list[InventoryEvent]) -> list[InventoryEvent]:
        for event in events:
            self._fold(event)
        return events

    def _fold(self, event: InventoryEvent) -> None:
        env = event.envelope
        key = env.key
        if key not in self.levels or env.seq > self.levels[key].seq:
            self.levels[key] = env
        if isinstance(event, InventoryReserved | ReservationRefused | ReservationReleased):
            rid, state = event.reservation_id, event.kind
            self.by_action.setdefault(event.requested_by, set()).add(rid)
        elif isinstance(event, InventoryShipped) and event.reservation_id and event.consumed:
            rid, state = event.reservation_id, "consumed"
        else:
            return
        fate = self.fates.get(rid)
        if fate is None or env.seq > fate.seq:
            self.fates[rid] = ReservationFate(env.seq, state, event)

    def available(self, sku: str, source: str) -> int:
        env = self.levels.get(inventory_key(sku, source))
        return env.available if env is not None else 0

    def availability(self) -> dict[tuple[str, str], int]:
        return {(env.sku, env.source): env.available for env in self.levels.values()}

    def granted_to(self, action_id: str) -> dict[str, InventoryReserved]:
        """The reservations an action (a DOM request) holds now."""
        out = {}
        for rid in self.by_action.get(action_id, ()):
            fate = self.fates[rid]
            if fate.state == "reserved" and isinstance(fate.event, InventoryReserved):
                out[rid] = fate.event
        return out

    def close(self) -> None:
        self.loop.close()
