"""Connector processes on the real broker, for the integration tests: the simulators and
connectors as processes, provider action requests as the order writer publishes them, and
what comes back on ``order.commands``."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from confluent_kafka import Consumer, Producer
from waits import alive, answers, wait_for

from devkit.scenarios import CommandFactory, journey_order
from devkit.webhook_front import Spread
from devkit.world import free_port
from streams.adapters.kafka import consumer_config, producer_config
from streams.bootstrap import Components
from streams.domain.commands import Command, ProviderActionRequest, RecordActionResult
from streams.domain.decider import decide
from streams.domain.order import evolve
from streams.settings import REPO_ROOT


def action_request(
    c: Components, provider: str, action: str, order_id: str, journey: int
) -> ProviderActionRequest:
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
        order=state.snapshot(),
    )


def send_requests(c: Components, requests: list[ProviderActionRequest], transactional: bool = False) -> None:
    """Publish requests; ``transactional`` as the order writer does (one transaction each,
    so each ends with a commit marker)."""
    extra = {"transactional.id": f"it-writer-{uuid.uuid4().hex}"} if transactional else {}
    producer = Producer(producer_config(c.settings, **extra))
    if transactional:
        producer.init_transactions(30)
    for r in requests:
        if transactional:
            producer.begin_transaction()
        producer.produce(
            c.topics.provider_requests(r.provider), key=r.order_id.encode(), value=c.codec.encode(r)
        )
        if transactional:
            producer.commit_transaction(30)
    producer.flush(10)


def read_commands(
    c: Components,
    wanted: set[str],
    key: Callable[[Command], str | None],
    timeout: float = 60.0,
    linger: float = 2.0,
) -> dict[str, list[tuple[int, Command]]]:
    """``key(command)`` -> [(partition, command)] of the commands on order.commands that have
    a key, read until each of ``wanted`` has one and then ``linger`` seconds more (for
    commands that should not come)."""
    consumer = Consumer(consumer_config(c.settings, f"{c.topics.prefix}it-{uuid.uuid4().hex}"))
    consumer.subscribe([c.topics.commands])
    found: dict[str, list[tuple[int, Command]]] = {}
    deadline = time.monotonic() + timeout
    complete_at: float | None = None
    try:
        while complete_at is None or time.monotonic() < complete_at + linger:
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing for {sorted(wanted - found.keys())} within {timeout}s")
            for msg in consumer.consume(100, 0.2):
                if msg.error() is None:
                    command = c.codec.decode(msg.value() or b"")
                    name = key(command) if isinstance(command, Command) else None
                    if name is not None:
                        found.setdefault(name, []).append((msg.partition() or 0, command))
            if complete_at is None and wanted <= found.keys():
                complete_at = time.monotonic()
    finally:
        consumer.close()
    return found


def read_answers(
    c: Components, wanted: set[str], timeout: float = 60.0, linger: float = 2.0
) -> dict[str, list[tuple[int, RecordActionResult]]]:
    """action id -> [(partition, answer)]: ``read_commands`` of the action results."""

    def action(command: Command) -> str | None:
        return command.action_id if isinstance(command, RecordActionResult) else None

    found = read_commands(c, wanted, action, timeout, linger)
    return {a: [(p, r) for p, r in got if isinstance(r, RecordActionResult)] for a, got in found.items()}


def call(url: str, body: Any = None, method: str | None = None) -> Any:
    """A JSON call to a simulator's or the front's control plane (POST when there is a body)."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    request = urllib.request.Request(url, data, headers, method=method)
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.loads(reply.read() or b"null")


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    wait_for(f"{url} up", lambda: answers(url), timeout, check=alive(process))


def connector_env(c: Components, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": c.settings.bootstrap_servers,
        "OMS_TOPIC_PREFIX": c.topics.prefix,
        "OMS_PARTITIONS": "3",
        **extra,
    }


@dataclass
class FlexeRig:
    """The Flexe simulator and the connector processes of a test, stopped at its end."""

    sim_url: str
    env: dict[str, str]
    workdir: Path
    log: IO[bytes]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    ports: dict[int, int] = field(default_factory=dict)
    """instance number -> its webhook port (kept across restarts)."""

    def start_connector(self, instance: int = 1) -> subprocess.Popen[bytes]:
        """Instance ``instance`` of the Flexe connector, in the connector's consumer group."""
        port = self.ports.setdefault(instance, free_port())
        argv = ["connectors.flexe", "--port", str(port), "--instance-id", str(instance)]
        connector = self.start([*argv, "--state-dir", str(self.workdir / f"state-{instance}")])
        wait_http(f"http://127.0.0.1:{port}/health", connector)
        return connector

    def start_front(self, spread: Spread = Spread.ALL) -> subprocess.Popen[bytes]:
        """A webhook front before every instance started so far; Flexe now calls it."""
        port = free_port()
        instances = ",".join(f"http://127.0.0.1:{p}" for p in self.ports.values())
        argv = ["devkit.webhook_front", "--port", str(port), "--spread", spread.value]
        front = self.start([*argv, "--route", f"/webhooks/flexe={instances}"])
        wait_http(f"http://127.0.0.1:{port}/_front/health", front)
        call(f"{self.sim_url}/_sim/config", {"webhook_url": f"http://127.0.0.1:{port}/webhooks/flexe"}, "PUT")
        return front

    def start(self, argv: list[str]) -> subprocess.Popen[bytes]:
        """``python -m ARGV`` in the rig's environment, logging to its log."""
        process = subprocess.Popen(
            [sys.executable, "-m", *argv],
            env=self.env,
            cwd=REPO_ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process


@contextmanager
def flexe_rig(c: Components, tmp_path: Path) -> Iterator[FlexeRig]:
    sim_port = free_port()
    with (tmp_path / "processes.log").open("wb") as log:
        env = connector_env(
            c,
            FLEXE_API_TOKEN="sim-flexe-token",
            FLEXE_OWNER_ID="sim-owner",
            FLEXE_API_URL=f"http://127.0.0.1:{sim_port}",
        )
        rig = FlexeRig(f"http://127.0.0.1:{sim_port}", env, tmp_path, log)
        sim = rig.start(["simulators.flexe", "--port", str(sim_port), "--log-level", "WARNING"])
        try:
            wait_http(f"{rig.sim_url}/_sim/health", sim)
            yield rig
        finally:
            for process in rig.processes:
                process.terminate()
            for process in rig.processes:
                process.wait(20)
