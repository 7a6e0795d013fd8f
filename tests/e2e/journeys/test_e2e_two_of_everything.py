"""More than one instance of everything, end to end: two order writers, two inventory
writers, two DOM coordinators, two instances of each connector behind one webhook front
that hands every provider delivery to *both* instances at once, and the read-side API;
one order through each of the six journeys.

Asserted: every order completes through its journey's statuses; though both instances
took every webhook, each provider message is one event in the order's history; each
provider holds one order or document per order; both instances of every kind had
partitions of their group; and once caught up, every consumer group reads lag 0 (the
``kafka-consumer-groups`` view), Faust's included.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from conn_e2e_stack import EXPECTED_STATUSES, Stack
from oms_processes import oms_env, python_module, run_oms
from timelines import statuses
from waits import wait_for

from devkit.webhook_front import Spread
from devkit.world import PROVIDERS, OrderWatch, drive_journeys, free_port, settled, start_world
from streams.adapters.kafka import admin, delete_topics
from streams.adapters.lag import groups, members_with_partitions, wait_until_caught_up
from streams.bootstrap import bootstrap
from streams.domain.events import FulfillmentPicked, OrderCreated, OrderInvoiced, OrderShipped
from streams.services.dom import DOM_GROUP
from streams.services.inventory import InventoryView
from streams.services.inventory_writer import INVENTORY_GROUP
from streams.services.projection import PROJECTION_GROUP
from streams.services.sourcing_config import load_opening_stock
from streams.services.writer import WRITER_GROUP
from streams.settings import Settings

INSTANCES = 2


@dataclass
class Doubled(Stack):
    processes: dict[str, subprocess.Popen[bytes]]

    def groups(self) -> dict[str, str]:
        """kind -> its consumer group."""
        prefix = self.components.topics.prefix
        kinds = {
            "order writer": WRITER_GROUP,
            "inventory writer": INVENTORY_GROUP,
            "DOM": DOM_GROUP,
            "projection": f"{PROJECTION_GROUP}-default",
        }
        kinds.update({f"{p} connector": f"oms-connector-{p}" for p in PROVIDERS})
        return {kind: prefix + group for kind, group in kinds.items()}

    def front_deliveries(self) -> dict[str, dict[str, int]]:
        """Instance URL -> HTTP status -> deliveries the webhook front handed it."""
        assert self.world.front is not None
        with urllib.request.urlopen(f"{self.world.front}/_front/deliveries", timeout=10) as reply:
            answered: dict[str, dict[str, int]] = json.loads(reply.read())["instances"]
        return answered


def _wait_for_stock(settings: Settings) -> None:
    c = bootstrap(settings)
    want, view = len(load_opening_stock().entries()), InventoryView(settings, c.topics, c.codec)
    deadline = time.monotonic() + 60
    try:
        while len(view.levels) < want:
            assert time.monotonic() < deadline, f"{len(view.levels)} of {want} stock levels after 60s"
            view.poll(0.2)
    finally:
        view.close()


@pytest.fixture(scope="module")
def doubled(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Doubled]:
    workdir = tmp_path_factory.mktemp("doubled")
    prefix = f"x{uuid.uuid4().hex[:8]}."
    settings = Settings(
        bootstrap_servers=kafka_bootstrap, topic_prefix=prefix, partitions=3, state_dir=workdir / "oms-state"
    )
    env = oms_env(kafka_bootstrap, prefix, settings.state_dir)
    run_oms(env, "topics", "create")
    run_oms(env, "flows", "publish")
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        with ExitStack() as running:
            yield from _run(running, processes, settings, env, workdir)
    finally:
        ours = [t for t in admin(settings).list_topics(timeout=30).topics if t.startswith(prefix)]
        delete_topics(settings, ours)


def _run(
    running: ExitStack,
    processes: dict[str, subprocess.Popen[bytes]],
    settings: Settings,
    env: dict[str, str],
    workdir: Path,
) -> Iterator[Doubled]:
    """Start the processes (stopped by ``running``), then the world; yield the stack."""
    kinds = {
        "writer": ["streams.cli", "writer", "--log-level", "WARNING"],
        "inventory": ["streams.cli", "inventory-writer", "--log-level", "WARNING"],
        "dom": ["streams.entrypoints.dom_cli", "--log-level", "WARNING"],
    }
    metrics_port = {
        name: free_port() for name in (f"{k}-{n}" for k in kinds for n in range(1, INSTANCES + 1))
    }
    for kind, argv in kinds.items():
        for n in range(1, INSTANCES + 1):
            name = f"{kind}-{n}"
            own = {**env, "OMS_INSTANCE_ID": name, "OMS_METRICS_PORT": str(metrics_port[name])}
            started = python_module(argv, own, workdir / f"{name}.log")
            processes[name] = running.enter_context(started)
    api = ["streams.cli", "api", "--port", str(free_port()), "--log-level", "WARNING"]
    processes["api"] = running.enter_context(python_module(api, env, workdir / "api.log"))
    run_oms(env, "inventory", "load")
    _wait_for_stock(settings)
    world = start_world(
        settings,
        workdir / "world",
        http_tries=3,
        http_timeout=1.0,
        hang_seconds=2.5,
        with_dom=False,
        instances=INSTANCES,
        spread=Spread.ALL,
    )
    running.callback(world.stop)
    components = bootstrap(settings)
    with OrderWatch(
        settings, components.topics, components.codec, (world.bigcommerce_prefix, world.fno_prefix)
    ) as watch:
        writer_url = f"http://127.0.0.1:{metrics_port['writer-1']}"
        yield Doubled(components, world, watch, processes["writer-1"], writer_url, workdir, processes)


@pytest.fixture(scope="module")
def shared(doubled: Doubled) -> dict[str, int]:
    """kind -> members of its group holding partitions, once all have joined (or 90 s)."""
    wanted = {kind: group for kind, group in doubled.groups().items() if kind != "projection"}
    deadline = time.monotonic() + 90
    while True:
        client = admin(doubled.settings)
        members = {kind: members_with_partitions(client, group) for kind, group in wanted.items()}
        if all(n == INSTANCES for n in members.values()) or time.monotonic() > deadline:
            return members
        time.sleep(1.0)


@pytest.fixture(scope="module")
def driven(doubled: Doubled, shared: dict[str, int]) -> dict[int, list[str]]:
    return drive_journeys(doubled.world, doubled.settings, 1, watch=doubled.watch, step_timeout=90)


def test_two_instances_of_each_kind_share_their_groups_partitions(shared: dict[str, int]) -> None:
    assert shared == dict.fromkeys(shared, INSTANCES)


def test_every_order_completes_through_its_journeys_statuses(
    doubled: Doubled, driven: dict[int, list[str]]
) -> None:
    assert doubled.world.notes == {}
    for journey, [order_id] in driven.items():
        state = doubled.watch.state(order_id)
        assert state is not None and settled(state), (journey, order_id, state)
        assert statuses(doubled.watch.timeline(order_id)) == EXPECTED_STATUSES[journey], (journey, order_id)


def test_every_webhook_reached_both_instances(doubled: Doubled, driven: dict[int, list[str]]) -> None:
    delivered = doubled.front_deliveries()
    for provider in PROVIDERS:
        answered = [delivered.get(url, {}) for url in doubled.world.instances[provider]]
        assert all(answered) and len({sum(a.values()) for a in answered}) == 1, (provider, answered)


def test_each_provider_message_is_one_event_in_the_history(
    doubled: Doubled, driven: dict[int, list[str]]
) -> None:
    reported = (OrderCreated, FulfillmentPicked, OrderShipped, OrderInvoiced)
    seen = {
        journey: Counter(type(e).__name__ for e in doubled.watch.timeline(order) if isinstance(e, reported))
        for journey, [order] in driven.items()
    }
    once = {"OrderCreated": 1, "OrderShipped": 1, "OrderInvoiced": 1}
    assert seen == {j: Counter({**once, **({"FulfillmentPicked": 1} if j in (1, 6) else {})}) for j in seen}


def test_each_provider_holds_one_order_per_order(doubled: Doubled, driven: dict[int, list[str]]) -> None:
    fno = doubled.sim("fno", "GET", "/_sim/salesorders")["salesorders"]
    flexe = doubled.sim("flexe", "GET", "/_sim/outbound_orders")["outbound_orders"]
    sap = doubled.sim("sap", "GET", "/_sim/salesorders")["salesorders"]
    assert Counter(o["header"]["CustomersOrderReference"] for o in fno if o["origin"] == "odata") == Counter(
        o for j in (1, 2, 6) for o in driven[j]
    )
    assert Counter(o["externalId"] for o in flexe) == Counter(o for j in (2, 3, 5) for o in driven[j])
    assert Counter(o["PurchaseOrderByCustomer"] for o in sap) == Counter(driven[5])


def test_caught_up_every_consumer_group_reads_lag_0(doubled: Doubled, driven: dict[int, list[str]]) -> None:
    client = admin(doubled.settings)
    expected, prefix = set(doubled.groups().values()), doubled.components.topics.prefix
    wait_for(
        f"every group listed: {sorted(expected)}",
        lambda: expected <= set(groups(client, prefix)),
        30,
        every=1.0,
    )
    assert wait_until_caught_up(client, groups(client, doubled.components.topics.prefix), timeout=60) == {}
