"""The world's processes can be killed and started again, and the soak's supervisor does so
on schedule, takes the broker away and back, and restarts what exits on its own."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from waits import wait_for

from devkit.soak.schedule import BROKER, ChaosEvent, ChaosKind
from devkit.soak.supervisor import Supervisor
from devkit.world import World

SLEEPER = ["-c", "import time; print('up', flush=True); time.sleep(120)"]
QUITTER = ["-c", "import sys; sys.exit(3)"]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = World({}, {}, {}, tmp_path, "SBC-", "SFNO-")
    yield world
    world.stop(timeout=5)


def test_a_killed_process_is_down_on_purpose_and_starts_again_from_its_spec(world: World) -> None:
    first = world.spawn("order-writer", SLEEPER, {})
    log = world.specs["order-writer"].log
    wait_for("up", lambda: "up" in log.read_text(), 10)

    pid = world.kill("order-writer")

    assert pid == first.pid and first.returncode is not None
    assert world.exited() == [] and "order-writer" in world.down
    world.check()  # killed on purpose: not a failure
    again = world.restart("order-writer")
    assert again.pid != first.pid and again.poll() is None and world.down == set()
    wait_for("up again", lambda: log.read_text().count("up") == 2, 10)
    assert "restarted at" in log.read_text()


def test_a_process_that_exits_on_its_own_fails_the_check_unless_a_supervisor_keeps_it(world: World) -> None:
    world.spawn("dom", QUITTER, {})
    wait_for("dom exited", lambda: world.exited() == ["dom"], 10)

    with pytest.raises(RuntimeError, match="dom exited with code 3"):
        world.check()
    world.keep_alive = True
    world.check()


class FakeBroker:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def stop(self, timeout: float = 30) -> bool:
        self.calls.append("stop")
        return True

    def start(self, timeout: float = 60) -> None:
        self.calls.append("start")


def test_the_supervisor_carries_out_kills_and_the_broker_outage_at_their_moments(world: World) -> None:
    world.spawn("connector-fno", SLEEPER, {})
    first = world.processes["connector-fno"].pid
    broker = FakeBroker()
    supervisor = Supervisor(world, broker)
    chaos = [
        ChaosEvent(0.1, ChaosKind.KILL, "connector-fno", 0.2),
        ChaosEvent(0.5, ChaosKind.BROKER_OUTAGE, BROKER, 0.2),
    ]

    asyncio.run(supervisor.run(chaos))

    assert broker.calls == ["stop", "start"]
    assert world.processes["connector-fno"].pid != first and world.processes["connector-fno"].poll() is None
    assert [o.event.target for o in supervisor.outages] == ["connector-fno", BROKER]
    assert all(o.ended is not None and o.ended >= o.began + o.event.down_for for o in supervisor.outages)
    assert supervisor.last_fault_end >= 0.7 and supervisor.kills() == {"connector-fno": 1, BROKER: 1}


def test_the_supervisor_restarts_a_process_that_exited_on_its_own_and_records_it(world: World) -> None:
    world.spawn("api", QUITTER, {})
    supervisor = Supervisor(world, FakeBroker())
    wait_for("api exited", lambda: world.exited() == ["api"], 10)

    supervisor.restart_exited()

    assert [(e.name, e.code) for e in supervisor.exits] == [("api", 3)]
    supervisor.restart_exited()  # exited again at once: not restarted before the backoff
    assert len(supervisor.exits) == 1
