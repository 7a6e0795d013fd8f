"""One soak, start to end: a broker of its own (it gets stopped mid-run, so never a shared
one; with ``cluster``, three brokers of which one gets SIGKILLed), the topics and flows,
the world (four simulators, four connectors) plus the order writer, the inventory writer,
DOM and the read-side API as supervised processes; then the plan: orders of all six
journeys arriving at their moments and driven through the simulators' control planes,
provider faults armed, SIGKILLs and one broker outage; then convergence, the audit and its
table.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from aiohttp import ClientSession, ClientTimeout
from confluent_kafka import Producer

from devkit.demo import wait_for_stock
from devkit.local_broker import LocalBroker, LocalCluster
from devkit.soak.audit import (
    AuditTable,
    Evidence,
    build_table,
    examples,
    render_examples,
    render_markdown,
    render_text,
    settled_as_expected,
)
from devkit.soak.evidence import (
    Prefixes,
    copies_of,
    faults_fired,
    keep_request_logs,
    read_dead_letters,
    read_histories,
    read_rejections,
    read_replication,
    read_sims,
    webhooks_of,
)
from devkit.soak.liveness import OffsetSampler, StallDetector
from devkit.soak.schedule import DEFAULT_KILLS, ChaosKind, SoakPlan, fault_specs, plan_soak
from devkit.soak.supervisor import Outage, Supervisor, ticks
from devkit.world import Driver, OrderWatch, World, free_port, start_world
from streams.adapters.flow_definitions import publish_flows
from streams.adapters.flow_files import flow_paths, load_flows
from streams.adapters.kafka import create_topics, producer_config
from streams.bootstrap import Components, bootstrap
from streams.services.sourcing_config import DEFAULT_OPENING_STOCK
from streams.settings import REPO_ROOT, Settings

Say = Callable[[str], None]
RESENDING = ("fno", "flexe", "sap")
"""Simulators whose given-up webhooks an operator can send again (F&O's error list; BigCommerce
keeps retrying for a day, then deactivates the hook)."""
CLUSTER_NODES = 3
"""``--cluster``: three brokers, so that topics get three replicas with two in sync and the
loss of one broker stops neither writes nor the controller quorum."""


class SoakError(RuntimeError):
    """The soak could not run (not: the soak ran and found failures)."""


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class SoakOptions:
    orders: int = 1000
    seed: int = 1
    minutes: float = 10.0
    """The whole run's bound, set-up and audit included."""
    rate: float = 3.0
    """Orders per second arriving while the faults run."""
    kills: int | None = None
    """SIGKILLs (default: every process kind once, and half as many again)."""
    broker_outage: bool = True
    cluster: bool = False
    """Three brokers, and the broker outage SIGKILLs one of them instead of stopping the only one."""
    converge_seconds: float = 150.0
    """How long after the last fault every order may take to settle."""
    quiet_seconds: float = 5.0
    step_timeout: float = 150.0
    partitions: int = 3
    poison: int = 3
    workdir: Path | None = None
    keep: bool = False
    """Keep the broker's data (its logs stay in any case)."""

    @property
    def nodes(self) -> int:
        return CLUSTER_NODES if self.cluster else 1

    def plan(self) -> SoakPlan:
        kills = self.kills if self.kills is not None else DEFAULT_KILLS
        return plan_soak(
            self.orders,
            self.seed,
            rate=self.rate,
            kills=kills,
            broker_outage=self.broker_outage,
            nodes=self.nodes,
        )


@dataclass
class SoakResult:
    plan: SoakPlan
    evidence: Evidence
    table: AuditTable
    workdir: Path
    seconds: float

    @property
    def passed(self) -> bool:
        return self.table.passed


def run_soak(options: SoakOptions, say: Say = _say) -> SoakResult:
    """Run one soak; the table says whether the system held (an exception: it could not run)."""
    began = time.monotonic()
    plan = options.plan()
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="oms-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    say(f"soak in {workdir}\n{plan.describe()}")
    _log_to(workdir / "soak.log")
    broker = own_cluster(workdir, say) if options.cluster else own_broker(workdir, say)
    broker.start(timeout=180 if options.cluster else 120)
    try:
        settings = Settings(
            bootstrap_servers=broker.bootstrap_servers,
            topic_prefix="soak.",
            partitions=options.partitions,
            state_dir=workdir / "state",
        )
        c = bootstrap(settings)
        _prepare(c)
        with _world(c, workdir, options) as (world, api):
            evidence = asyncio.run(Soak(c, world, api, broker, plan, options, say, began).run())
    finally:
        broker.stop()
        if not options.keep:
            shutil.rmtree(broker.data_dir, ignore_errors=True)
    table = build_table(evidence)
    (workdir / "audit.md").write_text(render_markdown(table) + "\n")
    (workdir / "findings.txt").write_text(render_examples(examples(evidence)) + "\n")
    say(render_text(table))
    say(f"orders behind each failed check: {workdir / 'findings.txt'}")
    return SoakResult(plan, evidence, table, workdir, time.monotonic() - began)


