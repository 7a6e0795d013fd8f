"""``oms demo``: a broker, the order writer, the providers and orders through all six journeys,
then the order desk (a cancel, an edit, a return with a replacement, a return made in BigCommerce,
a preorder release).

Everything is real: a local Apache Kafka broker (fetched and started if none answers),
the six shipped flows published to ``flow.definitions``, the order writer, the four
provider connectors and the four provider simulators (BigCommerce, F&O, Flexe, SAP), each
a process of its own talking HTTP. Orders start where they start in life (a shopper in
BigCommerce, a clerk confirming in F&O) through the simulators' control planes, and the
people at the providers pick, pack, ship, invoice and bill there too; the summary is a
replay of the event topics.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from confluent_kafka import Producer

from devkit.demo_look import interactive, look_around
from devkit.desk_scenes import DeskScenes
from devkit.local_broker import LocalBroker, broker_answers
from devkit.scenarios import CommandFactory, journey_order
from devkit.world import World, drive_journeys, start_world, with_driver
from streams.adapters.command_bus import CommandBus
from streams.adapters.flow_definitions import publish_flows
from streams.adapters.flow_files import flow_paths, load_flows
from streams.adapters.kafka import create_topics, producer_config
from streams.bootstrap import Components, bootstrap
from streams.domain.order import OrderState
from streams.entrypoints.output import err, order_state, status_summary, timeline
from streams.services.replay import order_timeline, replay
from streams.shell.commands import with_settings
from streams.shell.settings import REPO_ROOT, Settings

TITLES = {
    1: "BigCommerce > F&O fulfillment > F&O accounting",
    2: "BigCommerce > Flexe fulfillment > F&O accounting",
    3: "F&O > Flexe fulfillment > F&O accounting",
    4: "F&O > F&O fulfillment > F&O accounting",
    5: "F&O > Flexe fulfillment > SAP accounting",
    6: "BigCommerce > DOM > F&O fulfillment > F&O accounting",
}
DESK = 0
"""The orders of the order-desk scenes (devkit/desk_scenes.py) in the summary."""


DEMO_DIR = REPO_ROOT / ".oms" / "demo"
"""The demo's working folder: ``logs/`` holds one log per process (JSON lines), kept after the run."""


def register(app: typer.Typer) -> None:
    app.command(
        "demo",
        help="Start a broker (if none answers), the writers, DOM, the four simulators and connectors, and "
        "run orders through all six journeys. Each process logs to .oms/demo/logs/; on a failure the "
        "last lines of the failing one are printed.",
    )(run)


def _port(bootstrap_servers: str) -> int:
    return int(bootstrap_servers.split(",")[0].rsplit(":", 1)[1])


@with_settings(Settings)
def run(
    settings: Settings,
    orders: Annotated[int, typer.Option(min=1, max=10_000, help="orders per journey")] = 5,
    timeout: Annotated[float, typer.Option(min=1, help="seconds an order may wait for its next step")] = 60.0,
    keep_broker: Annotated[bool, typer.Option(help="leave a broker the demo started running")] = False,
) -> int:
    c = bootstrap(settings)
    started: LocalBroker | None = None
    if not broker_answers(settings.bootstrap_servers):
        broker = LocalBroker(home=settings.kafka_home, port=_port(settings.bootstrap_servers))
        err(f"[1/6] no broker at {settings.bootstrap_servers}: starting a local Apache Kafka (KRaft)")
        broker.start()
        started = broker
    else:
        err(f"[1/6] using the broker at {settings.bootstrap_servers}")
    os.environ.setdefault("OMS_LOG_FORMAT", "json")  # every process's log: one jq filter follows an order
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    logs = DEMO_DIR / "logs"
    logs.mkdir(parents=True)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    world: World | None = None
    try:
        _prepare(c)
        _start_services(settings, logs, processes)
        wait_for_stock(c)
        run_id = time.strftime("%H%M%S")
        world = start_world(settings, DEMO_DIR, run_id=f"D{run_id}-", with_dom=False)
        err(
            "[4/6] "
            + ", ".join(f"{name} (pid {p.pid})" for name, p in {**processes, **world.processes}.items())
            + f"; logs in {logs}"
        )
        broker_stays = started is None or keep_broker
        writer = processes["order-writer"]
        code, sample = _drive(c, orders, timeout, writer, world, run_id, broker_stays or interactive())
        if code == 0 and interactive():
            look_around(_service_env(settings), DEMO_DIR, sample)
    except BaseException:
        show_failure(logs, {**processes, **(world.processes if world else {})})
        raise
    finally:
        if world is not None:
            world.stop()
        for process in processes.values():
            process.terminate()
            process.wait(30)
        if started is not None and not keep_broker:
            started.stop()
            err("broker stopped (use --keep-broker to keep it)")
    if code != 0:
        show_failure(logs, {**processes, **world.processes})
    return code


