"""Stand-in connectors for some providers only: ``devkit.fake_providers`` answering just the
topics it is told to, beside the real connectors for the others.

Journey 6 needs DOM (``send_to_fulfillment_optimization``), which has no connector yet:
``python -m devkit.stand_in --provider dom`` plays it while the HTTP connectors play
BigCommerce, F&O, Flexe and SAP. The answers are ``FakeProviders.answer``'s; only the
subscription differs (and the consumer group, so that it never shares one with a full
``devkit.fake_providers``).
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Sequence

from confluent_kafka import Consumer, Producer

from devkit.fake_providers import FakeProviders
from streams.adapters.avro import AvroCodec, UndecodableRecord
from streams.adapters.kafka import OffsetCommits, consumer_config, producer_config, value_of
from streams.adapters.topics import PROVIDERS, TopicRegistry
from streams.domain.commands import ProviderActionRequest
from streams.settings import Settings

log = logging.getLogger(__name__)


class StandIn:
    """``FakeProviders`` answers for ``providers``, consumed from their request topics only."""

    def __init__(
        self, settings: Settings, topics: TopicRegistry, codec: AvroCodec, providers: Sequence[str]
    ) -> None:
        unknown = sorted(set(providers) - set(PROVIDERS))
        if unknown or not providers:
            raise ValueError(f"unknown providers {unknown}; known: {', '.join(PROVIDERS)}")
        self.providers = tuple(providers)
        self.topics = topics
        self.codec = codec
        self.fakes = FakeProviders(settings, topics, codec)
        group = f"{topics.prefix}oms-stand-in-{'-'.join(sorted(self.providers))}"
        self._consumer = Consumer(consumer_config(settings, group))
        self._producer = Producer(producer_config(settings))

    def run(self, stop: threading.Event) -> None:
        self._consumer.subscribe([self.topics.provider_requests(p) for p in self.providers])
        commits = OffsetCommits(self._consumer)  # positions: past the writer's transaction markers
        try:
            while not stop.is_set():
                msgs = [m for m in self._consumer.consume(500, 0.2) if m.error() is None]
                for msg in msgs:
                    try:
                        request = self.codec.decode(value_of(msg))
                    except UndecodableRecord as exc:
                        log.error("skipped an undecodable request: %s", exc)
                        continue
                    if not isinstance(request, ProviderActionRequest):
                        continue
                    for command in self.fakes.answer(request):
                        self._producer.produce(
                            self.topics.commands,
                            key=command.envelope.order_id.encode(),
                            value=self.codec.encode(command),
                        )
                commits.commit_positions(self._consumer.assignment(), lambda: self._producer.flush(10))
        finally:
            self._consumer.close()
            self._producer.flush(10)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m devkit.stand_in --provider dom``."""
    from streams.bootstrap import bootstrap

    parser = argparse.ArgumentParser(
        prog="python -m devkit.stand_in",
        description="devkit.fake_providers for some providers only (e.g. DOM beside the real "
        "BigCommerce, F&O, Flexe and SAP connectors). Kafka settings from the environment "
        "(KAFKA_BOOTSTRAP_SERVERS, OMS_TOPIC_PREFIX, OMS_PARTITIONS).",
    )
    parser.add_argument(
        "--provider",
        action="append",
        required=True,
        choices=PROVIDERS,
        help="a provider to play (repeat for several)",
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    c = bootstrap()
    stand_in = StandIn(c.settings, c.topics, c.codec, args.provider)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    log.info("standing in for %s on %s", ", ".join(stand_in.providers), c.settings.bootstrap_servers)
    stand_in.run(stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
