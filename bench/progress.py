"""Progress lines on stderr, so stdout carries only the results."""

from __future__ import annotations

import sys
import time

_STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[bench {time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


class Ticker:
    """Says something at most every ``every`` seconds: stages run for tens of seconds."""

    def __init__(self, every: float = 2.0) -> None:
        self.every = every
        self._last = time.monotonic()

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            return True
        return False
