"""``oms dom``: the DOM provider process (see ``streams.services.dom``)."""

from __future__ import annotations

import logging
import threading
import time

import typer

from streams.bootstrap import bootstrap
from streams.services.dom import DOM_GROUP, DomCoordinator
from streams.services.sourcing_config import ConfigFileError, load_dom_config
from streams.shell.commands import CommandFailed, run_command, with_settings
from streams.shell.lag import LagMonitor
from streams.shell.process import run_service
from streams.shell.settings import DomSettings

log = logging.getLogger(__name__)


HELP = (
    "Run fulfillment optimization (DOM): sources each order under the configured strategies, reserves "
    "its units through the inventory writers and answers the order writer. One per host; they share "
    "the requests."
)


def register(app: typer.Typer) -> None:
    app.command("dom", help=HELP)(run)


@with_settings(DomSettings)
def run(settings: DomSettings) -> int:
    try:
        config = load_dom_config(settings.config)
    except ConfigFileError as exc:
        raise CommandFailed(str(exc)) from None

    def work(stop: threading.Event) -> None:
        c = bootstrap(settings)
        coordinator = DomCoordinator(c.settings, c.topics, c.codec, config, batch_size=settings.batch_size)
        log.info(
            "DOM %s on %s: %d sources, strategies %s",
            settings.instance_id,
            settings.bootstrap_servers,
            len(config.sources),
            ", ".join(s.name for s in config.strategies),
        )
        began = time.monotonic()
        with LagMonitor(settings, c.topics.prefix + DOM_GROUP, [c.topics.provider_requests("dom")]).running():
            coordinator.run(stop)
        s = coordinator.stats
        log.info(
            "DOM stopped after %.0fs: %d requests, %d answered %s; %d granted, %d refused, %d released",
            time.monotonic() - began,
            s.requests,
            s.answered,
            dict(s.outcomes),
            s.granted,
            s.refused,
            s.released,
        )

    return run_service(settings, work)


def main(argv: list[str] | None = None) -> int:
    """``python -m streams.entrypoints.dom_cli``: an alias of ``oms dom``."""
    return run_command(run, "python -m streams.entrypoints.dom_cli", HELP, argv)


if __name__ == "__main__":
    raise SystemExit(main())
