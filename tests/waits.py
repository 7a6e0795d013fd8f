"""The tests' one wait: on a condition, with a deadline, never a bare sleep.

Every tier imports it (``from waits import wait_for``: tests/conftest.py puts this folder on
sys.path). ``check`` raises when waiting is futile, e.g. ``alive(process)``.
"""

from __future__ import annotations

import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    what: str,
    done: Callable[[], T],
    timeout: float = 60.0,
    *,
    check: Callable[[], None] = lambda: None,
    every: float = 0.1,
) -> T:
    """``done()``'s first truthy answer; an AssertionError naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while not (answer := done()):
        check()
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        time.sleep(every)
    return answer


def alive(*processes: subprocess.Popen[bytes], log: Path | None = None) -> Callable[[], None]:
    """A ``check`` that fails the wait as soon as one of ``processes`` has exited (with the
    tail of its ``log``)."""

    def check() -> None:
        for process in processes:
            if process.poll() is not None:
                tail = f":\n{log.read_text(errors='replace')[-3000:]}" if log else ""
                raise AssertionError(f"{process.args!r} exited with {process.returncode}{tail}")

    return check


def answers(url: str) -> bool:
    """Whether a GET of ``url`` answers 200 (nothing listening yet is a no)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False
