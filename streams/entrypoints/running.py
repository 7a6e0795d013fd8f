"""Running a transactional writer as a process: signals, progress lines, a clean close."""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

from streams.adapters.state_store import StateStore
from streams.services.transactional import TransactionalWriter


def run_writer(writer: TransactionalWriter, store: StateStore[Any], label: str, instance_id: str) -> None:
    """Until SIGINT/SIGTERM; a progress line every 5 s while work flows."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    last = [time.monotonic(), 0]

    def report() -> None:
        now = time.monotonic()
        if now - last[0] >= 5:
            s = writer.stats
            logging.info(
                "%s: commands %d, events %d, rejected %d, dead letters %d (%.0f events/s)",
                label,
                s.commands,
                s.events,
                s.rejected,
                s.dead_letters,
                (s.events - last[1]) / (now - last[0]),
            )
            last[0], last[1] = now, s.events

    logging.info("%s %s starting", label, instance_id)
    try:
        writer.run(stop, on_batch=report)
    finally:
        store.close()
    s = writer.stats
    logging.info("%s stopped: %d commands, %d events", label, s.commands, s.events)
