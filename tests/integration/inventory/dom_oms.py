"""Journey 6 at stream level: the order writer running flow files, the inventory writer,
the DOM coordinator, and fake providers for everybody else (F&O, BigCommerce), each in
a thread of the test process, on the real broker."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from loops import loops_running
from order_watch import OrderWatch

from devkit.fake_providers import FakeProviders
from streams.adapters.flow_definitions import FlowCatalogFeed, publish_flows
from streams.adapters.flow_files import load_flows
from streams.adapters.order_store import OrderStore
from streams.adapters.state_store import InventoryStore
from streams.adapters.topics import PROVIDERS
from streams.bootstrap import Components
from streams.domain.sourcing import DomConfig
from streams.services.dom import DomCoordinator
from streams.services.inventory_writer import InventoryWriter
from streams.services.writer import OrderWriter


@dataclass
class DomOms(OrderWatch):
    writer: OrderWriter
    dom: DomCoordinator


@contextmanager
def running_dom_oms(c: Components, flows_dir: Path, config: DomConfig) -> Iterator[DomOms]:
    flows = load_flows(flows_dir)
    publish_flows(c.settings, c.topics, c.codec, [(f, f.name) for f in flows])
    store = OrderStore(c.settings.state_dir / "orders")
    inventory = InventoryStore(c.settings.state_dir / "inventory")
    feed = FlowCatalogFeed(c.settings, c.topics, c.codec)
    writer = OrderWriter(
        c.settings,
        c.topics,
        c.codec,
        store,
        c.transitions,
        batch_size=500,
        flows=feed,
        handling=c.order_handling,
        products=c.products,
    )
    inventory_writer = InventoryWriter(
        c.settings.model_copy(update={"instance_id": "inventory-1"}),
        c.topics,
        c.codec,
        inventory,
        batch_size=500,
    )
    dom = DomCoordinator(c.settings, c.topics, c.codec, config)
    fakes = FakeProviders(c.settings, c.topics, c.codec, providers=tuple(p for p in PROVIDERS if p != "dom"))
    try:
        with loops_running(writer.run, inventory_writer.run, dom.run, fakes.run):
            yield DomOms(c, writer, dom)
    finally:
        store.close()
        inventory.close()
