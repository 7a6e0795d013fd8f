"""Ends the process when a librdkafka call outlives its own timeout.

After a broker stop/start, librdkafka's coordinator requests can block for ever, their
timeouts notwithstanding (librdkafka #5456, #5511: ``send_offsets_to_transaction``). The
calling thread cannot be freed and its producer cannot be used again, so a writer stuck
there is alive and does nothing: its partitions wait, and nobody is told. The watchdog turns
that into a prompt exit that says why (the stacks of every thread on stderr, exit code 70),
which a process manager answers with a restart: the new instance fences the old
``transactional.id``, the broker aborts its open transaction, and its batch is read again.
Nothing is lost; the restart is visible (exit code, log, ``processes that exited``).
"""

from __future__ import annotations

import faulthandler
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

log = logging.getLogger(__name__)

EXIT_CODE = 70
"""EX_SOFTWARE: the process ended itself because a client library hung."""


@dataclass(frozen=True, slots=True)
class GuardedCall:
    what: str
    timeout: float
    due: float


Hung = Callable[[str, GuardedCall], None]


def exit_process(name: str, call: GuardedCall) -> None:
    """Log, dump every thread's stack, and end the process at once (no cleanup can run:
    the hung thread holds the client)."""
    log.critical(
        "%s: %s did not return within its %.0f s timeout (librdkafka #5456/#5511 after a broker"
        " restart); exiting with code %d so the process manager starts this process afresh",
        name,
        call.what,
        call.timeout,
        EXIT_CODE,
    )
    faulthandler.dump_traceback(all_threads=True)
    logging.shutdown()
    os._exit(EXIT_CODE)


class CallWatchdog:
    """Watches one thread's blocking client calls: ``guard`` each; a call still running
    ``grace`` seconds after its own timeout is hung, and ``on_hung`` is called (by default:
    the process exits). One watcher thread, started with the first guarded call."""

    def __init__(
        self,
        name: str,
        *,
        grace: float = 5.0,
        on_hung: Hung = exit_process,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.grace = grace
        self._on_hung = on_hung
        self._clock = clock
        self._call: GuardedCall | None = None
        self._watcher: threading.Thread | None = None
        self._closed = threading.Event()

    @contextmanager
    def guard(self, what: str, timeout: float) -> Iterator[None]:
        """Run the body as a call that returns within ``timeout`` seconds, or is hung."""
        self._call = GuardedCall(what, timeout, self._clock() + timeout + self.grace)
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name=f"{self.name} watchdog", daemon=True)
            self._watcher.start()
        try:
            yield
        finally:
            self._call = None

    def check(self) -> bool:
        """Whether the guarded call is hung (then ``on_hung`` was told, once)."""
        call = self._call
        if call is None or self._clock() < call.due:
            return False
        self._call = None
        self._on_hung(self.name, call)
        return True

    def close(self) -> None:
        """Stop watching (the client is closed)."""
        self._closed.set()

    def _watch(self) -> None:
        while not self._closed.wait(0.5):
            self.check()
