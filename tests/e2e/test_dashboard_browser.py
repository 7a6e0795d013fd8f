"""A user's view: the writer and the API run as processes, journey-1 commands go in, and
headless Chromium watches the dashboard's order page reach "Completed / Fulfilled"."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

import pytest
from chromium_cdp import chromium_page
from oms_processes import free_port, oms, oms_env, wait_until_up

from devkit.scenarios import journey1_orders
from streams.adapters.command_bus import CommandBus
from streams.adapters.kafka import create_topics, delete_topics
from streams.bootstrap import bootstrap
from streams.settings import Settings

ORDERS = 3
SCREENSHOTS = Path("/tmp")

STATUS = "document.querySelector('[data-testid=order-status]')?.textContent"


def _send_journeys(settings: Settings) -> None:
    c = bootstrap(settings)
    bus = CommandBus(c.settings, c.topics, c.codec)
    for commands in journey1_orders(ORDERS):
        for command in commands:
            bus.send(command)
    bus.flush()


@pytest.mark.asyncio
async def test_an_order_appears_on_the_dashboard_and_reaches_completed_fulfilled(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, chromium: str
) -> None:
    settings = Settings(bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix, partitions=3)
    c = bootstrap(settings)
    create_topics(settings, c.topics)
    env = oms_env(kafka_bootstrap, topic_prefix, tmp_path / "state", OMS_INSTANCE_ID="e2e-writer")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    try:
        with (
            oms(["writer", "--log-level", "WARNING"], env, tmp_path / "writer.log"),
            oms(["api", "--port", str(port), "--log-level", "WARNING"], env, tmp_path / "api.log") as api,
        ):
            wait_until_up(f"{base}/healthz", api, tmp_path / "api.log")
            async with chromium_page(chromium, tmp_path / "chromium") as page:
                # The page is open before the order exists: it must appear live.
                await page.navigate(f"{base}/dashboard/orders/ORD-000001")
                await page.wait_for("!document.getElementById('order-missing').hidden")
                await page.wait_for("document.getElementById('conn').dataset.state === 'live'")

                await asyncio.to_thread(_send_journeys, settings)

                await page.wait_for(f"{STATUS} === 'Completed / Fulfilled'", timeout=90)
                await page.wait_for("document.querySelectorAll('#timeline li').length === 10")
                assert await page.evaluate("document.getElementById('order-id').textContent") == "ORD-000001"
                details = await page.evaluate("document.getElementById('order-details').innerText")
                assert "USMF" in details and "fno" in details
                lines = await page.evaluate("document.getElementById('order-lines').innerText")
                assert "Completed" in lines and "11" in lines
                await page.screenshot(SCREENSHOTS / "oms-e2e-order.png")

                # Time travel: clicking the sixth event shows the order as it was then.
                await page.evaluate("document.querySelector('#timeline li[data-seq=\"6\"]').click()")
                await page.wait_for(f"{STATUS} === 'Fulfillment in progress / Picked'")
                await page.screenshot(SCREENSHOTS / "oms-e2e-order-as-of.png")

                await page.navigate(f"{base}/dashboard/")
                await page.wait_for(f"document.getElementById('kpi-orders').textContent === '{ORDERS}'")
                await page.wait_for(
                    "document.querySelector('[data-status=\"Completed\"] .count')?.textContent === "
                    f"'{ORDERS}'"
                )
                await page.wait_for("document.querySelectorAll('#providers .provider').length === 1")
                await page.screenshot(SCREENSHOTS / "oms-e2e-overview.png")
                assert page.errors == []
            # The API's own counters moved with the orders it folded (the process shell's /metrics).
            with urllib.request.urlopen(f"{base}/metrics", timeout=5) as scraped:
                assert f'oms_orders{{status="Completed"}} {float(ORDERS)}' in scraped.read().decode()
    finally:
        delete_topics(settings, [c.topics.topic(s.name) for s in c.topics.specs()])
