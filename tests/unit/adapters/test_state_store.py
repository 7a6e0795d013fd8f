"""A writer's store: an aborted transaction's states are forgotten, a committed one's are
kept in memory until a flush writes them with the offsets they reflect, and nothing
reaches the disk before that flush."""

from __future__ import annotations

from pathlib import Path

from test_inventory_view_store import TOPICS, _env

from streams.adapters.state_store import InventoryViewStore

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
