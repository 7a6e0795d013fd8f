"""The control topic (``oms.control``): pauses and resumes of flows and providers.

One partition, read whole by every writer and API at start and then followed: the order
of the records is the order of the operators' decisions.
"""

from __future__ import annotations

from confluent_kafka import Consumer, Message, Producer

from streams.adapters.avro import AvroCodec, UndecodableRecord
from streams.adapters.kafka import consumer_config, producer_config, read_to_end, value_of
from streams.adapters.topics import TopicRegistry
from streams.domain.control import ControlRecord, Pauses, TargetPaused, TargetResumed
from streams.settings import Settings


def publish_control(
    settings: Settings, topics: TopicRegistry, codec: AvroCodec, record: ControlRecord
) -> None:
    producer = Producer(producer_config(settings))
    producer.produce(topics.control, key=record.target.key.encode(), value=codec.encode(record))
    if producer.flush(30):
        raise TimeoutError("the control record was not delivered within 30 s")


class ControlFeed:
    """Keeps ``pauses`` current: everything at start, then each record as it comes."""

    def __init__(self, settings: Settings, topics: TopicRegistry, codec: AvroCodec) -> None:
        self.pauses = Pauses()
        self.history: list[ControlRecord] = []
        self._codec = codec
        self._consumer = Consumer(consumer_config(settings, None, **{"enable.partition.eof": True}))
        for batch in read_to_end(self._consumer, {(topics.control, 0): 0}):
            self._add(batch)

    def _add(self, batch: list[Message]) -> list[ControlRecord]:
        changed = []
        for msg in batch:
            if msg.error() is not None:
                continue
            try:
                record = self._codec.decode(value_of(msg))
            except UndecodableRecord:
                continue
            if isinstance(record, TargetPaused | TargetResumed):
                self.history.append(record)
                if self.pauses.apply(record):
                    changed.append(record)
        return changed

    def poll(self) -> list[ControlRecord]:
        """The records since the last poll that changed what is paused; never blocks."""
        return self._add(self._consumer.consume(100, 0))

    def close(self) -> None:
        self._consumer.close()
