"""Running commands and processes: a broker that answers first, and a writer until stopped."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from streams.adapters.state_store import StateStore
from streams.bootstrap import Components, bootstrap
from streams.services.transactional import TransactionalWriter
from streams.shell.process import check_broker
from streams.shell.settings import Settings

log = logging.getLogger(__name__)


def connected(settings: Settings) -> Components:
    """The components, once the broker answered (else ``BrokerUnreachable`` within 10 s)."""
    check_broker(settings)
    return bootstrap(settings)


def run_writer(
    writer: TransactionalWriter, store: StateStore[Any], label: str, instance_id: str, stop: threading.Event
) -> None:
    """Until ``stop``; a progress line every 5 s while work flows."""
    last = [time.monotonic(), 0]

    def report() -> None:
        now = time.monotonic()
        if now - last[0] >= 5:
            s = writer.stats
            log.info(
                "%s: commands %d, events %d, rejected %d, dead letters %d (%.0f events/s)",
                label,
                s.commands,
                s.events,
                s.rejected,
                s.dead_letters,
                (s.events - last[1]) / (now - last[0]),
            )
            last[0], last[1] = now, s.events

    log.info("%s %s starting", label, instance_id)
    try:
        writer.run(stop, on_batch=report)
    finally:
        store.close()
    s = writer.stats
    log.info("%s stopped: %d commands, %d events", label, s.commands, s.events)
