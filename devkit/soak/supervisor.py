"""Carrying out the plan's chaos on the running world: SIGKILL a process and start it again
after its downtime, stop the broker and start it again (or SIGKILL one broker of a cluster
and start it again), and (as a process manager would) start again any process that exits
on its own, which the audit reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from devkit.soak.liveness import PROBED, OffsetSampler, StallDetector
from devkit.soak.schedule import ChaosEvent, ChaosKind
from devkit.world import World

log = logging.getLogger(__name__)

STARTUP_GRACE = 45.0
"""Seconds after a (re)start before the liveness probe judges a writer."""

RESTART_BACKOFF = 2.0
"""Seconds between two restarts of a process that keeps exiting (say, while the broker is down)."""
BROKER_START_RETRY = 2.0
"""Seconds before a failed broker start is tried again."""


async def ticks(stop: asyncio.Event, every: float) -> AsyncIterator[None]:
    """Yield now and then every ``every`` seconds, until ``stop`` is set (at once, then)."""
    while not stop.is_set():
        yield
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


class Broker(Protocol):
    """What the supervisor needs of a broker (``devkit.local_broker.LocalBroker`` has it)."""

    def stop(self, timeout: float = 30) -> bool: ...

    def start(self, timeout: float = 60) -> None: ...


@runtime_checkable
class Cluster(Broker, Protocol):
    """What a broker kill needs (``devkit.local_broker.LocalCluster`` has it)."""

    def kill(self, node_id: int) -> int: ...

    def restart(self, node_id: int, timeout: float = 60) -> None: ...

    def wait_in_sync(self, timeout: float = 60) -> None: ...


@dataclass
class Outage:
    event: ChaosEvent
    began: float
    """Seconds after the soak started."""
    ended: float | None = None
    pid: int | None = None
    in_sync: float | None = None
    """A broker kill: when every partition had all its replicas in sync again (None: never)."""


@dataclass(frozen=True)
class Exit:
    """A process that ended without being killed: restarted, and a finding."""

    name: str
    code: int | None
    at: float


class Supervisor:
    def __init__(self, world: World, broker: Broker, started: float | None = None) -> None:
        self.world = world
        self.broker = broker
        self.started = time.monotonic() if started is None else started
        self.outages: list[Outage] = []
        self.exits: list[Exit] = []
        self.broker_retries = 0
        self.wedged: list[Exit] = []
        """Processes the liveness probe found alive but stuck, and restarted."""
        self._restarted: dict[str, float] = {}
        world.keep_alive = True  # the driver must not fail while a process is down on purpose

    def now(self) -> float:
        return time.monotonic() - self.started

    @property
    def last_fault_end(self) -> float:
        """When the last outage ended (seconds after the start; 0 before any)."""
        return max((o.ended for o in self.outages if o.ended is not None), default=0.0)

    @property
    def in_outage(self) -> bool:
        return any(o.ended is None for o in self.outages)

    async def run(self, chaos: Sequence[ChaosEvent]) -> None:
        """Carry out every event at its moment; returns when the last outage is over."""
        await asyncio.gather(*(self._at(event) for event in chaos))

    async def _at(self, event: ChaosEvent) -> None:
        await asyncio.sleep(max(0.0, event.at - self.now()))
        outage = Outage(event, self.now())
        self.outages.append(outage)
        if event.kind is ChaosKind.KILL:
            outage.pid = self.world.kill(event.target)
            log.info("SIGKILLed %s (pid %s)", event.target, outage.pid)
            await asyncio.sleep(event.down_for)
            self.world.restart(event.target)
        elif event.kind is ChaosKind.BROKER_KILL:
            await self._kill_broker(event, outage)
            return
        else:
            await asyncio.to_thread(self.broker.stop)
            log.info("broker stopped")
            await asyncio.sleep(event.down_for)
            await self._start_broker("broker start", lambda: self.broker.start(120))
        outage.ended = self.now()

    async def _kill_broker(self, event: ChaosEvent, outage: Outage) -> None:
        """SIGKILL one node of the cluster, start it again on its data, then wait (after the
        outage, which ends once the cluster counts the node again) for its replicas to catch up."""
        cluster, node = self.broker, event.node
        if not isinstance(cluster, Cluster) or node is None:
            raise TypeError(f"{event.describe()}: a broker kill needs a cluster and a node")
        outage.pid = await asyncio.to_thread(cluster.kill, node)
        log.info("SIGKILLed %s (pid %s)", event.target, outage.pid)
        await asyncio.sleep(event.down_for)
        await self._start_broker(f"{event.target} restart", lambda: cluster.restart(node, 120))
        outage.ended = self.now()
        try:
            await asyncio.to_thread(cluster.wait_in_sync, 120)
            outage.in_sync = self.now()
        except Exception as exc:
            log.error("%s back, but replicas not in sync: %s", event.target, str(exc)[:300])

    async def _start_broker(self, what: str, start: Callable[[], None], tries: int = 5) -> None:
        """Start a broker again; a failed start is retried (and logged), the last one raises."""
        for attempt in range(1, tries + 1):
            try:
                await asyncio.to_thread(start)
                return
            except Exception as exc:
                if attempt == tries:
                    raise
                log.error("%s %d/%d failed: %s", what, attempt, tries, str(exc)[:300])
                self.broker_retries += 1
                await asyncio.sleep(BROKER_START_RETRY)

    async def watch(self, stop: asyncio.Event, every: float = 0.5) -> None:
        """Until ``stop``: start again every process that exited on its own."""
        async for _ in ticks(stop, every):
            self.restart_exited()

    async def probe(
        self,
        stop: asyncio.Event,
        sampler: OffsetSampler,
        detector: StallDetector,
        every: float = 5.0,
        grace: float = 10.0,
    ) -> None:
        """Until ``stop``: restart a writer with a backlog that commits nothing (see ``liveness``).
        A process is judged from ``STARTUP_GRACE`` after it (re)started, as a process
        manager's startup probe does: a writer starting on a loaded machine (imports,
        restore, fencing its predecessor's transaction) is not wedged."""
        quiet_until = 0.0
        async for _ in ticks(stop, every):
            if self.in_outage:
                quiet_until = self.now() + grace
            for process in PROBED:
                starting = time.monotonic() - self.world.started.get(process, 0.0) < STARTUP_GRACE
                if self.in_outage or self.now() < quiet_until or process in self.world.down or starting:
                    detector.forget(process)
                    continue
                offsets = await asyncio.to_thread(sampler.sample, process)
                if offsets is not None and detector.observe(process, self.now(), *offsets):
                    self.wedged.append(Exit(process, None, self.now()))
                    log.warning("%s is wedged (a backlog, no commits): SIGKILL and restart", process)
                    self.world.kill(process)
                    self.world.restart(process)
                    detector.forget(process)

    def restart_exited(self) -> None:
        for name in self.world.exited():
            if time.monotonic() - self._restarted.get(name, 0.0) < RESTART_BACKOFF:
                continue
            code = self.world.processes[name].returncode
            self.exits.append(Exit(name, code, self.now()))
            log.warning("%s exited on its own (code %s): starting it again", name, code)
            self.world.restart(name)
            self._restarted[name] = time.monotonic()

    def kills(self) -> dict[str, int]:
        """Process (or broker) -> how many times it was taken down."""
        out: dict[str, int] = {}
        for outage in self.outages:
            out[outage.event.target] = out.get(outage.event.target, 0) + 1
        return out
