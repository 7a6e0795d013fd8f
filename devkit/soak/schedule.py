"""The soak's plan, decided before anything runs: when each order arrives and of which
journey, which process is SIGKILLed when and for how long, when the broker goes away (or,
of a cluster, which broker is SIGKILLed), and the provider fault rates armed through
``/_sim/faults``.

Pure: the same ``seed`` gives the same plan, so a failing soak can be run again with the
same faults at the same moments (the moments are seconds after the start; what is in
flight then still depends on the machine).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

JOURNEYS = (1, 2, 3, 4, 5, 6)
FOREVER = 10**9
"""A fault's ``count`` for a whole run: it lasts until the soak disarms it."""


class ProcessKind(Enum):
    """Every long-running process kind of the system, named as the world names its process."""

    ORDER_WRITER = "order-writer"
    INVENTORY_WRITER = "inventory-writer"
    DOM = "dom"
    API = "api"
    CONNECTOR_BIGCOMMERCE = "connector-bigcommerce"
    CONNECTOR_FNO = "connector-fno"
    CONNECTOR_FLEXE = "connector-flexe"
    CONNECTOR_SAP = "connector-sap"


class ChaosKind(Enum):
    KILL = "kill"
    """SIGKILL one process and start it again ``down_for`` seconds later."""
    BROKER_OUTAGE = "broker-outage"
    """Stop the broker and start it again ``down_for`` seconds later."""
    BROKER_KILL = "broker-kill"
    """SIGKILL one node of a cluster and start it again ``down_for`` seconds later."""


BROKER = "broker"
DEFAULT_KILLS = len(ProcessKind) * 3 // 2
"""SIGKILLs of a soak unless told: every process kind once, and half as many again."""


def broker_node(node: int) -> str:
    """The target name of a cluster's node ``node`` (1-based), as the audit shows it."""
    return f"{BROKER}-{node}"


@dataclass(frozen=True)
class ChaosEvent:
    at: float
    """Seconds after the soak started."""
    kind: ChaosKind
    target: str
    """A process name (``ProcessKind.value``) or ``broker``."""
    down_for: float
    node: int | None = None
    """A broker kill: which node of the cluster (1-based)."""

    @property
    def ends_at(self) -> float:
        return self.at + self.down_for

    def describe(self) -> str:
        verb = "stop" if self.kind is ChaosKind.BROKER_OUTAGE else "SIGKILL"
        what = f"{self.target} (cluster node {self.node})" if self.node is not None else self.target
        return f"t+{self.at:6.1f}s  {verb} {what}, back after {self.down_for:.1f}s"


@dataclass(frozen=True)
class Arrival:
    at: float
    """Seconds after the soak started."""
    journey: int


@dataclass(frozen=True)
class FaultRates:
    """Shares of vendor requests that fail, per simulator; timeouts are half "before" (the
    provider applies nothing) and half "after" (it applies the request and the answer is
    lost, so a retry must not create a second copy)."""

    server_error: float = 0.20
    throttled: float = 0.05
    timeout: float = 0.05
    duplicate_webhook: float = 0.05
    """Share of outbound webhooks the provider delivers twice (same event id)."""


@dataclass(frozen=True)
class SoakPlan:
    seed: int
    arrivals: tuple[Arrival, ...]
    chaos: tuple[ChaosEvent, ...]
    faults_until: float
    """When the provider faults are disarmed (seconds after the start)."""
    rates: FaultRates
    nodes: int = 1
    """Brokers: one (stopped and started) or a cluster (one node SIGKILLed)."""

    @property
    def orders(self) -> int:
        return len(self.arrivals)

    @property
    def last_fault_at(self) -> float:
        """The end of the last fault: the last restart, or the provider faults disarmed."""
        return max([self.faults_until, *(e.ends_at for e in self.chaos)])

    def kills(self) -> list[ChaosEvent]:
        return [e for e in self.chaos if e.kind is ChaosKind.KILL]

    def describe(self) -> str:
        per = {j: sum(1 for a in self.arrivals if a.journey == j) for j in JOURNEYS}
        window = self.arrivals[-1].at if self.arrivals else 0.0
        lines = [
            f"seed {self.seed}: {self.orders} orders over {window:.0f}s "
            f"({', '.join(f'J{j} {n}' for j, n in per.items())})",
            f"provider faults until t+{self.faults_until:.0f}s: {self.rates.server_error:.0%} 5xx, "
            f"{self.rates.throttled:.0%} 429, {self.rates.timeout:.0%} timeouts, "
            f"{self.rates.duplicate_webhook:.0%} duplicate webhooks",
        ]
        if self.nodes > 1:
            lines.append(f"brokers: a {self.nodes}-node KRaft cluster; a broker outage SIGKILLs one node")
        return "\n".join([*lines, *(e.describe() for e in self.chaos)])


