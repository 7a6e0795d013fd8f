"""``oms api`` as its own process on the real broker: read-your-writes and the token over
real HTTP, and a SIGKILL in the middle of folding that loses and doubles nothing."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from waits import alive, answers, wait_for

from devkit.scenarios import journey1_orders
from streams.adapters.command_bus import CommandBus
from streams.adapters.kafka import create_topics, delete_topics, partition_for, producer_config
from streams.bootstrap import Components, bootstrap
from streams.domain.decider import decide
from streams.domain.order import evolve
from streams.settings import Settings


def _components(bootstrap_servers: str, prefix: str) -> Components:
    c = bootstrap(Settings(bootstrap_servers=bootstrap_servers, topic_prefix=prefix, partitions=3))
    create_topics(c.settings, c.topics)
    return c


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def _oms(
    c: Components, args: list[str], state: Path, log: Path, **env: str
) -> Iterator[subprocess.Popen[bytes]]:
    environment = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": c.settings.bootstrap_servers,
        "OMS_TOPIC_PREFIX": c.settings.topic_prefix,
        "OMS_PARTITIONS": str(c.settings.partitions),
        "OMS_STATE_DIR": str(state),
        **env,
    }
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", *args], env=environment, stdout=out, stderr=out
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(30)


def _get(url: str, token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=40) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _wait_up(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    wait_for(f"{base} up", lambda: answers(f"{base}/healthz"), 60, check=alive(process, log=log))


def test_read_your_writes_and_the_token_over_real_http(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    c = _components(kafka_bootstrap, topic_prefix)
    base = f"http://127.0.0.1:{(port := _port())}"
    log = tmp_path / "oms.log"
    try:
        with (
            _oms(c, ["writer", "--log-level", "WARNING"], tmp_path / "state", log, OMS_INSTANCE_ID="api-it"),
            _oms(c, ["api", "--port", str(port)], tmp_path / "state", log, OMS_API_TOKEN="t0k3n") as api,
        ):
            _wait_up(base, api, log)
            bus = CommandBus(c.settings, c.topics, c.codec)
            for command in next(iter(journey1_orders(1))):
                bus.send(command)
            bus.flush()

            status, order = _get(f"{base}/orders/ORD-000001?min_version=10&wait=30", "t0k3n")
            assert status == 200, order
            assert (order["version"], order["status"], order["status_reason"]) == (
                10,
                "Completed",
                "Fulfilled",
            )
            assert _get(f"{base}/orders/ORD-000001")[0] == 401
            status, page = _get(f"{base}/orders?external_ref=bigcommerce:100", "t0k3n")
            assert [o["order_id"] for o in page["orders"]] == ["ORD-000001"]
            status, history = _get(f"{base}/orders/ORD-000001/history", "t0k3n")
            assert [e["topic"] for e in history["events"]][-2:] == [
                "order.invoiced",
                "channel.status-updated",
            ]
            # probes carry no token; caught up once the fold idles
            wait_for("ready", lambda: answers(f"{base}/ready"), 30)
            assert _get(f"{base}/ready")[1]["ready"] is True
            with urllib.request.urlopen(f"{base}/metrics", timeout=5) as scraped:
                assert 'oms_orders{status="Completed"} 1.0' in scraped.read().decode()
    finally:
        delete_topics(c.settings, [c.topics.topic(s.name) for s in c.topics.specs()])


def _produce_journeys(c: Components, orders: int) -> int:
    """Journey-1 events appended straight to the event topics (the writer's output)."""
    producer = Producer(producer_config(c.settings, **{"linger.ms": 50}))
    n = 0
    for commands in journey1_orders(orders):
        state = None
        for command in commands:
            for event in decide(command, state, c.transitions):
                state = evolve(state, event)
                key = event.envelope.order_id
                while True:
                    try:
                        producer.produce(
                            c.topics.event_topic(type(event)),
                            key=key.encode(),
                            value=c.codec.encode(event),
                            partition=partition_for(key, c.topics.partitions),
                        )
                        break
                    except BufferError:
                        producer.poll(0.1)
                n += 1
    producer.flush(30)
    return n


def test_killed_while_folding_the_api_resumes_with_exact_counts(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    c = _components(kafka_bootstrap, topic_prefix)
    orders = 3000
    total = _produce_journeys(c, orders)
    log = tmp_path / "api.log"
    try:
        port = _port()
        base = f"http://127.0.0.1:{port}"
        with _oms(c, ["api", "--port", str(port), "--rebuild"], tmp_path / "state", log) as api:
            _wait_up(base, api, log)
            killed_at = wait_for("events folded", lambda: _get(f"{base}/stats")[1]["events"], 60, every=0.01)
            api.send_signal(signal.SIGKILL)
            api.wait(10)
        assert killed_at < total, "the fold finished before the kill; raise the order count"

        with _oms(c, ["api", "--port", str(port)], tmp_path / "state", log) as api:
            _wait_up(base, api, log)
            stats = wait_for(
                "caught up", lambda: (s := _get(f"{base}/stats")[1])["caught_up"] and s, 120, every=0.2
            )

        assert (stats["orders"], stats["events"], stats["duplicates"], stats["waiting"]) == (
            orders,
            total,
            0,
            {},
        )
        assert stats["by_status"] == [{"status": "Completed", "reason": "Fulfilled", "orders": orders}]
    finally:
        delete_topics(c.settings, [c.topics.topic(s.name) for s in c.topics.specs()])


def test_with_two_shards_the_api_rebuilds_in_processes_then_serves_and_resumes_from_the_shards(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    c = _components(kafka_bootstrap, topic_prefix)
    orders = 600
    total = _produce_journeys(c, orders)
    log = tmp_path / "api.log"
    state = tmp_path / "state"
    try:
        port = _port()
        base = f"http://127.0.0.1:{port}"
        for args in (["--rebuild"], []):  # then restarted: its shards are caught up, no workers
            with _oms(c, ["api", "--port", str(port), "--shards", "2", *args], state, log) as api:
                wait_for("serving", lambda: answers(f"{base}/openapi.json"), 120, check=alive(api, log=log))
                stats = wait_for(
                    "caught up", lambda: (s := _get(f"{base}/stats")[1])["caught_up"] and s, 60, every=0.2
                )
                assert (stats["orders"], stats["events"], stats["duplicates"], stats["waiting"]) == (
                    orders,
                    total,
                    0,
                    {},
                )
                status, order = _get(f"{base}/orders/ORD-000042")
                assert (status, order["version"], order["status"]) == (200, 10, "Completed")
                _, page = _get(f"{base}/orders?limit=5&status=Completed")
                assert [o["order_id"] for o in page["orders"]] == [f"ORD-{i:06d}" for i in range(1, 6)]
        assert sorted(p.name for p in (state / "projection-default-shards").iterdir()) == [
            "shard-0-of-2",
            "shard-1-of-2",
        ]
        assert "folding projection 'default' in 2 processes" in log.read_text()
        assert log.read_text().count("folding projection") == 1
    finally:
        delete_topics(c.settings, [c.topics.topic(s.name) for s in c.topics.specs()])
