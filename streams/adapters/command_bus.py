"""Publishing commands to ``order.commands``, keyed by order id."""

from __future__ import annotations

from confluent_kafka import Producer

from streams.adapters.avro import AvroCodec
from streams.adapters.kafka import producer_config
from streams.adapters.topics import TopicRegistry
from streams.domain.commands import Command
from streams.settings import Settings


class CommandBus:
    def __init__(self, settings: Settings, topics: TopicRegistry, codec: AvroCodec) -> None:
        self._producer = Producer(producer_config(settings))
        self._topic = topics.commands
        self._codec = codec

    def send(self, command: Command) -> None:
        key = command.envelope.order_id.encode()
        value = self._codec.encode(command)
        while True:
            try:
                self._producer.produce(self._topic, key=key, value=value)
                break
            except BufferError:  # local queue full: let deliveries drain, then retry
                self._producer.poll(0.1)
        self._producer.poll(0)

    def flush(self, timeout: float = 30.0) -> None:
        remaining = self._producer.flush(timeout)
        if remaining:
            raise TimeoutError(f"{remaining} commands not delivered within {timeout}s")
