"""The providers' world for the demo and the end-to-end tests: the four simulators and the
four connectors (and a DOM stand-in), each a process of its own, and a driver that plays
the people at the providers: a shopper orders in BigCommerce, a clerk confirms an order in
F&O, the warehouse picks, packs and ships, accounting invoices in F&O or bills in SAP.

The driver only uses the simulators' control planes (``/_sim/...``), and reads the order
history from the event topics to know when the next person may act, as someone watching
the order in IOM would. It never talks to a connector or publishes a command.

    world = start_world(settings, workdir)          # processes up, webhooks wired
    try:
        ids = drive_journeys(world, settings, 5)    # {journey: [order ids]}
    finally:
        world.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import ClientError, ClientSession, ClientTimeout
from confluent_kafka import Message

from devkit.webhook_front import Spread
from streams.adapters.avro import AvroCodec
from streams.adapters.kafka_loop import Batch, KafkaLoop, models
from streams.adapters.topics import TopicRegistry
from streams.bootstrap import bootstrap
from streams.domain.events import Event
from streams.domain.history import OrderHistories
from streams.domain.order import OrderState
from streams.settings import REPO_ROOT, Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

PROVIDERS = ("bigcommerce", "fno", "flexe", "sap")
JOURNEYS = (1, 2, 3, 4, 5, 6)
SIM_CREDENTIALS: Mapping[str, Mapping[str, str]] = {
    "bigcommerce": {
        "BIGCOMMERCE_ACCESS_TOKEN": "sim-bc-token",
        "BIGCOMMERCE_CLIENT_SECRET": "sim-bc-client-secret",
    },
    "fno": {"FNO_CLIENT_SECRET": "sim-fno-secret"},
    "flexe": {"FLEXE_API_TOKEN": "sim-flexe-token"},
    "sap": {"SAP_PASSWORD": "sim-sap-password"},
}
"""The simulators' default credentials; the connectors read them from files (``*_FILE``)."""
WEBHOOK_KEY = "demo-webhook-key"
"""F&O, Flexe and SAP call their connector with ``?key=`` this (a shared URL secret)."""


