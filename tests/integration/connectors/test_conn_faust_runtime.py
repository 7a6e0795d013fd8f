"""A connector process on the real broker: its Faust agent consumes only its provider's
request topic, answers on ``order.commands`` in the order's partition, commits what it
answered, and after a SIGKILL answers what was left without a second order at the
provider. Also the DOM stand-in, which answers DOM's topic only."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer

from devkit.scenarios import CommandFactory, journey_order
from devkit.world import free_port
from streams.adapters.kafka import (
    admin,
    consumer_config,
    create_topics,
    delete_topics,
    partition_for,
    producer_config,
)
from streams.bootstrap import Components, bootstrap
from streams.domain.commands import ProviderActionRequest, RecordActionResult
from streams.domain.decider import decide
from streams.domain.order import OrderState, evolve
from streams.settings import REPO_ROOT, Settings


@pytest.fixture
def oms(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> Iterator[Components]:
    settings = Settings(
        bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix, partitions=3, state_dir=tmp_path
    )
    c = bootstrap(settings)
    create_topics(settings, c.topics)
    yield c
    delete_topics(
        settings, [t for t in admin(settings).list_topics(timeout=30).topics if t.startswith(topic_prefix)]
    )


def _request(c: Components, provider: str, action: str, order_id: str, journey: int) -> ProviderActionRequest:
    state = evolve(
        None, decide(journey_order(journey, CommandFactory(), order_id, random.Random(1)), None)[0]
    )
    now = datetime.now(UTC)
    return ProviderActionRequest(
        action_id=f"{order_id}/{action}/1",
        order_id=order_id,
        provider=provider,
        action=action,
        step="step",
        attempt=1,
        not_before=now,
        deadline=now + timedelta(seconds=60),
        correlation_id=f"it/{order_id}",
        order_json=state.model_dump_json(),
    )


def _send(c: Components, requests: list[ProviderActionRequest]) -> None:
    producer = Producer(producer_config(c.settings))
    for r in requests:
        producer.produce(
            c.topics.provider_requests(r.provider), key=r.order_id.encode(), value=c.codec.encode(r)
        )
    producer.flush(10)


def _answers(
    c: Components, wanted: set[str], timeout: float = 60.0, linger: float = 2.0
) -> dict[str, list[tuple[int, RecordActionResult]]]:
    """action id -> [(partition, answer)] of every answer on order.commands, read until each
    of ``wanted`` has one and then ``linger`` seconds more (for answers that should not come)."""
    consumer = Consumer(consumer_config(c.settings, f"{c.topics.prefix}it-{uuid.uuid4().hex}"))
    consumer.subscribe([c.topics.commands])
    found: dict[str, list[tuple[int, RecordActionResult]]] = {}
    deadline = time.monotonic() + timeout
    complete_at: float | None = None
    try:
        while complete_at is None or time.monotonic() < complete_at + linger:
            if time.monotonic() > deadline:
                raise AssertionError(f"no answer to {sorted(wanted - found.keys())} within {timeout}s")
            for msg in consumer.consume(100, 0.2):
                if msg.error() is None:
                    command = c.codec.decode(msg.value() or b"")
                    if isinstance(command, RecordActionResult):
                        found.setdefault(command.action_id, []).append((msg.partition() or 0, command))
            if complete_at is None and wanted <= found.keys():
                complete_at = time.monotonic()
    finally:
        consumer.close()
    return found


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return json.loads(reply.read())


def _wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, f"{process.args!r} exited with {process.returncode}"
        try:
            with urllib.request.urlopen(url, timeout=1) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"{url} did not come up"
        time.sleep(0.2)


def _env(c: Components, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": c.settings.bootstrap_servers,
        "OMS_TOPIC_PREFIX": c.topics.prefix,
        "OMS_PARTITIONS": "3",
        **extra,
    }


def test_the_flexe_connector_answers_its_requests_and_survives_a_kill_without_a_second_order(
    oms: Components, tmp_path: Path
) -> None:
    sim_port, port = free_port(), free_port()
    log = (tmp_path / "processes.log").open("wb")
    sim = subprocess.Popen(
        [sys.executable, "-m", "simulators.flexe", "--port", str(sim_port), "--log-level", "WARNING"],
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    env = _env(
        oms,
        FLEXE_API_TOKEN="sim-flexe-token",
        FLEXE_OWNER_ID="sim-owner",
        FLEXE_API_URL=f"http://127.0.0.1:{sim_port}",
    )
    argv = [
        sys.executable,
        "-m",
        "connectors.flexe",
        "--port",
        str(port),
        "--state-dir",
        str(tmp_path / "state"),
    ]
    processes = [sim]
    try:
        connector = subprocess.Popen(argv, env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        processes.append(connector)
        _wait_http(f"http://127.0.0.1:{sim_port}/_sim/health", sim)
        _wait_http(f"http://127.0.0.1:{port}/health", connector)
        first = [_request(oms, "flexe", "send_to_fulfillment", f"IT-{n}", 2) for n in range(6)]
        # Not Flexe's: another provider's topic, which this connector must leave alone.
        _send(oms, [*first, _request(oms, "sap", "send_to_billing", "IT-SAP", 5)])
        answered = _answers(oms, {r.action_id for r in first})

        connector.send_signal(signal.SIGKILL)
        connector.wait(10)
        second = [_request(oms, "flexe", "send_to_fulfillment", f"IT-{n}", 2) for n in range(6, 10)]
        _send(oms, second)
        connector = subprocess.Popen(argv, env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        processes.append(connector)
        answered = _answers(oms, {r.action_id for r in first + second})
        outbound = _get_json(f"http://127.0.0.1:{sim_port}/_sim/outbound_orders")["outbound_orders"]
        connector.send_signal(signal.SIGTERM)
        stopped = connector.wait(timeout=5)  # SIGTERM stops a connector within 5 s, cleanly
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(20)
        log.close()

    assert stopped == 0
    assert "IT-SAP/send_to_billing/1" not in answered
    for r in first + second:
        partitions = {p for p, _ in answered[r.action_id]}
        assert partitions == {partition_for(r.order_id, 3)}
        assert all(a.success for _, a in answered[r.action_id])
    # A request answered but not yet committed at the kill is answered again: Flexe still has one order.
    assert sorted(o["externalId"] for o in outbound) == sorted(r.order_id for r in first + second)


def test_the_dom_stand_in_answers_doms_topic_only(oms: Components, tmp_path: Path) -> None:
    log = (tmp_path / "stand-in.log").open("wb")
    stand_in = subprocess.Popen(
        [sys.executable, "-m", "devkit.stand_in", "--provider", "dom"],
        env=_env(oms),
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        dom = _request(oms, "dom", "send_to_fulfillment_optimization", "IT-DOM", 6)
        _send(oms, [dom, _request(oms, "fno", "send_to_billing", "IT-FNO", 6)])
        answered = _answers(oms, {dom.action_id})
    finally:
        stand_in.terminate()
        stand_in.wait(20)
        log.close()

    [(_, result)] = answered[dom.action_id]
    lines = OrderState.model_validate_json(dom.order_json).lines
    assert result.success and result.data == {f"warehouse.{line.line_id}": "11" for line in lines}
    assert "IT-FNO/send_to_billing/1" not in answered
