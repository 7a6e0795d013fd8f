"""The one topic registry: each topic's name, key, Avro value schemas and partitions.

Every order topic is keyed by order id and has the same partition count, so partition
``p`` of every topic holds the same orders (co-partitioned) and one writer owns them.
Producers, the writer, replay, tools and tests all take topic names from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel

from streams.domain.alerts import AlertChanged
from streams.domain.backorders import BackorderJobRun
from streams.domain.commands import COMMAND_TYPES, CommandRejected, ProviderActionRequest
from streams.domain.control import TargetPaused, TargetResumed
from streams.domain.error_queue import ErrorRecorded, ErrorResolved
from streams.domain.events import EVENT_TYPES, Event
from streams.domain.flows import FlowPublished
from streams.domain.inventory import (
    INVENTORY_COMMAND_TYPES,
    ON_HAND_EVENTS,
    RESERVATION_EVENTS,
    InventoryEvent,
)
from streams.domain.values import Provider

FOREVER = {"retention.ms": "-1", "retention.bytes": "-1"}
"""Event topics are the source of truth (and the writer's changelog): never expire them."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    values: tuple[type[BaseModel], ...]
    key: str = "order_id"
    co_partitioned: bool = True
    partitions: int | None = None
    """``None``: the registry's partition count (always, for co-partitioned topics)."""
    config: dict[str, str] = field(default_factory=dict)
    doc: str = ""


_EVENT_TOPICS: tuple[tuple[str, type[Event]], ...] = tuple((cls.topic, cls) for cls in EVENT_TYPES)
"""Each order event's own topic, from its class (``Event.topic``)."""

PROVIDERS = tuple(Provider)
"""Each has a request topic its connector (one deployment per provider) consumes."""

INVENTORY_COMMANDS = "inventory.commands"
INVENTORY_ON_HAND = "inventory.on-hand"
INVENTORY_RESERVATIONS = "inventory.reservations"
BACKORDER_JOB_RUNS = "backorder.job-runs"

COMMANDS = "order.commands"
REJECTIONS = "order.command-rejected"
DEAD_LETTERS = "oms.dead-letter"
FLOW_DEFINITIONS = "flow.definitions"
ERRORS = "oms.errors"
ALERTS = "oms.alerts"
CONTROL = "oms.control"


def provider_requests(provider: str) -> str:
    return f"provider.{provider}.requests"


def _whole(
    name: str, values: tuple[type[BaseModel], ...], key: str, doc: str, config: dict[str, str] | None = None
) -> TopicSpec:
    """A topic every reader reads whole and in order (not by order partition): one partition."""
    return TopicSpec(name, values, key=key, co_partitioned=False, partitions=1, config=config or {}, doc=doc)


def _command_specs() -> list[TopicSpec]:
    return [
        TopicSpec(COMMANDS, COMMAND_TYPES, doc="Commands to orders; the writer consumes them."),
        TopicSpec(REJECTIONS, (CommandRejected,), doc="Commands the orders refused, and why."),
        TopicSpec(
            DEAD_LETTERS,
            (),
            key="original key",
            co_partitioned=False,
            config=FOREVER,
            doc="Records nobody could decode: original bytes, reason and origin in headers.",
        ),
    ]


def _operations_specs() -> list[TopicSpec]:
    return [
        TopicSpec(
            ERRORS,
            (ErrorRecorded, ErrorResolved),
            key="error id",
            co_partitioned=False,
            config=FOREVER,
            doc="The error queues: provider inbound, provider action, step and policy errors.",
        ),
        _whole(
            ALERTS,
            (AlertChanged,),
            key="alert id",
            config={"cleanup.policy": "compact"},
            doc="Alerts as they change: the latest state of each alert is kept.",
        ),
        _whole(
            CONTROL,
            (TargetPaused, TargetResumed),
            key="target key",
            config=FOREVER,
            doc="Pauses and resumes of flows and providers, in order; every writer reads them all.",
        ),
    ]


def _orchestration_specs() -> list[TopicSpec]:
    """The order history's event topics, the flow versions and the provider outboxes."""
    events = [TopicSpec(name, (cls,), config=FOREVER, doc=cls.__doc__ or "") for name, cls in _EVENT_TOPICS]
    flows = _whole(
        FLOW_DEFINITIONS,
        (FlowPublished,),
        key="flow name:version",
        config={"cleanup.policy": "compact"},
        doc="Published flow versions, immutable; the writer loads them all.",
    )
    requests = [
        TopicSpec(
            provider_requests(p),
            (ProviderActionRequest,),
            doc=f"Actions for the {p} connector; answers come back as RecordActionResult commands.",
        )
        for p in PROVIDERS
    ]
    return [*events, flows, *requests]


def _inventory_specs() -> list[TopicSpec]:
    """Inventory is its own aggregate, keyed SKU@source: its topics are co-partitioned
    with each other (one inventory writer per partition), not with the order topics."""
    return [
        TopicSpec(
            INVENTORY_COMMANDS,
            INVENTORY_COMMAND_TYPES,
            key="sku@source",
            doc="Counts, adjustments, receipts, shipments, reservations: the inventory writer's input.",
        ),
        TopicSpec(
            INVENTORY_ON_HAND,
            ON_HAND_EVENTS,
            key="sku@source",
            config=FOREVER,
            doc="On-hand history per SKU@source; every event carries on hand and reserved after it.",
        ),
        TopicSpec(
            INVENTORY_RESERVATIONS,
            RESERVATION_EVENTS,
            key="sku@source",
            config=FOREVER,
            doc="Reservations granted, refused, released: DOM's replies.",
        ),
        _whole(
            BACKORDER_JOB_RUNS,
            (BackorderJobRun,),
            key="run id",
            doc="The backorder job's log: one record per run.",
        ),
    ]


class TopicRegistry:
    """All topics of one deployment; ``prefix`` isolates tenants and test runs on one broker."""

    def __init__(self, prefix: str = "", partitions: int = 6) -> None:
        self.prefix = prefix
        self.partitions = partitions
        specs = [*_command_specs(), *_operations_specs(), *_orchestration_specs(), *_inventory_specs()]
        self._specs = {spec.name: spec for spec in specs}
        self._event_topic = {cls: self.topic(name) for name, cls in _EVENT_TOPICS}
        self._inventory_topic: dict[type[InventoryEvent], str] = {
            **dict.fromkeys(ON_HAND_EVENTS, self.topic(INVENTORY_ON_HAND)),
            **dict.fromkeys(RESERVATION_EVENTS, self.topic(INVENTORY_RESERVATIONS)),
        }

    def topic(self, logical: str) -> str:
        """The real topic name of a logical one (``order.shipped`` -> ``<prefix>order.shipped``)."""
        if logical not in self._specs:
            raise KeyError(f"unknown topic '{logical}'; known: {sorted(self._specs)}")
        return self.prefix + logical

    def specs(self) -> Sequence[TopicSpec]:
        return list(self._specs.values())

    def event_topic(self, event_type: type[Event]) -> str:
        return self._event_topic[event_type]

    def event_topics(self) -> list[str]:
        return list(self._event_topic.values())

    def inventory_event_topic(self, event_type: type[InventoryEvent]) -> str:
        return self._inventory_topic[event_type]

    def inventory_event_topics(self) -> list[str]:
        return [self.topic(INVENTORY_ON_HAND), self.topic(INVENTORY_RESERVATIONS)]

    @property
    def inventory_commands(self) -> str:
        return self.topic(INVENTORY_COMMANDS)

    @property
    def inventory_reservations(self) -> str:
        return self.topic(INVENTORY_RESERVATIONS)

    @property
    def backorder_job_runs(self) -> str:
        return self.topic(BACKORDER_JOB_RUNS)

    @property
    def commands(self) -> str:
        return self.topic(COMMANDS)

    @property
    def rejections(self) -> str:
        return self.topic(REJECTIONS)

    @property
    def dead_letters(self) -> str:
        return self.topic(DEAD_LETTERS)

    @property
    def errors(self) -> str:
        return self.topic(ERRORS)

    @property
    def alerts(self) -> str:
        return self.topic(ALERTS)

    @property
    def control(self) -> str:
        return self.topic(CONTROL)

    @property
    def flow_definitions(self) -> str:
        return self.topic(FLOW_DEFINITIONS)

    def provider_requests(self, provider: str) -> str:
        """Raises ``KeyError`` for a provider with no connector topic."""
        return self.topic(provider_requests(provider))

    def value_models(self) -> Iterable[type[BaseModel]]:
        for spec in self._specs.values():
            yield from spec.values
