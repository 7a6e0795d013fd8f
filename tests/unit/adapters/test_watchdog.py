"""The watchdog that ends a process hung in a client call past its own timeout."""

from __future__ import annotations

from streams.adapters.watchdog import CallWatchdog, GuardedCall


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def watchdog() -> tuple[CallWatchdog, Clock, list[tuple[str, GuardedCall]]]:
    clock, hung = Clock(), []
    dog = CallWatchdog("writer", grace=5.0, on_hung=lambda name, call: hung.append((name, call)), clock=clock)
    return dog, clock, hung


def test_a_call_within_its_timeout_and_grace_is_not_hung() -> None:
    dog, clock, hung = watchdog()
    with dog.guard("commit_transaction", 10.0):
        clock.now += 14.9
        assert not dog.check()
    dog.close()
    assert hung == []


def test_a_call_past_its_timeout_and_grace_is_hung_once_and_named() -> None:
    dog, clock, hung = watchdog()
    with dog.guard("send_offsets_to_transaction", 5.0):
        clock.now += 10.0
        assert dog.check()
        assert not dog.check()  # told once
    dog.close()
    assert [(name, call.what, call.timeout) for name, call in hung] == [
        ("writer", "send_offsets_to_transaction", 5.0)
    ]


def test_nothing_is_watched_between_calls() -> None:
    dog, clock, hung = watchdog()
    with dog.guard("init_transactions", 10.0):
        pass
    clock.now += 1000.0
    assert not dog.check()
    dog.close()
    assert hung == []