def _log_to(path: Path) -> None:
    """This process's own log lines (librdkafka's "connection refused" while the broker is
    away, the supervisor's kills) go to a file, not over the progress lines."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("librdkafka", "devkit", "aiokafka"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.propagate = False
    logging.getLogger("devkit").setLevel(logging.INFO)


def own_broker(workdir: Path, say: Say) -> LocalBroker:
    """A broker on free loopback ports with its data in ``workdir``, on the cached jars."""
    return LocalBroker(home=_kafka_home(workdir, say), port=free_port(span=2), say=say)


def own_cluster(workdir: Path, say: Say) -> LocalCluster:
    """Three brokers on free loopback ports (two per node) with their data in ``workdir``."""
    home = _kafka_home(workdir, say)
    return LocalCluster(home, nodes=CLUSTER_NODES, port=free_port(span=2 * CLUSTER_NODES), say=say)


def _kafka_home(workdir: Path, say: Say) -> Path:
    """``workdir/kafka``, with the cached jars linked in (fetched once if need be)."""
    cache = LocalBroker(home=Settings.from_env().kafka_home, say=say)
    cache.fetch()
    home = workdir / "kafka"
    home.mkdir(parents=True, exist_ok=True)
    jars = home / cache.kafka_dir.name
    if not jars.exists():
        jars.symlink_to(cache.kafka_dir, target_is_directory=True)
    return home


def _prepare(c: Components) -> None:
    create_topics(c.settings, c.topics)
    folder = REPO_ROOT / "flows"
    names = [p.name for p in flow_paths(folder)]
    publish_flows(c.settings, c.topics, c.codec, list(zip(load_flows(folder), names, strict=True)))


def oms_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "OMS_TOPIC_PREFIX": settings.topic_prefix,
        "OMS_PARTITIONS": str(settings.partitions),
        "OMS_STATE_DIR": str(settings.state_dir),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    env.pop("OMS_API_TOKEN", None)
    return env


@contextlib.contextmanager
def _world(c: Components, workdir: Path, options: SoakOptions) -> Iterator[tuple[World, str]]:
    """The world with the OMS's own processes in it (so the supervisor can kill any of them)."""
    world = start_world(
        c.settings,
        workdir / "world",
        run_id="S",
        time_scale=0.05,  # vendor retries: F&O 50 ms x3 (then its error list), BigCommerce 3 s, 9 s...
        http_tries=4,
        http_timeout=2.0,
        hang_seconds=3.0,  # an injected timeout outlasts the connectors' 2 s
        with_dom=False,
    )
    try:
        env = oms_env(c.settings)
        api_port = free_port()
        quiet = ["--log-level", "WARNING"]
        world.spawn(
            "order-writer", ["-m", "streams.cli", "writer", *quiet], {**env, "OMS_INSTANCE_ID": "writer-1"}
        )
        world.spawn(
            "inventory-writer",
            ["-m", "streams.cli", "inventory-writer", *quiet],
            {**env, "OMS_INSTANCE_ID": "inventory-1"},
        )
        world.spawn("dom", ["-m", "streams.entrypoints.dom_cli", *quiet], {**env, "OMS_INSTANCE_ID": "dom-1"})
        world.spawn(
            "api", ["-m", "streams.cli", "api", "--port", str(api_port), "--name", "soak", *quiet], env
        )
        # As a deployment runs it: DOM answers a saga it could not settle (reservations
        # unconfirmed while the broker is away) with what it holds, and the job re-sources
        # the lines that wait in Backorder hold once stock shows.
        world.spawn(
            "backorder-job",
            ["-m", "streams.cli", "backorders", "run", "--every", str(BACKORDER_EVERY), *quiet],
            env,
        )
        _load_stock(c, workdir, options.orders, env)
        yield world, f"http://127.0.0.1:{api_port}"
    finally:
        world.stop()


