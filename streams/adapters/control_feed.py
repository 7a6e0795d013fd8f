"""The control topic (``oms.control``): pauses and resumes of flows and providers.

One partition, read whole by every writer and API at start and then followed: the order
of the records is the order of the operators' decisions.
"""

from __future__ import annotations

from pydantic import BaseModel

from streams.adapters.avro import AvroCodec
from streams.adapters.kafka_loop import FEED, KafkaLoop, Publisher, models
from streams.adapters.topics import TopicRegistry
from streams.domain.control import ControlRecord, Pauses, TargetPaused, TargetResumed
from streams.settings import Settings


def publish_control(
    settings: Settings, topics: TopicRegistry, codec: AvroCodec, record: ControlRecord
) -> None:
    publisher = Publisher(settings)
    publisher.send(topics.control, record.target.key.encode(), codec.encode(record))
    publisher.flush(30, "control records")


class ControlFeed:
    """Keeps ``pauses`` current: everything at start, then each record as it comes."""

    def __init__(self, settings: Settings, topics: TopicRegistry, codec: AvroCodec) -> None:
        self.pauses = Pauses()
        self.history: list[ControlRecord] = []
        self._loop = KafkaLoop(
            settings, models(codec, BaseModel), consumer=FEED, batch_size=100, name="control feed"
        )
        for batch in self._loop.read_to_end({(topics.control, 0): 0}):
            self._add(batch.records)

    def _add(self, records: list[BaseModel]) -> list[ControlRecord]:
        changed: list[ControlRecord] = []
        for record in records:
            if isinstance(record, TargetPaused | TargetResumed):
                self.history.append(record)
                if self.pauses.apply(record):
                    changed.append(record)
        return changed

    def poll(self) -> list[ControlRecord]:
        """The records since the last poll that changed what is paused; never blocks."""
        return self._add(self._loop.poll(0).records)

    def close(self) -> None:
        self._loop.close()
