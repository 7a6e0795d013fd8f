"""A user's view: the writer and the API run as processes, journey-1 commands go in, and
headless Chromium watches the dashboard's order page reach "Completed / Fulfilled"; and,
with the shipped flows and stand-in providers (F&O failing), the operations panels: the
charts render with data, errors and alerts show, a provider is paused and resumed. The
screenshot stays in tests/e2e/artifacts/ (and seeds docs/dashboard.png for the README)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from chromium_cdp import chromium_page
from oms_processes import free_port, oms, oms_env, wait_until_up

from devkit.scenarios import CommandFactory, journey1_orders, journey_order
from streams.adapters.command_bus import CommandBus
from streams.adapters.flow_definitions import publish_flows
from streams.adapters.flow_files import flow_paths, load_flows
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


ARTIFACTS = Path(__file__).parent / "artifacts"
README_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"
ALERT_RULES = """
default_promise_hours: 72
rules:
  - {name: on-hold-briefly, kind: on_hold_longer_than, hours: 0.0005}
  - {name: provider-failing, kind: provider_failure_rate, percent: 20, window_minutes: 15, min_requests: 2}
"""


def _send_flow_orders(settings: Settings, per_journey: int) -> None:
    """New orders the shipped flows take: journeys 1 to 5, ``per_journey`` each."""
    c = bootstrap(settings)
    bus = CommandBus(c.settings, c.topics, c.codec)
    factory = CommandFactory(source="e2e", start=datetime.now(UTC))
    for journey in range(1, 6):
        for n in range(per_journey):
            bus.send(
                journey_order(journey, factory, f"J{journey}-{n}", random.Random(n), ref=100 * journey + n)
            )
    bus.flush()


def _chart_points(canvas: str) -> str:
    return (
        f"Number(document.getElementById('{canvas}').dataset.points || 0) > 0 && !!Chart.getChart('{canvas}')"
    )


@pytest.mark.asyncio
async def test_the_operations_charts_render_with_data_and_errors_alerts_and_pauses_show(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, chromium: str
) -> None:
    settings = Settings(bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix, partitions=3)
    c = bootstrap(settings)
    create_topics(settings, c.topics)
    folder = Path(__file__).resolve().parents[2] / "flows"
    publish_flows(
        settings,
        c.topics,
        c.codec,
        [(f, p.name) for f, p in zip(load_flows(folder), flow_paths(folder), strict=True)],
    )
    rules = tmp_path / "alerts.yaml"
    rules.write_text(ALERT_RULES)
    env = oms_env(
        kafka_bootstrap,
        topic_prefix,
        tmp_path / "state",
        OMS_INSTANCE_ID="e2e-ops-writer",
        OMS_ALERT_RULES=str(rules),
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    fakes = [sys.executable, "-m", "devkit.fake_providers", "--fail", "fno:send_to_fulfillment:8"]
    try:
        with (
            oms(["writer", "--log-level", "WARNING"], env, tmp_path / "writer.log"),
            oms(["api", "--port", str(port), "--log-level", "WARNING"], env, tmp_path / "api.log") as api,
            _process(fakes, env, tmp_path / "fakes.log"),
        ):
            wait_until_up(f"{base}/healthz", api, tmp_path / "api.log")
            await asyncio.to_thread(_send_flow_orders, settings, 2)
            async with chromium_page(chromium, tmp_path / "chromium", height=1900) as page:
                await page.navigate(f"{base}/dashboard/")
                await page.wait_for("document.body.dataset.operations === 'ready'")
                for canvas in ("chart-status", "chart-latency", "chart-sla", "chart-steps"):
                    await page.wait_for(_chart_points(canvas), timeout=90)
                # F&O refuses journey 1's orders past their retries: provider action errors,
                # the orders held, alerts for both
                await page.wait_for(
                    "document.querySelectorAll('#error-table tr[data-error]').length >= 2", timeout=90
                )
                await page.wait_for(
                    "!!document.querySelector('#alerts li[data-alert^=\"on-hold-briefly:\"]')", timeout=60
                )
                await page.wait_for(
                    "!!document.querySelector('#alerts li[data-alert=\"provider-failing:fno\"]')", timeout=60
                )
                text = await page.evaluate("document.getElementById('error-table').innerText")
                assert "provider action" in text and "HTTP 503" in text

                await page.evaluate("document.getElementById('pause-name').value = 'sap'")
                await page.evaluate("document.querySelector('#pause-form button').click()")
                await page.wait_for("!!document.querySelector('#pauses li[data-paused=\"provider:sap\"]')")
                ARTIFACTS.mkdir(exist_ok=True)
                shot = await page.screenshot(ARTIFACTS / "dashboard.png")
                if not README_SCREENSHOT.exists():
                    README_SCREENSHOT.parent.mkdir(exist_ok=True)
                    README_SCREENSHOT.write_bytes(shot.read_bytes())
                await page.evaluate(
                    "document.querySelector('#pauses li[data-paused=\"provider:sap\"] button').click()"
                )
                await page.wait_for("!document.querySelector('#pauses li[data-paused]')")
                assert page.errors == []
    finally:
        delete_topics(settings, [c.topics.topic(s.name) for s in c.topics.specs()])


@contextlib.contextmanager
def _process(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            process.terminate()
            process.wait(30)
