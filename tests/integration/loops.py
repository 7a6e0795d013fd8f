"""Running the project's loops (writers, DOM, fake connectors) in threads of a test."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def loops_running(*runs: Callable[[threading.Event], object]) -> Iterator[None]:
    """Each ``run(stop)`` in a thread until the block ends; the first error any of them
    raised is raised in the test's thread afterwards, so a crashed loop fails the test."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def guarded(run: Callable[[threading.Event], object]) -> Callable[[], None]:
        def target() -> None:
            try:
                run(stop)
            except BaseException as exc:
                errors.append(exc)

        return target

    threads = [threading.Thread(target=guarded(run), daemon=True) for run in runs]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    if errors:
        raise errors[0]
