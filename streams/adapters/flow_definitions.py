"""Publishing flow versions to ``flow.definitions``, and reading them back.

The topic is compacted and keyed ``<name>:<version>``: every version ever published
stays, so an order started on version 3 finds version 3 after version 4 is out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from streams.adapters.avro import AvroCodec
from streams.adapters.flow_files import content_hash
from streams.adapters.kafka_loop import FEED, KafkaLoop, Publisher, models, read_all
from streams.adapters.topics import TopicRegistry
from streams.domain.flows import Flow, FlowCatalog, FlowPublished
from streams.settings import Settings


def read_published(settings: Settings, topics: TopicRegistry, codec: AvroCodec) -> list[FlowPublished]:
    return read_all(settings, {(topics.flow_definitions, 0): 0}, models(codec, FlowPublished))


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
    publisher = Publisher(settings)
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
        publisher.send(topics.flow_definitions, f"{flow.name}:{version}".encode(), codec.encode(record))
        results.append(Publication(flow.name, version, True, source))
    publisher.flush(30, "flow definitions")
    return results


class FlowCatalogFeed:
    """Keeps a ``FlowCatalog`` current: everything at start, then new versions as they come."""

    def __init__(self, settings: Settings, topics: TopicRegistry, codec: AvroCodec) -> None:
        self.catalog = FlowCatalog()
        self._loop = KafkaLoop(
            settings, models(codec, FlowPublished), consumer=FEED, batch_size=100, name="flow catalog"
        )
        for batch in self._loop.read_to_end({(topics.flow_definitions, 0): 0}):
            self._add(batch.records)

    def _add(self, published: list[FlowPublished]) -> None:
        for record in published:
            self.catalog.add(record.flow())

    def poll(self) -> None:
        """Pick up versions published since; never blocks."""
        self._add(self._loop.poll(0).records)

    def close(self) -> None:
        self._loop.close()
