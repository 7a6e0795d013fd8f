"""Pausing Python's cyclic garbage collector on the hot loops.

The collector walks every live container object; with tens of thousands of order states
and held events alive, its passes cost more than the folding itself (replay ran at half
speed with it on). Order states, events and Kafka messages form no reference cycles, so
reference counting frees them all the same; the pause only skips the futile walks.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def gc_paused(freeze: bool = False) -> Iterator[None]:
    """``freeze``: on the way out, freeze what the pause made and kept (``gc.freeze``). A
    bulk read keeps everything it built (a replay's states), and everything is young to the
    collector: its first pass after the pause would walk it all, and the next passes again
    (0.5 s of a profiled 50,000-event replay). Frozen, the collector ignores them; reference
    counting still frees them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if enabled:
            gc.enable()


FULL_COLLECTION_EVERY = 600.0
"""Seconds between full collections of a long-running loop's frozen objects (see ``Survivors``)."""


class Survivors:
    """Keeps a long-running loop's collector off the objects it keeps.

    A writer keeps its orders' states for good (its store's cache), and each batch replaces
    thousands of them; with the collector's default policy, every new state is walked again
    by each full collection until it dies, and those walks cost a fifth of the writer's
    time. After each batch, ``settle`` collects the young generations (whatever the batch
    left behind, cycles included) and freezes the survivors (``gc.freeze``): the collector
    ignores them from then on, and reference counting still frees them when they are
    replaced. Only a cycle that outlived its batch and died later would wait, for the full
    collection done every ``full_every`` seconds.
    """

    def __init__(
        self, full_every: float = FULL_COLLECTION_EVERY, clock: Callable[[], float] = time.monotonic
    ):
        self._full_every = full_every
        self._clock = clock
        self._full_due = clock() + full_every

    def settle(self) -> None:
        if self._clock() >= self._full_due:
            self._full_due = self._clock() + self._full_every
            gc.unfreeze()
            gc.collect()
        else:
            gc.collect(1)
        gc.freeze()
