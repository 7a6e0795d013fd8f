"""Publishing flow versions to ``flow.definitions``, and reading them back.

The topic is compacted and keyed ``<name>:<version>``: every version ever published
stays, so an order started on version 3 finds version 3 after version 4 is out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import Consumer, Message, Producer, TopicPartition

from streams.adapters.avro import AvroCodec, UndecodableRecord
from streams.adapters.flow_files import content_hash
from streams.adapters.kafka import consumer_config, producer_config, read_to_end, value_of
from streams.adapters.topics import TopicRegistry
from streams.domain.flows import Flow, FlowCatalog, FlowPublished
from streams.settings import Settings


def read_published(settings: Settings, topics: TopicRegistry, codec: AvroCodec) -> list[FlowPublished]:
    consumer = Consumer(consumer_config(settings, None, **{"enable.partition.eof": True}))
    try:
        start = {(topics.flow_definitions, 0): 0}
        out = []
        for batch in read_to_end(consumer, start):
            for msg in batch:
                record = codec.decode(value_of(msg))
                if isinstance(record, FlowPublished):
                    out.append(record)
        return out
    finally:
        consumer.close()


@dataclass
class Publication:
    name: str
    version: int
    new: bool
    source: str


def publish_flows(
    settings: Settings, topics: TopicRegistry, codec: AvroCodec, flows: list[tuple[Flow, str]]
) -> list[Publication]:
    """Publish each (flow, source file) whose content differs from its latest version."""
    latest: dict[str, FlowPublished] = {}
    for record in read_published(settings, topics, codec):
        if record.name not in latest or record.version > latest[record.name].version:
            latest[record.name] = record
    producer = Producer(producer_config(settings))
    results = []
    for flow, source in flows:
        digest = content_hash(flow)
        current = latest.get(flow.name)
        if current is not None and current.content_hash == digest:
            results.append(Publication(flow.name, current.version, False, source))
            continue
        version = (current.version if current else 0) + 1
        record = FlowPublished(
            name=flow.name,
            version=version,
            content_hash=digest,
            published_at=datetime.now(UTC),
            source=source,
            definition=flow.model_copy(update={"version": version}).model_dump_json(),
        )
        producer.produce(
            topics.flow_definitions, key=f"{flow.name}:{version}".encode(), value=codec.encode(record)
        )
        results.append(Publication(flow.name, version, True, source))
    if producer.flush(30):
        raise TimeoutError("flow definitions not delivered within 30 s")
    return results


class FlowCatalogFeed:
    """Keeps a ``FlowCatalog`` current: everything at start, then new versions as they come."""

    def __init__(self, settings: Settings, topics: TopicRegistry, codec: AvroCodec) -> None:
        self.catalog = FlowCatalog()
        self._codec = codec
        self._consumer = Consumer(consumer_config(settings, None, **{"enable.partition.eof": True}))
        self._tp = TopicPartition(topics.flow_definitions, 0, 0)
        for batch in read_to_end(self._consumer, {(topics.flow_definitions, 0): 0}):
            self._add(batch)

    def _add(self, batch: list[Message]) -> None:
        for msg in batch:
            if msg.error() is not None:
                continue
            try:
                record = self._codec.decode(value_of(msg))
            except UndecodableRecord:
                continue
            if isinstance(record, FlowPublished):
                self.catalog.add(record.flow())

    def poll(self) -> None:
        """Pick up versions published since; never blocks."""
        self._add(self._consumer.consume(100, 0))

    def close(self) -> None:
        self._consumer.close()