def plan_soak(
    orders: int,
    seed: int,
    *,
    rate: float,
    kills: int,
    kinds: Sequence[ProcessKind] = tuple(ProcessKind),
    broker_outage: bool = True,
    nodes: int = 1,
    rates: FaultRates | None = None,
    kill_down: tuple[float, float] = (0.5, 4.0),
    outage_down: tuple[float, float] = (5.0, 12.0),
) -> SoakPlan:
    """``orders`` arriving at ``rate`` per second, the journeys mixed evenly; ``kills``
    SIGKILLs (every kind at least once when ``kills`` allows, else a seeded choice of kinds)
    and one broker outage, spread over the arrival window so that each hits orders in
    flight and none overlaps the next; provider faults for the whole window.

    The broker outage: with one broker (``nodes`` 1) it is stopped and started; of a
    cluster, a seeded node is SIGKILLed and started again (the others carry on)."""
    if orders < 1 or rate <= 0 or kills < 0 or nodes < 1:
        raise ValueError("orders >= 1, rate > 0, kills >= 0 and nodes >= 1, please")
    rng = random.Random(seed)
    window = orders / rate
    arrivals = _arrivals(orders, window, rng)
    targets = _kill_targets(kills, kinds, rng)
    slots: list[tuple[ChaosKind, str, int | None]] = [(ChaosKind.KILL, t, None) for t in targets]
    if broker_outage:
        slots.insert(rng.randrange(len(slots) + 1), _broker_slot(nodes, rng))
    chaos = _spread(slots, window, rng, kill_down, outage_down)
    return SoakPlan(seed, arrivals, chaos, faults_until=window, rates=rates or FaultRates(), nodes=nodes)


def _broker_slot(nodes: int, rng: random.Random) -> tuple[ChaosKind, str, int | None]:
    if nodes == 1:
        return ChaosKind.BROKER_OUTAGE, BROKER, None
    node = rng.randint(1, nodes)
    return ChaosKind.BROKER_KILL, broker_node(node), node


def _arrivals(orders: int, window: float, rng: random.Random) -> tuple[Arrival, ...]:
    journeys = [JOURNEYS[i % len(JOURNEYS)] for i in range(orders)]
    rng.shuffle(journeys)
    step = window / orders
    return tuple(
        Arrival(round(i * step + rng.uniform(0, step * 0.5), 3), journey)
        for i, journey in enumerate(journeys)
    )


def _kill_targets(kills: int, kinds: Sequence[ProcessKind], rng: random.Random) -> list[str]:
    names = [k.value for k in kinds]
    if kills < len(names):
        return rng.sample(names, kills)
    chosen = rng.sample(names, len(names))
    chosen += [rng.choice(names) for _ in range(kills - len(names))]
    rng.shuffle(chosen)
    return chosen


def _spread(
    slots: Sequence[tuple[ChaosKind, str, int | None]],
    window: float,
    rng: random.Random,
    kill_down: tuple[float, float],
    outage_down: tuple[float, float],
) -> tuple[ChaosEvent, ...]:
    """One event per equal slot of the middle 80% of the window, at a random moment of its
    slot, down no longer than what is left of the slot (so outages never overlap)."""
    if not slots:
        return ()
    start, width = 0.1 * window, 0.8 * window / len(slots)
    events = []
    for i, (kind, target, node) in enumerate(slots):
        low, high = kill_down if kind is ChaosKind.KILL else outage_down
        down = rng.uniform(low, high)
        at = start + i * width + rng.uniform(0, max(0.0, width - down) * 0.5)
        down = min(down, max(0.2, start + (i + 1) * width - at - 0.1))
        events.append(ChaosEvent(round(at, 2), kind, target, round(down, 2), node))
    return tuple(events)


def fault_specs(rates: FaultRates, seed: int) -> list[dict[str, Any]]:
    """The ``POST /_sim/faults`` bodies that give ``rates``. The simulator tries armed faults
    in order and each draws on its own, so each probability is conditional on the earlier
    ones not firing."""
    half = rates.timeout / 2
    wanted: list[tuple[str, float, dict[str, Any]]] = [
        ("5xx", rates.server_error, {"status": 503}),
        ("429", rates.throttled, {"retry_after": 1.0}),
        ("timeout", half, {"when": "before"}),
        ("timeout", half, {"when": "after"}),
    ]
    specs: list[dict[str, Any]] = []
    left = 1.0
    for i, (kind, share, extra) in enumerate(wanted):
        if share <= 0:
            continue
        if share >= left:
            raise ValueError("the fault rates add up to more than every request")
        specs.append(
            {"kind": kind, "count": FOREVER, "probability": share / left, "seed": seed * 100 + i, **extra}
        )
        left -= share
    if rates.duplicate_webhook > 0:
        specs.append(
            {
                "kind": "duplicate_webhook",
                "count": FOREVER,
                "probability": rates.duplicate_webhook,
                "seed": seed * 100 + 9,
            }
        )
    return specs
