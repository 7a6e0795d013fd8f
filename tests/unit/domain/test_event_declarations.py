"""Each event is declared once, as its class: the catalogue, the topics and the table's names
all come from it."""

from __future__ import annotations

from streams.adapters.topics import TopicRegistry
from streams.domain import events
from streams.domain.events import EVENT_TYPES, Event, LineEvent


def _subclasses(cls: type[Event]) -> set[type[Event]]:
    found = set(cls.__subclasses__())
    return found.union(*(_subclasses(c) for c in found))


def test_every_concrete_event_class_is_in_the_catalogue_and_no_base_is() -> None:
    concrete = {c for c in _subclasses(Event) if c.__module__ == events.__name__ and c is not LineEvent}
    assert set(EVENT_TYPES) == concrete
    assert LineEvent not in EVENT_TYPES


def test_each_event_has_its_own_topic_and_business_event() -> None:
    assert len({e.topic for e in EVENT_TYPES}) == len(EVENT_TYPES)
    assert len({e.business_event for e in EVENT_TYPES}) == len(EVENT_TYPES)


def test_the_topic_registry_routes_each_event_to_the_topic_its_class_names() -> None:
    registry = TopicRegistry(prefix="p.")
    assert {registry.event_topic(e) for e in EVENT_TYPES} == {f"p.{e.topic}" for e in EVENT_TYPES}
