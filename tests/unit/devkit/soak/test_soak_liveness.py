"""The writers' liveness probe: a backlog with no commits for a while is a wedged writer."""

from __future__ import annotations

from devkit.soak.liveness import StallDetector


def test_a_backlog_without_commits_for_the_stall_time_is_wedged() -> None:
    probe = StallDetector(stall_seconds=20)

    assert not probe.observe("order-writer", 0, {0: 5}, {0: 9})
    assert not probe.observe("order-writer", 15, {0: 5}, {0: 12})
    assert probe.observe("order-writer", 21, {0: 5}, {0: 12})


def test_commits_that_move_keep_a_busy_writer_alive() -> None:
    probe = StallDetector(stall_seconds=20)

    for at, committed in ((0, 5), (15, 8), (30, 11), (45, 14)):
        assert not probe.observe("order-writer", at, {0: committed}, {0: committed + 50})


def test_one_record_past_the_commit_is_a_transaction_marker_not_a_backlog() -> None:
    probe = StallDetector(stall_seconds=20)

    for at in (0, 30, 60):
        assert not probe.observe("order-writer", at, {0: 7, 1: 3}, {0: 8, 1: 3})


def test_a_writer_that_never_committed_with_records_waiting_is_wedged_too() -> None:
    probe = StallDetector(stall_seconds=20)

    probe.observe("inventory-writer", 0, {}, {0: 4})
    assert probe.observe("inventory-writer", 25, {}, {0: 4})


def test_forgetting_a_restarted_writer_starts_its_clock_again() -> None:
    probe = StallDetector(stall_seconds=20)
    probe.observe("order-writer", 0, {0: 1}, {0: 9})

    probe.forget("order-writer")

    assert not probe.observe("order-writer", 25, {0: 1}, {0: 9})
    assert probe.observe("order-writer", 46, {0: 1}, {0: 9})
