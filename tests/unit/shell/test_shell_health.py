"""The three routes every process serves, on both servers (threaded and aiohttp)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from streams.shell import metrics
from streams.shell.health import Check, HealthServer, Readiness, add_routes


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read()


def test_ready_only_when_every_declared_check_holds() -> None:
    readiness = Readiness([Check.BROKER, Check.ASSIGNED])
    readiness.set(Check.BROKER, True, "127.0.0.1:9092")
    assert not readiness.ready
    readiness.set(Check.ASSIGNED, True, "3 partitions")
    assert readiness.ready
    readiness.set(Check.BROKER, False, "unreachable")
    report = readiness.report()
    assert report["ready"] is False
    assert report["checks"]["broker"] == {"ok": False, "detail": "unreachable"}


def test_threaded_server_serves_metrics_health_and_ready() -> None:
    readiness = Readiness([Check.CAUGHT_UP])
    server = HealthServer("127.0.0.1", 0, readiness).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        metrics.COMMANDS.labels(command="CreateOrder", outcome=metrics.CommandOutcome.APPENDED).inc()
        status, body = _get(f"{base}/metrics")
        assert status == 200
        assert b'oms_commands_total{command="CreateOrder",outcome="appended"}' in body
        assert _get(f"{base}/health")[0] == 200
        status, body = _get(f"{base}/ready")
        assert (status, json.loads(body)["ready"]) == (503, False)
        readiness.set(Check.CAUGHT_UP, True)
        assert _get(f"{base}/ready")[0] == 200
        assert _get(f"{base}/nothing")[0] == 404
    finally:
        server.close()


@pytest.mark.asyncio
async def test_aiohttp_routes_answer_the_same() -> None:
    readiness = Readiness([Check.SERVING])
    app = web.Application()
    add_routes(app, readiness)
    async with TestClient(TestServer(app)) as client:
        scraped = await client.get("/metrics")
        assert scraped.status == 200
        assert "oms_webhooks_total" in await scraped.text()
        assert (await client.get("/health")).status == 200
        assert (await client.get("/ready")).status == 503
        readiness.set(Check.SERVING, True, "listening")
        answer = await client.get("/ready")
        assert answer.status == 200
        assert (await answer.json())["checks"]["serving"]["detail"] == "listening"
