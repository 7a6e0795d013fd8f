"""``python -m streams.entrypoints.dom_cli``: the DOM provider process (see ``streams.services.dom``)."""

from __future__ import annotations

import logging
import threading
import time

from streams.services.dom import DomCoordinator

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    """``python -m streams.entrypoints.dom_cli``: the DOM provider (one per host; they share the requests)."""
    import argparse
    import signal
    from pathlib import Path

    from streams.bootstrap import bootstrap
    from streams.services.sourcing_config import DEFAULT_DOM_CONFIG, load_dom_config

    parser = argparse.ArgumentParser(
        prog="python -m streams.entrypoints.dom_cli",
        description="Fulfillment optimization (DOM): sources each order under the configured strategies "
        "and reserves its units through the inventory writers; answers the order writer.",
    )
    parser.add_argument("--config", type=Path, default=DEFAULT_DOM_CONFIG, help="default: config/dom.yaml")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    c = bootstrap()
    config = load_dom_config(args.config)
    coordinator = DomCoordinator(c.settings, c.topics, c.codec, config, batch_size=args.batch_size)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    log.info(
        "DOM %s on %s: %d sources, strategies %s",
        c.settings.instance_id,
        c.settings.bootstrap_servers,
        len(config.sources),
        ", ".join(s.name for s in config.strategies),
    )
    began = time.monotonic()
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