def _prepare(c: Components) -> None:
    created = create_topics(c.settings, c.topics)
    err(f"[2/6] topics ready ({len(created)} created, {c.topics.partitions} partitions each)")
    folder = REPO_ROOT / "flows"
    flows = load_flows(folder)
    names = [p.name for p in flow_paths(folder)]
    published = publish_flows(c.settings, c.topics, c.codec, list(zip(flows, names, strict=True)))
    err("[3/6] flows: " + ", ".join(f"{p.name} v{p.version}" for p in published))


def _service_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "OMS_LOG_FORMAT": "json",
        "OMS_METRICS_PORT": "0",
    }


def _start_services(settings: Settings, logs: Path, processes: dict[str, subprocess.Popen[bytes]]) -> None:
    """The order writer, and for journey 6 the inventory writer and DOM with the opening stock."""
    env = _service_env(settings)
    for name, command, instance in (
        ("order-writer", "writer", "writer-1"),
        ("inventory-writer", "inventory-writer", "inventory-1"),
        ("dom", "dom", "dom-1"),
    ):
        with (logs / f"{name}.log").open("wb") as out:
            processes[name] = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", command],
                env={**env, "OMS_INSTANCE_ID": instance},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
    subprocess.run(
        [sys.executable, "-m", "streams.cli", "inventory", "load"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def show_failure(logs: Path, processes: dict[str, subprocess.Popen[bytes]], lines: int = 25) -> None:
    """The last lines of each process that exited with an error, or else of each log with errors."""
    failed = [n for n, p in processes.items() if p.poll() not in (None, 0, -15)]
    if not failed:
        failed = [
            f.stem for f in sorted(logs.glob("*.log")) if '"level": "ERROR"' in f.read_text(errors="replace")
        ]
    for name in failed:
        log_file = logs / f"{name}.log"
        if not log_file.exists():
            continue
        tail = log_file.read_text(errors="replace").splitlines()[-lines:]
        code = processes[name].poll() if name in processes else None
        how = "running" if code is None else f"exited {code}"
        err(f"\n--- {name} ({how}): last lines of {log_file}")
        for line in tail:
            err(f"  {line}")


def _send_bad_input(c: Components, bus: CommandBus, prefix: str) -> str:
    """One order a critical validation stops, and one record nobody can decode: bad input is
    visible and loses nothing. The invalid order's id."""
    factory = CommandFactory(source="demo", start=datetime.now(UTC), step=timedelta(milliseconds=1))
    bad_id = f"{prefix}INVALID"
    bad = journey_order(1, factory, bad_id, random.Random(1))
    bus.send(bad.model_copy(update={"ship_to": bad.ship_to.model_copy(update={"country": "DE"})}))
    bus.flush()
    raw = Producer(producer_config(c.settings))  # acks=all, as every producer
    raw.produce(c.topics.commands, key=b"garbage", value=b"{not avro}")
    raw.flush(10)
    return bad_id


def _drive(
    c: Components,
    orders: int,
    timeout: float,
    writer: subprocess.Popen[bytes],
    world: World,
    run_id: str,
    broker_stays: bool,
) -> tuple[int, str]:
    """Drive the journeys; the exit code, and an order worth showing."""
    bus = CommandBus(c.settings, c.topics, c.codec)
    bad_id = _send_bad_input(c, bus, f"D{run_id}-")
    err(
        f"[5/6] driving {orders} orders per journey through the simulators' control planes "
        "(plus one invalid order and one undecodable record)"
    )
    began = time.monotonic()
    ids = drive_journeys(world, c.settings, orders, step_timeout=timeout)
    journeys = {order_id: j for j, order_ids in ids.items() for order_id in order_ids}
    journeys[bad_id] = 1
    err(
        "      the order desk: a cancel, an edit, a return with a replacement, a return made in "
        "BigCommerce, a preorder release"
    )
    desk = with_driver(
        world,
        c.settings,
        lambda driver: DeskScenes(driver, c.settings, bus, c.order_handling).play(ids[1][0]),
        step_timeout=timeout,
    )
    journeys.update({order_id: DESK for name, order_id in desk.items() if name != "return"})
    if writer.poll() is not None:
        err(f"the order writer exited with code {writer.returncode}")
        return 1, bad_id
    result = replay(c.settings, c.topics, c.codec)
    mine = {o: s for o, s in result.states.items() if o in journeys}
    done = sum(1 for s in mine.values() if _settled(s))
    err(
        f"[6/6] {len(ids) * orders} orders driven in {time.monotonic() - began:.1f}s; replayed "
        f"{result.events:,} events of {len(result.states):,} orders in {result.seconds:.2f}s"
    )
    samples = [ids[1][0], ids[6][0], bad_id, *(o for n, o in desk.items() if n != "return")]
    _summary(c, mine, journeys, samples, broker_stays)
    for order_id, why in world.notes.items():
        print(f"  {order_id}: {why}")
    scenes = [n for n in world.notes if n.startswith("desk:")]
    if scenes:
        print(f"\nFAILED: the order desk's {', '.join(scenes)} did not play to the end")
        return 1, ids[1][0]
    if done != len(journeys):
        print(f"\nFAILED: only {done}/{len(journeys)} orders settled")
        return 1, ids[1][0]
    return 0, ids[1][0]


def wait_for_stock(c: Components, timeout: float = 60.0) -> None:
    """DOM sources from what the inventory topics say: wait until the opening stock is there."""
    from streams.services.inventory import InventoryView
    from streams.services.sourcing_config import load_opening_stock

    want, view = len(load_opening_stock().entries()), InventoryView(c.settings, c.topics, c.codec)
    deadline = time.monotonic() + timeout
    while len(view.levels) < want and time.monotonic() < deadline:
        view.poll(0.2)
    view.close()


def _settled(state: OrderState) -> bool:
    if state.status == "On hold":
        return True
    return state.status in ("Completed", "Canceled") and not state.pending_actions


def _summary(
    c: Components,
    states: dict[str, OrderState],
    journeys: dict[str, int],
    samples: list[str],
    broker_stays: bool,
) -> None:
    by_journey: dict[int, Counter[tuple[str, str]]] = defaultdict(Counter)
    for order_id, state in states.items():
        by_journey[journeys[order_id]][(state.status, state.status_reason)] += 1
    print()
    for journey, title in TITLES.items():
        print(f"Journey {journey}: {title}")
        print(status_summary(by_journey[journey]))
    print(
        "Order desk: a cancel, an edit, a replacement (of a returned journey-1 order), "
        "a return made in BigCommerce, a preorder"
    )
    print(status_summary(by_journey[DESK]))
    for order_id in samples:
        found = order_timeline(c.settings, c.topics, c.codec, order_id)
        if found.state is not None:
            print()
            print(order_state(found.state))
            print("  timeline:")
            print(timeline(found.events))
    print("\nThe undecodable record went to oms.dead-letter with its reason.")
    if broker_stays:
        where = c.settings.bootstrap_servers
        print(f"`oms replay` and `oms show {samples[0]}` read the same history from {where}.")
    else:
        print(
            "The demo's broker stops now. Run `make demo` in a terminal to look around the "
            "dashboard afterwards, or pass --keep-broker to keep the history for `oms show`."
        )
