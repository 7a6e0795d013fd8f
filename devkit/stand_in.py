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

from devkit.fake_providers import FakeProviders
from streams.adapters.avro import AvroCodec
from streams.adapters.topics import PROVIDERS, TopicRegistry
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
        group = f"oms-stand-in-{'-'.join(sorted(self.providers))}"
        self.fakes = FakeProviders(settings, topics, codec, providers=self.providers, group=group)

    def run(self, stop: threading.Event) -> None:
        self.fakes.run(stop)


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
