"""The one topic registry: each topic's name, key, Avro value schemas and partitions.

Every order topic is keyed by order id and has the same partition count, so partition
``p`` of every topic holds the same orders (co-partitioned) and one writer owns them.
Producers, the writer, replay, tools and tests all take topic names from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel

from streams.domain.commands import COMMAND_TYPES, CommandRejected
from streams.domain.events import (
    ChannelStatusUpdated,
    Event,
    FulfillmentPicked,
    OrderAssigned,
    OrderCanceled,
    OrderCreated,
    OrderHeld,
    OrderInvoiced,
    OrderSentToFulfillment,
    OrderShipped,
    OrderValidated,
    OrderValidationFailed,
)

FOREVER = {"retention.ms": "-1", "retention.bytes": "-1"}
"""Event topics are the source of truth (and the writer's changelog): never expire them."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    values: tuple[type[BaseModel], ...]
    key: str = "order_id"
    co_partitioned: bool = True
    config: dict[str, str] = field(default_factory=dict)
    doc: str = ""


_EVENT_TOPICS: tuple[tuple[str, type[Event]], ...] = (
    ("order.created", OrderCreated),
    ("order.validated", OrderValidated),
    ("order.validation-failed", OrderValidationFailed),
    ("order.assigned", OrderAssigned),
    ("order.sent-to-fulfillment", OrderSentToFulfillment),
    ("fulfillment.picked", FulfillmentPicked),
    ("order.shipped", OrderShipped),
    ("order.invoiced", OrderInvoiced),
    ("order.canceled", OrderCanceled),
    ("order.held", OrderHeld),
    ("channel.status-updated", ChannelStatusUpdated),
)

COMMANDS = "order.commands"
REJECTIONS = "order.command-rejected"
DEAD_LETTERS = "oms.dead-letter"


class TopicRegistry:
    """All topics of one deployment; ``prefix`` isolates tenants and test runs on one broker."""

    def __init__(self, prefix: str = "", partitions: int = 6) -> None:
        self.prefix = prefix
        self.partitions = partitions
        specs = [
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
        specs += [
            TopicSpec(name, (cls,), config=FOREVER, doc=cls.__doc__ or "") for name, cls in _EVENT_TOPICS
        ]
        self._specs = {spec.name: spec for spec in specs}
        self._event_topic = {cls: self.topic(name) for name, cls in _EVENT_TOPICS}

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

    @property
    def commands(self) -> str:
        return self.topic(COMMANDS)

    @property
    def rejections(self) -> str:
        return self.topic(REJECTIONS)

    @property
    def dead_letters(self) -> str:
        return self.topic(DEAD_LETTERS)

    def value_models(self) -> Iterable[type[BaseModel]]:
        for spec in self._specs.values():
            yield from spec.values