BACKORDER_EVERY = 10.0
"""Seconds between the backorder job's runs in the soak (a deployment may run it every minute)."""


def _load_stock(c: Components, workdir: Path, orders: int, env: dict[str, str]) -> None:
    """The opening stock times enough that no journey-6 line waits for a backorder."""
    import subprocess

    stock = yaml.safe_load(DEFAULT_OPENING_STOCK.read_text())
    factor = max(1, math.ceil(orders / 60))
    scaled = {sku: {s: n * factor for s, n in sources.items()} for sku, sources in stock["on_hand"].items()}
    path = workdir / "stock.yaml"
    path.write_text(yaml.safe_dump({"on_hand": scaled}))
    subprocess.run(
        [sys.executable, "-m", "streams.cli", "inventory", "load", str(path)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        cwd=REPO_ROOT,
    )
    wait_for_stock(c)


def inject_poison(c: Components, count: int) -> set[str]:
    """Undecodable records on the writers' command topics; each must end on the dead-letter topic."""
    producer = Producer(producer_config(c.settings))
    keys = set()
    for i in range(count):
        key = f"soak-poison-{i + 1}"
        topic = c.topics.inventory_commands if i % 3 == 2 else c.topics.commands
        producer.produce(topic, key=key.encode(), value=b"{not avro: injected by the soak}")
        keys.add(key)
    producer.flush(30)
    return keys


@dataclass
class Soak:
    c: Components
    world: World
    api: str
    """The read-side API's base URL."""
    broker: LocalBroker | LocalCluster
    plan: SoakPlan
    options: SoakOptions
    say: Say
    began: float
    """``time.monotonic()`` when the whole run began (the budget counts from there)."""
    resent: set[str] = field(default_factory=set)
    disarmed_at: float = 0.0
    disarmed_wall: datetime | None = None
    started: float = 0.0

    def now(self) -> float:
        return time.monotonic() - self.started

    def budget_left(self) -> float:
        return self.options.minutes * 60 - (time.monotonic() - self.began)

    async def run(self) -> Evidence:
        self.started = time.monotonic()
        supervisor = Supervisor(self.world, self.broker, self.started)
        prefixes = (self.world.bigcommerce_prefix, self.world.fno_prefix)
        with OrderWatch(self.c.settings, self.c.topics, self.c.codec, prefixes) as watch:
            async with ClientSession(timeout=ClientTimeout(total=60)) as http:
                driver = Driver(
                    self.world,
                    watch,
                    http,
                    random.Random(self.plan.seed),
                    self.options.step_timeout,
                    provider_paced=True,
                )
                poison = inject_poison(self.c, self.options.poison)
                await self._arm(http)
                converged, waited = await self._chaos(supervisor, driver, watch, http)
        return await self._evidence(driver, supervisor, poison, converged, waited)

    async def _chaos(
        self, supervisor: Supervisor, driver: Driver, watch: OrderWatch, http: ClientSession
    ) -> tuple[float | None, float]:
        stop = asyncio.Event()
        sampler = OffsetSampler(self.c.settings, self.c.topics)
        background = [
            asyncio.create_task(supervisor.watch(stop)),
            asyncio.create_task(supervisor.probe(stop, sampler, StallDetector())),
            asyncio.create_task(self._resend_loop(http, stop)),
            asyncio.create_task(self._progress(driver, watch, supervisor, stop)),
        ]
        chaos = asyncio.create_task(supervisor.run(self.plan.chaos))
        disarm = asyncio.create_task(self._disarm_at(http, self.plan.faults_until))
        plays = await self._arrive(driver)
        await asyncio.gather(chaos, disarm)
        last_fault = max(supervisor.last_fault_end, self.disarmed_at)
        self.say(f"t+{self.now():.0f}s last fault over (t+{last_fault:.0f}s): waiting for convergence")
        converged = await self._converge(driver, watch, last_fault)
        waited = self.now() - last_fault
        for play in plays:
            play.cancel()
        await asyncio.gather(*plays, return_exceptions=True)
        await asyncio.sleep(self.options.quiet_seconds)
        await self._resend(http)
        stop.set()
        await asyncio.gather(*background)
        return converged, waited

    async def _sim(self, http: ClientSession, provider: str, method: str, path: str, body: Any = None) -> Any:
        async with http.request(method, self.world.simulators[provider] + path, json=body) as reply:
            reply.raise_for_status()
            return await reply.json()

    async def _arm(self, http: ClientSession) -> None:
        for n, provider in enumerate(sorted(self.world.simulators)):
            for spec in fault_specs(self.plan.rates, self.plan.seed * 10 + n):
                await self._sim(http, provider, "POST", "/_sim/faults", spec)

    async def _disarm_at(self, http: ClientSession, at: float) -> None:
        await asyncio.sleep(max(0.0, at - self.now()))
        for provider in self.world.simulators:
            await self._sim(http, provider, "DELETE", "/_sim/faults")
        self.disarmed_at = self.now()
        self.disarmed_wall = datetime.now(UTC)
        self.say(f"t+{self.disarmed_at:.0f}s provider faults disarmed")

    async def _arrive(self, driver: Driver) -> list[asyncio.Task[str]]:
        """Start each order's journey at its moment; the plays go on in the background."""
        plays = []
        for arrival in self.plan.arrivals:
            await asyncio.sleep(max(0.0, arrival.at - self.now()))
            if self.budget_left() <= 0:
                break
            plays.append(asyncio.create_task(driver.journey(arrival.journey)))
        return plays

    async def _converge(self, driver: Driver, watch: OrderWatch, last_fault: float) -> float | None:
        """Seconds from the last fault until every created order settled, or None."""
        deadline = min(self.options.converge_seconds, self.budget_left() - 60)
        while True:
            if len(driver.created) + driver.uncreated >= self.plan.orders and all(
                settled_as_expected(watch.state(o), j) for o, j in list(driver.created.items())
            ):
                return max(0.0, self.now() - last_fault)
            if self.now() - last_fault > deadline:
                return None
            await asyncio.sleep(0.5)

    async def _resend(self, http: ClientSession) -> None:
        for provider in RESENDING:
            replayed = await self._sim(http, provider, "POST", "/_sim/parked/replay", {})
            self.resent.update(replayed["replayed"])

    async def _resend_loop(self, http: ClientSession, stop: asyncio.Event) -> None:
        """The operator: every few seconds, send again what the providers gave up on."""
        async for _ in ticks(stop, 3.0):
            with contextlib.suppress(Exception):
                await self._resend(http)

    async def _progress(
        self, driver: Driver, watch: OrderWatch, supervisor: Supervisor, stop: asyncio.Event
    ) -> None:
        async for _ in ticks(stop, 10.0):
            created = dict(driver.created)
            settled = sum(1 for o, j in created.items() if settled_as_expected(watch.state(o), j))
            down = [o.event.target for o in supervisor.outages if o.ended is None]
            self.say(
                f"t+{self.now():4.0f}s  orders {len(created)}/{self.plan.orders} created, {settled} settled; "
                f"outages {len(supervisor.outages)}/{len(self.plan.chaos)}"
                + (f" (down: {', '.join(down)})" if down else "")
                + (f"; {len(supervisor.exits)} unexpected exits" if supervisor.exits else "")
                + (f"; {len(supervisor.wedged)} wedged" if supervisor.wedged else "")
            )

    async def _evidence(
        self,
        driver: Driver,
        supervisor: Supervisor,
        poison: set[str],
        converged: float | None,
        waited: float,
    ) -> Evidence:
        c = self.c
        histories = await asyncio.to_thread(read_histories, c.settings, c.topics, c.codec)
        sims = await read_sims(self.world)
        await asyncio.to_thread(keep_request_logs, sims, self.world.workdir / "logs")
        prefixes = Prefixes(self.world.bigcommerce_prefix, self.world.fno_prefix)
        evidence = Evidence(
            journeys=dict(driver.created),
            facts=histories.facts,
            gaps=histories.gaps,
            seq_conflicts=histories.seq_conflicts,
            repeats=histories.repeats,
            copies=copies_of(sims),
            webhooks=webhooks_of(sims, prefixes, self.resent),
            dead_letters=await asyncio.to_thread(read_dead_letters, c.settings, c.topics),
            poison=poison,
            rejections=await asyncio.to_thread(read_rejections, c.settings, c.topics, c.codec),
            convergence=converged,
            waited=waited,
            wedged=[w.name for w in supervisor.wedged],
            api_agrees=await self._api_agrees(histories.states, driver.created),
        )
        evidence.info += _info_rows(
            supervisor, faults_fired(sims.requests, self.disarmed_wall), driver.notes, histories.undecodable
        )
        if isinstance(self.broker, LocalCluster):
            copies = await asyncio.to_thread(read_replication, c.settings)
            evidence.info += cluster_rows(self.broker, supervisor.outages, copies)
        return evidence

    async def _api_agrees(self, states: dict[str, Any], orders: dict[str, int]) -> tuple[int, int]:
        base = self.api
        same = 0
        async with ClientSession(timeout=ClientTimeout(total=10)) as http:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with contextlib.suppress(Exception):
                    async with http.get(f"{base}/healthz") as reply:
                        if (await reply.json()).get("caught_up"):
                            break
                await asyncio.sleep(0.5)
            for order_id in orders:
                state = states.get(order_id)
                with contextlib.suppress(Exception):
                    async with http.get(f"{base}/orders/{order_id}") as reply:
                        shown = await reply.json() if reply.status == 200 else {}
                    seen = (shown.get("version"), shown.get("status"), shown.get("status_reason"))
                    same += state is not None and seen == (state.version, state.status, state.status_reason)
        return same, len(orders)


def _info_rows(
    supervisor: Supervisor, fired: dict[str, Any], notes: dict[str, str], undecodable: int
) -> list[tuple[str, str]]:
    kills = ", ".join(f"{target} x{n}" for target, n in sorted(supervisor.kills().items()))
    killed_broker = any(o.event.kind is ChaosKind.BROKER_KILL for o in supervisor.outages)
    rows = [(f"outages (SIGKILL, broker {'kill' if killed_broker else 'stop'})", kills or "none")]
    if supervisor.broker_retries:
        rows.append(("broker starts that failed (retried)", str(supervisor.broker_retries)))
    for provider, counts in sorted(fired.items()):
        total = counts.get("total", 0)
        shares = ", ".join(
            f"{kind} {counts[kind]} ({100.0 * counts[kind] / total:.0f}%)"
            for kind in ("5xx", "429", "timeout")
            if total
        )
        rows.append(
            (f"faults injected at {provider} (while armed)", f"{total} vendor requests: {shares or 'none'}")
        )
    exits = ", ".join(f"{e.name} (code {e.code}) at t+{e.at:.0f}s" for e in supervisor.exits[:4])
    rows.append(
        (
            "processes that exited on their own (restarted)",
            f"{len(supervisor.exits)}" + (f": {exits}" if exits else ""),
        )
    )
    if notes:
        first = next(iter(notes.items()))
        rows.append(("orders the driver gave up on", f"{len(notes)}, e.g. {first[0]}: {first[1][:100]}"))
    if undecodable:
        rows.append(("undecodable records on event topics", str(undecodable)))
    return rows


def cluster_rows(
    cluster: LocalCluster, outages: list[Outage], copies: dict[str, tuple[int, str]]
) -> list[tuple[str, str]]:
    """Which broker was killed, when it was back and in sync; the topics' replication."""
    rows = []
    for o in outages:
        if o.event.kind is not ChaosKind.BROKER_KILL or o.event.node is None:
            continue
        node = cluster.node(o.event.node)
        back = f"back at t+{o.ended:.0f}s" if o.ended is not None else "never back"
        synced = (
            f"replicas in sync at t+{o.in_sync:.0f}s" if o.in_sync is not None else "replicas never in sync"
        )
        rows.append(
            (
                f"broker killed (SIGKILL, {cluster.size}-node cluster)",
                f"{o.event.target}: node {node.node_id} on {node.bootstrap_servers} (pid {o.pid}) at "
                f"t+{o.began:.0f}s, {back}, {synced}",
            )
        )
    return [*rows, _replication_row(cluster.size, copies)]


def _replication_row(size: int, copies: dict[str, tuple[int, str]]) -> tuple[str, str]:
    """How many topics have which (replicas, min.insync.replicas); the first few odd ones named."""
    kinds = Counter(copies.values())
    value = "; ".join(f"{r} and {m} on {n} topics" for (r, m), n in sorted(kinds.items(), reverse=True))
    odd = sorted(name for name, kind in copies.items() if kind != (size, "2"))
    if odd:
        value += f" (not {size} and 2: {', '.join(odd[:3])}{', ...' if len(odd) > 3 else ''})"
    return "topics' replicas and min.insync.replicas", value
