"""Stand-in connectors for some providers only: ``devkit.fake_providers`` answering just the
topics it is told to, beside the real connectors for the others.

Journey 6 needs DOM (``send_to_fulfillment_optimization``), which has no connector yet:
``python -m devkit.stand_in --provider dom`` plays it while the HTTP connectors play
BigCommerce, F&O, Flexe and SAP. The answers are ``FakeProviders.answer``'s; only the
subscription differs (and the consumer group, so that it never shares one with a full
``devkit.fake_providers``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import ClassVar

from pydantic import Field, field_validator

from devkit.fake_providers import FakeProviders
from streams.adapters.avro import AvroCodec
from streams.adapters.topics import PROVIDERS, TopicRegistry
from streams.settings import Settings
from streams.shell.commands import run_command, with_settings
from streams.shell.process import run_service
from streams.shell.settings import ServiceSettings

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


class StandInSettings(ServiceSettings):
    """``python -m devkit.stand_in``: fake providers for some providers only."""

    process: ClassVar[str] = "stand-in"
    default_metrics_port: ClassVar[int] = 9310

    provider: list[str] = Field(
        default_factory=list,
        min_length=1,
        description="a provider to play (repeat for several): " + ", ".join(PROVIDERS),
    )

    @field_validator("provider")
    @classmethod
    def _known(cls, providers: list[str]) -> list[str]:
        unknown = sorted(set(providers) - set(PROVIDERS))
        if unknown:
            raise ValueError(f"unknown provider {unknown[0]!r} (known: {', '.join(PROVIDERS)})")
        return providers


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m devkit.stand_in --provider dom``: in the process shell (metrics, SIGTERM)."""
    return run_command(
        _run,
        "python -m devkit.stand_in",
        "devkit.fake_providers for some providers only (e.g. DOM beside the real BigCommerce, "
        "F&O, Flexe and SAP connectors).",
        argv,
    )


@with_settings(StandInSettings)
def _run(settings: StandInSettings) -> int:
    from streams.bootstrap import bootstrap

    def work(stop: threading.Event) -> None:
        c = bootstrap(settings)
        stand_in = StandIn(c.settings, c.topics, c.codec, settings.provider)
        log.info("standing in for %s on %s", ", ".join(stand_in.providers), c.settings.bootstrap_servers)
        stand_in.run(stop)

    return run_service(settings, work, owns_state=False)


if __name__ == "__main__":
    raise SystemExit(main())
