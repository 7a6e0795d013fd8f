"""Pausing Python's cyclic garbage collector on the hot loops.

The collector walks every live container object; with tens of thousands of order states
and held events alive, its passes cost more than the folding itself (replay ran at half
speed with it on). Order states, events and Kafka messages form no reference cycles, so
reference counting frees them all the same; the pause only skips the futile walks.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
