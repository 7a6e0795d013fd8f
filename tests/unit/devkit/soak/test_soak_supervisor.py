"""The supervisor's broker kill: the planned node of the cluster is SIGKILLed, started again
after its downtime, and its replicas waited for; the single broker is stopped and started."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from devkit.soak.schedule import BROKER, ChaosEvent, ChaosKind
from devkit.soak.supervisor import Supervisor
from devkit.world import World


class FakeCluster:
    def __init__(self, restarts_failing: int = 0) -> None:
        self.calls: list[tuple[str, int | None]] = []
        self.restarts_failing = restarts_failing

    def stop(self, timeout: float = 30) -> bool:
        self.calls.append(("stop", None))
        return True

    def start(self, timeout: float = 60) -> None:
        self.calls.append(("start", None))

    def kill(self, node_id: int) -> int:
        self.calls.append(("kill", node_id))
        return 1000 + node_id

    def restart(self, node_id: int, timeout: float = 60) -> None:
        self.calls.append(("restart", node_id))
        if self.restarts_failing:
            self.restarts_failing -= 1
            raise RuntimeError("the nodes do not all see 3 brokers")

    def wait_in_sync(self, timeout: float = 60) -> None:
        self.calls.append(("in sync", None))


class FakeBroker:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def stop(self, timeout: float = 30) -> bool:
        self.calls.append("stop")
        return True

    def start(self, timeout: float = 60) -> None:
        self.calls.append("start")


def _world(tmp_path: Path) -> World:
    return World({}, {}, {}, tmp_path, "BC-", "FNO-")


def test_a_broker_kill_kills_that_node_restarts_it_and_waits_for_its_replicas(tmp_path: Path) -> None:
    cluster = FakeCluster()
    supervisor = Supervisor(_world(tmp_path), cluster)
    kill = ChaosEvent(0.0, ChaosKind.BROKER_KILL, "broker-2", 0.01, node=2)

    asyncio.run(supervisor.run([kill]))

    assert cluster.calls == [("kill", 2), ("restart", 2), ("in sync", None)]
    (outage,) = supervisor.outages
    assert outage.pid == 1002 and outage.ended is not None and outage.in_sync is not None
    assert outage.in_sync >= outage.ended >= outage.began
    assert supervisor.kills() == {"broker-2": 1}


def test_a_failed_restart_of_the_killed_node_is_tried_again_and_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("devkit.soak.supervisor.BROKER_START_RETRY", 0.0)
    cluster = FakeCluster(restarts_failing=1)
    supervisor = Supervisor(_world(tmp_path), cluster)

    asyncio.run(supervisor.run([ChaosEvent(0.0, ChaosKind.BROKER_KILL, "broker-1", 0.01, node=1)]))

    assert [c for c in cluster.calls if c[0] == "restart"] == [("restart", 1), ("restart", 1)]
    assert supervisor.broker_retries == 1


def test_a_broker_kill_needs_a_cluster(tmp_path: Path) -> None:
    supervisor = Supervisor(_world(tmp_path), FakeBroker())

    with pytest.raises(TypeError, match="needs a cluster"):
        asyncio.run(supervisor.run([ChaosEvent(0.0, ChaosKind.BROKER_KILL, "broker-1", 0.01, node=1)]))


def test_the_single_broker_is_stopped_and_started(tmp_path: Path) -> None:
    broker = FakeBroker()
    supervisor = Supervisor(_world(tmp_path), broker)

    asyncio.run(supervisor.run([ChaosEvent(0.0, ChaosKind.BROKER_OUTAGE, BROKER, 0.01)]))

    assert broker.calls == ["stop", "start"]
    assert supervisor.outages[0].ended is not None and supervisor.outages[0].in_sync is None
