"""The writers' collector policy: survivors frozen per batch, everything collected now and then."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from streams.services.gc_pause import Survivors, gc_paused


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


def test_what_survives_a_batch_is_frozen_and_a_dead_cycle_waits_for_the_full_collection() -> None:
    now = [0.0]
    survivors = Survivors(full_every=600.0, clock=lambda: now[0])
    node = Node()
    ref = weakref.ref(node)
    survivors.settle()
    assert gc.get_freeze_count() > 0
    del node
    survivors.settle()
    assert ref() is not None  # frozen: the young collection does not see it
    now[0] = 601.0
    survivors.settle()
    assert ref() is None
    assert gc.get_freeze_count() > 0  # what is left is frozen again


def test_a_cycle_that_dies_within_its_batch_is_collected_at_once() -> None:
    survivors = Survivors(clock=lambda: 0.0)
    ref = weakref.ref(Node())
    survivors.settle()
    assert ref() is None


def test_a_freezing_pause_leaves_what_it_kept_to_reference_counting_alone() -> None:
    gc.unfreeze()
    with gc_paused(freeze=True):
        assert not gc.isenabled()
        kept = [Node() for _ in range(10)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(kept)
    ref = weakref.ref(kept[0])
    del kept
    gc.collect()
    assert ref() is not None  # frozen: a dead cycle waits for an unfreeze
    gc.unfreeze()
    gc.collect()
    assert ref() is None


def test_a_plain_pause_freezes_nothing() -> None:
    gc.unfreeze()
    with gc_paused():
        kept = Node()
    assert gc.get_freeze_count() == 0
    assert kept is not None
