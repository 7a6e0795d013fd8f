"""Publishing commands to ``order.commands``, keyed by order id."""

from __future__ import annotations

from streams.adapters.avro import AvroCodec
from streams.adapters.kafka_loop import Publisher
from streams.adapters.topics import TopicRegistry
from streams.domain.commands import Command
from streams.settings import Settings


class CommandBus:
    def __init__(self, settings: Settings, topics: TopicRegistry, codec: AvroCodec) -> None:
        self._publisher = Publisher(settings)
        self._topic = topics.commands
        self._codec = codec

    def send(self, command: Command) -> None:
        self._publisher.send(self._topic, command.envelope.order_id.encode(), self._codec.encode(command))

    def flush(self, timeout: float = 30.0) -> None:
        self._publisher.flush(timeout, "commands")
