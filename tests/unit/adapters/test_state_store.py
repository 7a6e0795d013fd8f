"""A writer's store: an aborted transaction's states are forgotten, a committed one's are
kept in memory until a flush writes them with the offsets they reflect, and nothing
reaches the disk before that flush."""

from __future__ import annotations

from pathlib import Path

from test_inventory_view_store import TOPICS, _env

from devkit.scenarios import journey1_orders
from streams.adapters.order_store import OrderStore
from streams.adapters.state_store import STATE, InventoryViewStore
from streams.domain.decider import decide
from streams.domain.order import fold

WHERE = (TOPICS[0], 0)


def test_an_aborted_transaction_leaves_the_committed_state(tmp_path: Path) -> None:
    store = InventoryViewStore(tmp_path)
    store["TEE@SEA-DC"] = _env(1, 5, 0)
    store.commit_pending()

    store["TEE@SEA-DC"] = _env(2, 4, 1)
    store.discard_pending()

    assert store.get("TEE@SEA-DC") == _env(1, 5, 0)


def test_committed_states_reach_the_disk_only_with_a_flush(tmp_path: Path) -> None:
    store = InventoryViewStore(tmp_path / "db")
    store["TEE@SEA-DC"] = _env(1, 5, 0)
    store.commit_pending()
    assert store.unflushed == 1
    store.close()

    reopened = InventoryViewStore(tmp_path / "db")
    assert reopened.get("TEE@SEA-DC") is None
    assert reopened.checkpoint([WHERE[0]], 0) == {WHERE: 0}


def test_a_flush_writes_states_and_offsets_together(tmp_path: Path) -> None:
    store = InventoryViewStore(tmp_path / "db")
    store["TEE@SEA-DC"] = _env(1, 5, 0)
    store.commit_pending()
    store["TEE@SEA-DC"] = _env(2, 4, 1)
    store.commit_pending()

    store.flush({WHERE: 2})
    store.close()

    reopened = InventoryViewStore(tmp_path / "db")
    assert reopened.get("TEE@SEA-DC") == _env(2, 4, 1)
    assert reopened.checkpoint([WHERE[0]], 0) == {WHERE: 2}
    assert reopened.unflushed == 0


def test_a_committed_state_is_read_after_the_cache_is_dropped(tmp_path: Path) -> None:
    store = InventoryViewStore(tmp_path, cache_size=1)
    store["TEE@SEA-DC"] = _env(1, 5, 0)
    store.commit_pending()
    store["CAP@SEA-DC"] = _env(1, 3, 0)  # the cache holds one: it forgets the first
    store.discard_pending()

    assert store.get("TEE@SEA-DC") == _env(1, 5, 0)
    assert store.get("CAP@SEA-DC") is None


def test_a_flushed_order_is_the_bytes_of_its_json(tmp_path: Path) -> None:
    """What ``flush`` writes is ``model_dump_json``'s text, byte for byte."""
    store = OrderStore(tmp_path)
    states = []
    for commands in journey1_orders(2):
        state = None
        for command in commands:
            state = fold(decide(command, state), state)
            assert state is not None
            store[state.order_id] = state
            store.commit_pending()
            store.flush({WHERE: 1})
            states.append(state)
            assert store._db.get(STATE + state.order_id.encode()) == state.model_dump_json().encode()
    assert len(states) > 4
