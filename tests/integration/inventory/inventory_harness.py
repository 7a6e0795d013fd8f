"""Running inventory writers, DOM coordinators and the order side for the inventory tests:
in threads of the test process, or as subprocesses started the way an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from loops import loops_running
from waits import wait_for

from streams.adapters.kafka_loop import models, read_all
from streams.adapters.state_store import InventoryStore
from streams.bootstrap import Components
from streams.domain.history import StockHistories
from streams.domain.inventory import (
    InventoryCommand,
    InventoryEvent,
    InventoryState,
    SetOnHand,
    inventory_key,
)
from streams.services.inventory import InventoryFeed, InventoryView, inventory_envelope
from streams.services.inventory_writer import InventoryWriter
from streams.settings import REPO_ROOT


def stock(c: Components, *entries: tuple[str, str, int]) -> None:
    """On-hand snapshots for (sku, source, units)."""
    feed = InventoryFeed(c.settings, c.topics, c.codec)
    feed.send_all(
        SetOnHand(envelope=inventory_envelope(sku, source, "tests"), quantity=units)
        for sku, source, units in entries
    )
    feed.flush()


def stocked(c: Components, *entries: tuple[str, str, int], timeout: float = 60.0) -> None:
    """``stock``, and wait until the inventory writer has recorded it (as DOM will see it)."""
    stock(c, *entries)
    view = InventoryView(c.settings, c.topics, c.codec)
    try:

        def recorded() -> bool:
            view.poll(0.2)
            return all(
                (env := view.levels.get(inventory_key(sku, source))) is not None and env.on_hand == units
                for sku, source, units in entries
            )

        wait_for("the stock recorded", recorded, timeout)
    finally:
        view.close()


def send(c: Components, *commands: InventoryCommand) -> None:
    feed = InventoryFeed(c.settings, c.topics, c.codec)
    feed.send_all(commands)
    feed.flush()


@contextmanager
def inventory_writer(
    c: Components, instance: str = "inv-1", store_name: str = ""
) -> Iterator[InventoryWriter]:
    """An inventory writer in a thread. A restart keeps the instance id (static group
    membership takes the partitions back at once); ``store_name`` picks its RocksDB store."""
    settings = c.settings.model_copy(update={"instance_id": instance})
    store = InventoryStore(settings.state_dir / f"inventory-{store_name or instance}")
    writer = InventoryWriter(settings, c.topics, c.codec, store, batch_size=500)
    try:
        with loops_running(writer.run):
            yield writer
    finally:
        store.close()


def levels(c: Components) -> dict[str, InventoryState]:
    """Every SKU@source as the inventory topics say (a fresh read, folded by seq)."""
    histories = StockHistories()
    start = {(t, p): 0 for t in c.topics.inventory_event_topics() for p in range(c.topics.partitions)}
    for event in read_all(c.settings, start, models(c.codec, InventoryEvent)):
        histories.add(event)
    return dict(histories.states)


def process_env(c: Components, instance: str) -> dict[str, str]:
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": c.settings.bootstrap_servers,
        "OMS_TOPIC_PREFIX": c.settings.topic_prefix,
        "OMS_PARTITIONS": str(c.settings.partitions),
        "OMS_STATE_DIR": str(c.settings.state_dir),
        "OMS_INSTANCE_ID": instance,
        "PYTHONPATH": str(REPO_ROOT),
    }


@contextmanager
def processes(
    c: Components, *argvs: tuple[str, list[str]], log_dir: Path
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start ``(instance id, argv)`` as ``python <argv>`` subprocesses; stop them at the end."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        for instance, argv in argvs:
            log = (log_dir / f"{instance}.log").open("wb")
            started.append(
                subprocess.Popen(
                    [sys.executable, *argv],
                    env=process_env(c, instance),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        yield started
    finally:
        for p in started:
            p.terminate()
        for p in started:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