def _ephemeral_ports() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port(span: int = 1) -> int:
    """A free loopback port below the kernel's ephemeral range, and the ``span - 1`` after
    it free too (a broker and its controller: 2; a cluster of n: 2n). Not an ephemeral one:
    while a process is down, clients that keep connecting to its port can be given that
    very port as their own source port, connect to themselves (TCP simultaneous open) and
    hold it, so that the process cannot bind it again when it restarts."""
    low, _ = _ephemeral_ports()
    rng = random.Random()
    edge = max(2, span)
    for _ in range(200):
        port = rng.randrange(20000, max(20000 + edge, low - edge))
        if all(_bindable(p) for p in range(port, port + span)):
            return port
    raise RuntimeError("no free loopback port below the ephemeral range")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class ProcessSpec:
    """How a world process was started, so that a supervisor can start it again."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    log: Path


@dataclass
class World:
    """The running processes, and where each listens."""

    simulators: dict[str, str]
    """provider -> simulator base URL (vendor API and /_sim control plane)."""
    connectors: dict[str, str]
    """provider -> where the provider delivers its webhooks: the connector's webhook
    server, or the webhook front when several instances run."""
    processes: dict[str, subprocess.Popen[bytes]]
    workdir: Path
    bigcommerce_prefix: str
    fno_prefix: str
    notes: dict[str, str] = field(default_factory=dict)
    """order id -> why the driver stopped driving it (orders that went all the way: none)."""
    instances: dict[str, list[str]] = field(default_factory=dict)
    """provider -> each connector instance's own webhook server."""
    front: str | None = None
    """The webhook front (``devkit.webhook_front``) before the instances, when several run."""
    specs: dict[str, ProcessSpec] = field(default_factory=dict)
    down: set[str] = field(default_factory=set)
    """Processes killed on purpose and not started again yet: ``check`` lets them be."""
    keep_alive: bool = False
    """A supervisor restarts processes that exit: ``check`` never raises (see ``exited``)."""
    started: dict[str, float] = field(default_factory=dict)
    """Process -> when (``time.monotonic``) it was last started."""

    def bigcommerce_order_id(self, bc_id: int) -> str:
        return f"{self.bigcommerce_prefix}{bc_id}"

    def fno_order_id(self, number: str, company: str = "USMF") -> str:
        return f"{self.fno_prefix}{company.upper()}-{number}"

    def spawn(self, name: str, argv: Iterable[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        """Start ``python ARGV`` as process ``name``; its output goes to ``logs/<name>.log``."""
        spec = ProcessSpec(tuple(argv), dict(env), self.workdir / "logs" / f"{name}.log")
        self.specs[name] = spec
        return self._start(name, spec, "wb")

    def _start(self, name: str, spec: ProcessSpec, mode: str) -> subprocess.Popen[bytes]:
        spec.log.parent.mkdir(parents=True, exist_ok=True)
        with spec.log.open(mode) as out:
            process = subprocess.Popen(
                [sys.executable, *spec.argv],
                env=dict(spec.env),
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
            )
        self.processes[name] = process
        self.started[name] = time.monotonic()
        self.down.discard(name)
        return process

    def kill(self, name: str) -> int:
        """SIGKILL ``name`` (no goodbye: no flush, no commit, no leave-group); its pid."""
        process = self.processes[name]
        self.down.add(name)
        if process.poll() is None:
            process.kill()
        process.wait(10)
        return process.pid

    def restart(self, name: str) -> subprocess.Popen[bytes]:
        """Start ``name`` again as it was first started; its log goes on in the same file."""
        spec = self.specs[name]
        with spec.log.open("ab") as out:
            out.write(f"\n--- restarted at {time.strftime('%H:%M:%S')} ---\n".encode())
        return self._start(name, spec, "ab")

    def exited(self) -> list[str]:
        """Processes that ended on their own (not killed on purpose)."""
        return [n for n, p in self.processes.items() if n not in self.down and p.poll() is not None]

    def check(self) -> None:
        """Raise if a process died: its log says why."""
        if self.keep_alive:
            return
        for name in self.exited():
            code = self.processes[name].returncode
            raise RuntimeError(f"{name} exited with code {code}; see {self.workdir / 'logs' / name}.log")

    def stop(self, timeout: float = 20.0) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + timeout
        for process in self.processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(5)


def start_world(
    settings: Settings,
    workdir: Path,
    *,
    run_id: str = "",
    time_scale: float = 0.001,
    http_tries: int = 4,
    http_timeout: float = 5.0,
    http_backoff: float = 0.2,
    hang_seconds: float = 3.0,
    generous_quotas: bool = True,
    with_dom: bool = True,
    ready_timeout: float = 90.0,
    instances: int = 1,
    spread: Spread = Spread.ROUND_ROBIN,
    returns_poll_interval: float = 2.0,
) -> World:
    """Start the simulators, the connectors and (``with_dom``) a DOM stand-in, and wait
    until every one answers. ``settings`` names the broker and topics (the writer's).

    ``instances`` > 1 runs that many instances of each connector, one consumer group per
    provider, behind a webhook front that spreads the providers' deliveries (``spread``).
    ``returns_poll_interval``: how often the BigCommerce connector reads the store's
    return requests (no webhook tells of them).

    Order ids: ``<run_id>BC-<BigCommerce id>`` and ``<run_id>FNO-<company>-<number>``, so
    that runs on one broker never collide (the simulators number from scratch each time).
    ``generous_quotas`` lifts the BigCommerce and Flexe rate limits, which a demo with
    many orders would hit (the connectors wait as told, but the demo gets slow).
    """
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    secrets = workdir / "secrets"
    secrets.mkdir(exist_ok=True)
    sim_port = {p: free_port() for p in PROVIDERS}
    sims = {p: f"http://127.0.0.1:{sim_port[p]}" for p in PROVIDERS}
    own = {p: [f"http://127.0.0.1:{free_port()}" for _ in range(instances)] for p in PROVIDERS}
    front = f"http://127.0.0.1:{free_port()}" if instances > 1 else None
    conns = {p: front or own[p][0] for p in PROVIDERS}
    common = ["--time-scale", str(time_scale), "--hang-seconds", str(hang_seconds), "--log-level", "WARNING"]
    sim_args = {p: [*common, *args] for p, args in _simulator_args(conns, generous_quotas).items()}
    http = {"OMS_HTTP_TRIES": http_tries, "OMS_HTTP_TIMEOUT": http_timeout, "OMS_HTTP_BACKOFF": http_backoff}
    base_env = _base_env(settings, {name: str(value) for name, value in http.items()}, secrets)
    bc_prefix, fno_prefix = f"{run_id}BC-", f"{run_id}FNO-"
    conn_env = _connector_env(sims, secrets, bc_prefix, fno_prefix, returns_poll_interval)
    world = World(sims, conns, {}, workdir, bc_prefix, fno_prefix, instances=own, front=front)
    try:
        for p in PROVIDERS:
            world.spawn(
                f"sim-{p}", ["-m", f"simulators.{p}", "--port", str(sim_port[p]), *sim_args[p]], base_env
            )
            _spawn_connectors(world, p, {**base_env, **conn_env[p]})
        if front is not None:
            _spawn_front(world, front, spread, base_env)
        if with_dom:
            world.spawn("stand-in-dom", ["-m", "devkit.stand_in", "--provider", "dom"], base_env)
        _wait_ready(world, ready_timeout)
    except BaseException:
        world.stop()
        raise
    return world


def _spawn_front(world: World, front: str, spread: Spread, env: Mapping[str, str]) -> None:
    """The webhook front that spreads each provider's deliveries over its connector instances."""
    routes = [f"/webhooks/{p}={','.join(world.instances[p])}" for p in PROVIDERS]
    world.spawn(
        "webhook-front",
        ["-m", "devkit.webhook_front", "--port", front.rsplit(":", 1)[1], "--spread", spread.value]
        + [arg for route in routes for arg in ("--route", route)],
        env,
    )


def _simulator_args(conns: Mapping[str, str], generous_quotas: bool) -> dict[str, list[str]]:
    """Each simulator's own options: where its webhooks go (the connector, or the front)."""
    key = f"?key={WEBHOOK_KEY}"
    return {
        "bigcommerce": [
            "--webhook-url",
            f"{conns['bigcommerce']}/webhooks/bigcommerce",
            "--webhook-scopes",
            "store/order/created,store/order/statusUpdated",
            *(["--rate-limit-quota", "100000"] if generous_quotas else []),
        ],
        "fno": ["--webhook-url", f"{conns['fno']}/webhooks/fno{key}"],
        "flexe": [
            "--webhook-url",
            f"{conns['flexe']}/webhooks/flexe{key}",
            *(["--rate-limit", "100000"] if generous_quotas else []),
        ],
        "sap": ["--webhook-url", f"{conns['sap']}/webhooks/sap{key}"],
    }


def _base_env(settings: Settings, http: Mapping[str, str], secrets: Path) -> dict[str, str]:
    """Every process's environment: the broker and topics, the connectors' HTTP tuning, and
    the simulators' credentials as ``NAME_FILE`` files in ``secrets`` (never the values)."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "OMS_TOPIC_PREFIX": settings.topic_prefix,
        "OMS_PARTITIONS": str(settings.partitions),
        **http,
        "PYTHONUNBUFFERED": "1",
    }
    for variables in SIM_CREDENTIALS.values():
        for name, value in variables.items():
            (secrets / name).write_text(value + "\n")
            env[f"{name}_FILE"] = str(secrets / name)
            env.pop(name, None)
    (secrets / "WEBHOOK_KEY").write_text(WEBHOOK_KEY)
    return env


def _connector_env(
    sims: Mapping[str, str], secrets: Path, bc_prefix: str, fno_prefix: str, returns_poll_interval: float
) -> dict[str, dict[str, str]]:
    """Each connector's own variables: its simulator's URL, account and webhook key."""
    return {
        "bigcommerce": {
            "BIGCOMMERCE_API_URL": sims["bigcommerce"],
            "BIGCOMMERCE_STORE_HASH": "simstore",
            "BIGCOMMERCE_ORDER_ID_PREFIX": bc_prefix,
            "BIGCOMMERCE_RETURNS_POLL_INTERVAL": str(returns_poll_interval),
        },
        "fno": {
            "FNO_URL": sims["fno"],
            "FNO_TOKEN_URL": f"{sims['fno']}/sim-tenant/oauth2/v2.0/token",
            "FNO_CLIENT_ID": "sim-fno-client",
            "FNO_ORDER_ID_PREFIX": fno_prefix,
            "FNO_WEBHOOK_KEY_FILE": str(secrets / "WEBHOOK_KEY"),
        },
        "flexe": {
            "FLEXE_API_URL": sims["flexe"],
            "FLEXE_OWNER_ID": "sim-owner",
            "FLEXE_WEBHOOK_KEY_FILE": str(secrets / "WEBHOOK_KEY"),
        },
        "sap": {
            "SAP_API_URL": sims["sap"],
            "SAP_USER": "SIM_USER",
            "SAP_WEBHOOK_KEY_FILE": str(secrets / "WEBHOOK_KEY"),
        },
    }


def _spawn_connectors(world: World, provider: str, env: Mapping[str, str]) -> None:
    """``provider``'s connector instances, each on its own port and state folder."""
    own = world.instances[provider]
    for n, url in enumerate(own, start=1):
        name = f"{provider}-{n}" if len(own) > 1 else provider
        world.spawn(
            f"connector-{name}",
            [
                "-m",
                f"connectors.{provider}",
                "--port",
                url.rsplit(":", 1)[1],
                "--instance-id",
                str(n),
                "--state-dir",
                str(world.workdir / "state" / name),
                "--log-level",
                "INFO",
            ],
            env,
        )


def _wait_ready(world: World, timeout: float) -> None:
    """Until every simulator answers and every connector is ready: its ``/ready``, not
    ``/health``, which the shell serves on the webhook port while the connector starts
    (a webhook sent then finds the port closed for a moment, and F&O's retries, 1/1000 of
    the vendor's in tests, are over before the webhook server is up)."""
    urls = [f"{u}/_sim/health" for u in world.simulators.values()]
    urls += [f"{u}/ready" for own in world.instances.values() for u in own]
    urls += [f"{world.front}/_front/health"] if world.front else []

    async def poll() -> None:
        deadline = time.monotonic() + timeout
        async with ClientSession(timeout=ClientTimeout(total=2)) as http:
            for url in urls:
                while True:
                    world.check()
                    try:
                        async with http.get(url) as reply:
                            if reply.status == 200:
                                break
                    except (ClientError, OSError, TimeoutError):
                        pass
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")
                    await asyncio.sleep(0.2)

    asyncio.run(poll())


# --- watching orders on the event topics --------------------------------------------


class OrderWatch:
    """Folds the event topics in a background thread, for orders whose id starts with one of
    ``prefixes``: what a person watching IOM would see, a moment after it happens."""

    def __init__(self, settings: Settings, topics: TopicRegistry, codec: AvroCodec, prefixes: Iterable[str]):
        self._settings = settings
        self._topics = topics
        self._codec = codec
        self._prefixes = tuple(p.encode() for p in prefixes)
        self.states: dict[str, OrderState] = {}
        self.timelines: dict[str, list[Event]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="order-watch", daemon=True)

    def __enter__(self) -> OrderWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def state(self, order_id: str) -> OrderState | None:
        with self._lock:
            return self.states.get(order_id)

    def timeline(self, order_id: str) -> list[Event]:
        with self._lock:
            return list(self.timelines.get(order_id, []))

    def _run(self) -> None:
        decode = models(self._codec, Event)

        def watched(msg: Message) -> Event | None:
            return decode(msg) if (msg.key() or b"").startswith(self._prefixes) else None

        def applied(event: Event, state: OrderState, origin: object) -> None:
            self.timelines.setdefault(state.order_id, []).append(event)

        histories = OrderHistories(self.states, on_applied=applied)

        def fold(batch: Batch[Event]) -> None:
            with self._lock:
                for event in batch.records:
                    histories.add(event)

        loop = KafkaLoop(self._settings, watched, batch_size=1000, poll_timeout=0.2, name="order watch")
        loop.assign({(t, p): 0 for t in self._topics.event_topics() for p in range(self._topics.partitions)})
        try:
            loop.run(fold, self._stop)
        finally:
            loop.close()


# --- the driver -----------------------------------------------------------------------

_SKUS = ("SKU-TSHIRT-M", "SKU-MUG-01", "SKU-CAP-RED", "SKU-BAG-XL", "SKU-SOCKS-3")
_CITIES = (("Seattle", "WA", "98101"), ("Austin", "TX", "73301"), ("Denver", "CO", "80202"))
_BIGCOMMERCE_JOURNEYS = {1: "fulfillment=fno", 2: "fulfillment=flexe", 6: "fulfillment=dom"}
_FNO_JOURNEYS = {3: "FLEXE-FNO", 4: "FNO", 5: "FLEXE-SAP"}


class DriveError(Exception):
    """An order did not get where the driver waited for it."""


_LISTINGS: Mapping[str, tuple[str, str, Callable[[Any], tuple[Any, Any]]]] = {
    "fno": (
        "/_sim/salesorders",
        "salesorders",
        lambda o: (o["header"].get("CustomersOrderReference"), o["header"]["SalesOrderNumber"]),
    ),
    "flexe": ("/_sim/outbound_orders", "outbound_orders", lambda o: (o.get("externalId"), o["id"])),
    "sap": (
        "/_sim/salesorders",
        "salesorders",
        lambda o: (o.get("PurchaseOrderByCustomer"), o["SalesOrder"]),
    ),
}
"""provider -> (listing path, list key, order -> (our order id, the provider's number))."""


@dataclass
class ProviderBook:
    """Which provider order holds which of ours, from the simulators' listings: one listing
    answers every order asked about while it ran, and listings come at most every
    ``every`` seconds (each one lists every order the simulator has)."""

    call: Callable[[str, str, str], Awaitable[Any]]
    every: float = 0.5
    _numbers: dict[tuple[str, str], str] = field(default_factory=dict)
    _listed_at: dict[str, float] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    async def number(self, provider: str, order_id: str) -> str | None:
        """The provider's number for ``order_id``, from a listing at most ``every`` s old."""
        found = self._numbers.get((provider, order_id))
        if found is not None:
            return found
        asked = time.monotonic()
        async with self._locks.setdefault(provider, asyncio.Lock()):
            if self._listed_at.get(provider, 0.0) < asked:
                await asyncio.sleep(max(0.0, self._listed_at.get(provider, 0.0) + self.every - asked))
                await self._list(provider)
        return self._numbers.get((provider, order_id))

    async def _list(self, provider: str) -> None:
        path, key, ref = _LISTINGS[provider]
        self._listed_at[provider] = time.monotonic()
        listing = await self.call(provider, "GET", path)
        for order in listing[key]:
            ours, theirs = ref(order)
            if ours:
                self._numbers.setdefault((provider, str(ours)), str(theirs))


@dataclass
class Driver:
    world: World
    watch: OrderWatch
    http: ClientSession
    rng: random.Random
    step_timeout: float
    notes: dict[str, str] = field(default_factory=dict)
    """order id -> why the driver stopped driving it (empty when it went all the way)."""
    provider_paced: bool = False
    """The people at a provider act once the provider has the order, not once IOM shows it
    sent (as an outside soak does: a lost step result in IOM does not stop the warehouse)."""
    created: dict[str, int] = field(default_factory=dict)
    """order id -> journey, as soon as the order exists at its provider."""
    uncreated: int = 0
    """Orders the channel did not take (noted in ``notes``)."""
    book: ProviderBook = field(init=False)

    def __post_init__(self) -> None:
        self.book = ProviderBook(self.call)

    async def call(self, provider: str, method: str, path: str, body: Any = None) -> Any:
        url = self.world.simulators[provider] + path
        try:
            async with self.http.request(method, url, json=body) as reply:
                text = await reply.text()
        except (TimeoutError, ClientError) as exc:  # a simulator SIGKILLed or swamped
            raise DriveError(f"{provider} {method} {path}: {type(exc).__name__} {exc}") from exc
        if reply.status >= 400:
            raise DriveError(f"{provider} {method} {path} -> {reply.status}: {text[:200]}")
        return json.loads(text) if text else None

    async def wait(self, order_id: str, what: str, done: Callable[[OrderState], bool]) -> OrderState:
        deadline = time.monotonic() + self.step_timeout
        while True:
            self.world.check()  # a dead connector fails the drive at once, not by timeouts
            state = self.watch.state(order_id)
            if state is not None and done(state):
                return state
            if state is not None and state.status in ("On hold", "Canceled"):
                raise DriveError(f"{order_id} is {state.status} / {state.status_reason} (waited for {what})")
            if time.monotonic() > deadline:
                seen = f"{state.status} / {state.status_reason}" if state else "nothing yet"
                raise DriveError(f"{order_id}: no '{what}' within {self.step_timeout:.0f}s ({seen})")
            await asyncio.sleep(0.1)

    def _products(self) -> list[dict[str, Any]]:
        return [
            {
                "sku": sku,
                "name": sku,
                "quantity": self.rng.randint(1, 4),
                "price": f"{self.rng.randint(500, 9900) / 100:.2f}",
            }
            for sku in self.rng.sample(_SKUS, self.rng.randint(1, 3))
        ]

    async def bigcommerce_order(
        self,
        journey: int,
        *,
        country: tuple[str, str] = ("United States", "US"),
        products: Sequence[tuple[str, int, str]] | None = None,
    ) -> str:
        """A shopper's order; ``products`` as (sku, quantity, price), else a random basket."""
        city, state, postal = self.rng.choice(_CITIES)
        address = {
            "first_name": "Jane",
            "last_name": "Doe",
            "street_1": "1 Main St",
            "city": city,
            "state": state,
            "zip": postal,
            "country": country[0],
            "country_iso2": country[1],
        }
        basket = (
            [{"sku": s, "name": s, "quantity": n, "price": p} for s, n, p in products]
            if products
            else self._products()
        )
        created = await self.call(
            "bigcommerce",
            "POST",
            "/_sim/orders",
            {
                "products": basket,
                "shipping_addresses": [address],
                "staff_notes": _BIGCOMMERCE_JOURNEYS[journey],
            },
        )
        return self.world.bigcommerce_order_id(created["order"]["id"])

    async def fno_order(self, journey: int) -> str:
        city, state, postal = self.rng.choice(_CITIES)
        lines = [
            {"ItemNumber": p["sku"], "OrderedSalesQuantity": p["quantity"], "SalesPrice": float(p["price"]),
             "ShippingSiteId": "1", "ShippingWarehouseId": "11"}
            for p in self._products()
        ]  # fmt: skip
        header = {
            "dataAreaId": "usmf",
            "OrderingCustomerAccountNumber": "US-001",
            "SalesOrderOriginCode": _FNO_JOURNEYS[journey],
            "DeliveryAddressName": "Contoso Retail",
            "DeliveryAddressStreet": "1 Main St",
            "DeliveryAddressCity": city,
            "DeliveryAddressStateId": state,
            "DeliveryAddressZipCode": postal,
            "DeliveryAddressCountryRegionId": "USA",
        }
        created = await self.call("fno", "POST", "/_sim/salesorders", {**header, "lines": lines})
        number = created["header"]["SalesOrderNumber"]
        await self.call("fno", "POST", f"/_sim/salesorders/{number}/confirm")
        return self.world.fno_order_id(number)

    async def provider_number(self, provider: str, order_id: str) -> str:
        """The provider's order our connector created for ``order_id``."""
        deadline = time.monotonic() + self.step_timeout
        while (number := await self.book.number(provider, order_id)) is None:
            if time.monotonic() > deadline:
                raise DriveError(f"{order_id}: no order in {provider} within {self.step_timeout:.0f}s")
            self.world.check()
        return number

    async def sent(self, order_id: str, provider: str, what: str, done: Callable[[OrderState], bool]) -> str:
        """Wait until ``provider`` may act on ``order_id`` (IOM shows ``what``, or with
        ``provider_paced`` the provider has the order); the provider's number for it."""
        if not self.provider_paced:
            await self.wait(order_id, what, done)
        return await self.provider_number(provider, order_id)

    async def fno_number(self, order_id: str) -> str:
        """The F&O sales order our connector created for ``order_id``."""
        return await self.provider_number("fno", order_id)

    async def fno_advance(self, order_id: str, number: str, to: str, reason: str) -> None:
        await self.call("fno", "POST", f"/_sim/salesorders/{number}/advance", {"to": to})
        await self.wait(order_id, reason, lambda s: s.status_reason == reason or s.status == "Completed")

    async def flexe_ship(self, order_id: str) -> None:
        flexe_id = await self.sent(
            order_id,
            "flexe",
            "sent to Flexe",
            lambda s: s.fulfillment_provider == "flexe" and bool(s.provider_order_id),
        )
        await self.call("flexe", "POST", f"/_sim/outbound_orders/{flexe_id}/ship", {})
        await self.wait(order_id, "Packed", lambda s: s.status_reason == "Packed")

    async def sap_bill(self, order_id: str) -> None:
        number = await self.sent(order_id, "sap", "sent to SAP", lambda s: s.billing_provider == "sap")
        await self.call("sap", "POST", f"/_sim/salesorders/{number}/bill", {})

    async def journey(self, journey: int) -> str:
        """Create one order of ``journey`` and play every provider's part in it. An order
        the channel would not take (a simulator swamped or down) is noted, not created."""
        try:
            order_id = await (
                self.bigcommerce_order(journey) if journey in (1, 2, 6) else self.fno_order(journey)
            )
        except DriveError as exc:
            self.uncreated += 1
            self.notes[f"J{journey} order #{self.uncreated} not created"] = str(exc)
            log.warning("journey %d: order not created: %s", journey, exc)
            return ""
        self.created[order_id] = journey
        try:
            await self._play(journey, order_id)
        except DriveError as exc:
            self.notes[order_id] = str(exc)
            log.warning("%s", exc)
        return order_id

    async def _play(self, journey: int, order_id: str) -> None:
        if journey in (1, 6):
            if journey == 1:
                number = await self.sent(
                    order_id, "fno", "sent to F&O", lambda s: s.fulfillment_provider == "fno"
                )
            else:
                number = await self.sent(
                    order_id, "fno", "lines sent to F&O", lambda s: s.billing_provider == "fno"
                )
            await self.fno_advance(order_id, number, "picked", "Picked")
            await self.fno_advance(order_id, number, "packed", "Packed")
            await self.fno_advance(order_id, number, "invoiced", "Fulfilled")
        elif journey in (2, 3):
            await self.flexe_ship(order_id)
            if journey == 2:
                number = await self.sent(
                    order_id, "fno", "sent to F&O for billing", lambda s: s.billing_provider == "fno"
                )
            else:
                await self.wait(order_id, "sent to F&O for billing", lambda s: s.billing_provider == "fno")
                number = order_id.rsplit("-", 1)[1]
            await self.call("fno", "POST", f"/_sim/salesorders/{number}/advance", {"to": "invoiced"})
        elif journey == 4:
            await self.wait(order_id, "validated", lambda s: s.status_reason == "Validation succeeded")
            number = order_id.rsplit("-", 1)[1]
            await self.fno_advance(order_id, number, "packed", "Packed")
            await self.call("fno", "POST", f"/_sim/salesorders/{number}/advance", {"to": "invoiced"})
        elif journey == 5:
            await self.flexe_ship(order_id)
            await self.sap_bill(order_id)
        await self.wait(order_id, "completed", settled)


def settled(state: OrderState) -> bool:
    """Completed, with nothing left to do (BigCommerce told, where a flow tells it)."""
    return state.status == "Completed" and not state.pending_actions


def drive_journeys(
    world: World,
    settings: Settings,
    orders_per_journey: int,
    *,
    journeys: Iterable[int] = JOURNEYS,
    step_timeout: float = 60.0,
    seed: int = 7,
    watch: OrderWatch | None = None,
) -> dict[int, list[str]]:
    """Run ``orders_per_journey`` orders through each journey, all at once, via the
    simulators' control planes; return the order ids per journey once every order is
    completed or stuck (``world.notes`` says why a stuck one stopped)."""
    chosen = list(journeys)

    async def play(driver: Driver) -> dict[int, list[str]]:
        plays = [(j, driver.journey(j)) for j in chosen for _ in range(orders_per_journey)]
        ids = await asyncio.gather(*(play for _, play in plays))
        if driver.uncreated:
            raise DriveError(f"{driver.uncreated} orders not created: {list(driver.notes.values())[:3]}")
        out: dict[int, list[str]] = {j: [] for j in chosen}
        for (journey, _), order_id in zip(plays, ids, strict=True):
            out[journey].append(order_id)
        return out

    return with_driver(world, settings, play, step_timeout=step_timeout, seed=seed, watch=watch)


def with_driver(
    world: World,
    settings: Settings,
    play: Callable[[Driver], Awaitable[T]],
    *,
    step_timeout: float = 60.0,
    seed: int = 7,
    watch: OrderWatch | None = None,
) -> T:
    """Run ``play`` with a driver of ``world`` (watching the orders' topics); the driver's
    notes on orders it stopped driving end up in ``world.notes``."""
    with _watching(world, settings, watch) as watching:

        async def run() -> T:
            async with ClientSession(timeout=ClientTimeout(total=30)) as http:
                driver = Driver(world, watching, http, random.Random(seed), step_timeout)
                try:
                    return await play(driver)
                finally:
                    world.notes.update(driver.notes)

        return asyncio.run(run())


@contextmanager
def _watching(world: World, settings: Settings, watch: OrderWatch | None) -> Iterator[OrderWatch]:
    if watch is not None:
        yield watch
        return
    components = bootstrap(settings)
    with OrderWatch(
        settings, components.topics, components.codec, (world.bigcommerce_prefix, world.fno_prefix)
    ) as own:
        yield own
