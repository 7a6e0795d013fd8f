"""Journey 1 over HTTP: from the shop's webhook to the sales order in F&O, per hop.

``python -m bench.http_path`` runs the order writer and the dev world that ``make demo``
uses (``devkit.world``: the four provider simulators and the four connectors, each a
process of its own) on a real broker, then creates ``--rate`` BigCommerce orders a second
for ``--seconds`` through the BigCommerce simulator's control plane, as a shopper would.
Each order goes: the simulator's ``store/order/created`` webhook -> the BigCommerce
connector (which reads the order, its products and addresses from the BigCommerce API and
publishes ``CreateOrder``) -> the writer (validation, data assignment, the F&O request, in
one transaction) -> the F&O connector (a Faust agent) -> the F&O simulator's ``$batch``.

The moments (``bench.latency.Mark``) come from the simulators' own logs (when the webhook
was sent, when F&O took the sales order's header) and from the record timestamps of the
topics on the way; all are this machine's wall clock.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout

from bench import machine
from bench.broker import acquire
from bench.journeys import moments, start_processes
from bench.latency import HTTP_HOPS, Mark, summary
from bench.progress import say
from devkit.world import Driver, World, start_world, with_driver
from streams.adapters.flow_definitions import publish_flows
from streams.adapters.flow_files import load_flows
from streams.adapters.kafka import create_topics, delete_topics
from streams.bootstrap import Components, bootstrap
from streams.settings import REPO_ROOT, Settings

TARGET_MS = 250.0


def _epoch_ms(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp() * 1000


async def _get(http: ClientSession, url: str) -> Any:
    async with http.get(url) as reply:
        reply.raise_for_status()
        return await reply.json()


async def webhooks_sent(http: ClientSession, world: World) -> dict[str, float]:
    """Our order id -> when the BigCommerce simulator first tried to deliver its webhook."""
    url = f"{world.simulators['bigcommerce']}/_sim/deliveries?event_type=store/order/created"
    out: dict[str, float] = {}
    for delivery in (await _get(http, url))["deliveries"]:
        attempts = delivery["attempts"]
        if attempts:
            order_id = world.bigcommerce_order_id(delivery["payload"]["data"]["id"])
            out.setdefault(order_id, _epoch_ms(attempts[0]["at"]))
    return out


async def sales_orders_taken(http: ClientSession, world: World) -> dict[str, float]:
    """Our order id -> when the F&O simulator took its sales order header (first time)."""
    url = f"{world.simulators['fno']}/_sim/requests?method=POST&path=/data/SalesOrderHeadersV2"
    out: dict[str, float] = {}
    for entry in (await _get(http, url))["requests"]:
        body = entry.get("body")
        if isinstance(body, dict) and isinstance(body.get("CustomersOrderReference"), str):
            out.setdefault(body["CustomersOrderReference"], _epoch_ms(entry["at"]))
    return out


async def drive(
    driver: Driver, rate: float, seconds: float, timeout: float
) -> tuple[list[str], dict[str, float]]:
    """Create orders at ``rate`` for ``seconds``; their ids, and when F&O took each."""
    count = max(1, int(rate * seconds))
    began = time.monotonic()
    created: list[asyncio.Task[str]] = []
    for i in range(count):
        await asyncio.sleep(max(0.0, began + i / rate - time.monotonic()))
        created.append(asyncio.create_task(driver.bigcommerce_order(1)))
    ids = list(await asyncio.gather(*created))
    say(f"created {len(ids):,} BigCommerce orders in {time.monotonic() - began:.1f}s")
    deadline = time.monotonic() + timeout
    async with ClientSession(timeout=ClientTimeout(total=30)) as http:
        while True:
            taken = await sales_orders_taken(http, driver.world)
            if all(i in taken for i in ids) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
    return ids, taken


def measure(
    c: Components, world: World, tag: str, rate: float, seconds: float, warm: int
) -> dict[str, dict[Mark, float]]:
    """Warm up with ``warm`` orders, then the timed run; each timed order's moments."""

    async def play(driver: Driver) -> dict[str, dict[Mark, float]]:
        if warm:
            say(f"warming up: {warm} orders through the world")
            await drive(driver, max(1.0, rate), warm / max(1.0, rate), 120)
        say(f"timed run: {rate:g} orders/s for {seconds:g}s")
        ids, taken = await drive(driver, rate, seconds, 60)
        async with ClientSession(timeout=ClientTimeout(total=30)) as http:
            sent = await webhooks_sent(http, world)
        stream = moments(c, tag, {})
        out: dict[str, dict[Mark, float]] = {}
        for order_id in ids:
            marks = dict(stream.get(order_id, {}))
            if order_id in sent:
                marks[Mark.WEBHOOK] = sent[order_id]
            if order_id in taken:
                marks[Mark.AT_PROVIDER] = taken[order_id]
            out[order_id] = marks
        return out

    return with_driver(world, c.settings, play, step_timeout=60)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http_path", description=__doc__)
    parser.add_argument("--rate", type=float, default=10.0, help="orders per second (10)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the timed run (30)")
    parser.add_argument("--warm-up", type=int, default=10, help="orders before the timed run (10)")
    parser.add_argument("--bootstrap", default=None)
    args = parser.parse_args(argv)

    broker = acquire(args.bootstrap)
    run = f"bh{uuid.uuid4().hex[:6]}"
    workdir = Path(tempfile.mkdtemp(prefix="bench-http-"))
    c = bootstrap(Settings(bootstrap_servers=broker.bootstrap_servers, topic_prefix=f"{run}.", partitions=6))
    load_before = machine.load_average()
    world: World | None = None
    processes = []
    try:
        create_topics(c.settings, c.topics)
        flows = load_flows(REPO_ROOT / "flows")
        publish_flows(c.settings, c.topics, c.codec, [(f, f.name) for f in flows])
        processes = start_processes(c, workdir / "state", ["writer"])
        say("starting the world: four simulators, four connectors")
        world = start_world(c.settings, workdir, run_id=f"{run}-", with_dom=False)
        orders = measure(c, world, run, args.rate, args.seconds, args.warm_up)
    finally:
        if world is not None:
            world.stop()
        for p in processes:
            p.terminate()
        for p in processes:
            p.wait(30)
        delete_topics(c.settings, [c.topics.topic(s.name) for s in c.topics.specs()])
        broker.stop()

    print("\ncommand: python -m bench.http_path " + " ".join(sys.argv[1:]))
    for key, value in machine.facts(broker.version).items():
        print(f"  {key:<28} {value}")
    print(f"  {'load average before the run':<28} {load_before}")
    print(f"  {'load average after the run':<28} {machine.load_average()}")
    print(f"\njourney 1 over HTTP at {args.rate:g} orders/s for {args.seconds:g}s ({len(orders):,} orders):")
    hops = summary(orders, HTTP_HOPS)
    for hop, got in hops:
        print(f"    {hop.name:<56} {got.line()}")
    whole = hops[-1][1]
    if whole.count < len(orders):
        print(f"WARNING: {len(orders) - whole.count} orders did not reach F&O; logs in {workdir / 'logs'}")
    verdict = "met" if whole.count and whole.p99 <= TARGET_MS else "MISSED"
    print(f"\ntarget: end-to-end p99 <= {TARGET_MS:.0f} ms over HTTP: {verdict} ({whole.p99:.1f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
