"""Brokers in Docker through testcontainers, for developers who have a Docker engine.

The integration tier's broker fixtures use these when ``OMS_TEST_BROKER=docker`` or
(``auto``, the default) when a Docker engine answers; with ``OMS_TEST_BROKER=local``, or no
engine, they use the local JVM broker and cluster of ``devkit.local_broker``:

* ``kafka_container()``: one ``apache/kafka`` KRaft node (the compose file's image). It
  runs on testcontainers' ``DockerContainer``, not its Kafka module's ``KafkaContainer``,
  whose start script is written for Confluent's ``cp-kafka`` image and does not run
  ``apache/kafka``.
* ``ComposeCluster``: docker-compose.yml's three brokers (``kafka-1..3``, published on
  127.0.0.1:9092/9094/9096) through testcontainers' ``DockerCompose``, with the fault
  injection the cluster tests use (``kill``, ``restart``, ``leader``, ``wait_in_sync``).

Untested on the project's machines: none has a Docker engine, so ``auto`` always picks the
local broker there. Everything here binds to loopback only.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path

from testcontainers.compose import DockerCompose
from testcontainers.core.container import DockerContainer
from testcontainers.core.docker_client import DockerClient
from testcontainers.core.waiting_utils import wait_for_logs

from devkit.local_broker import HOST, ClusterQueries, LocalBrokerError, broker_count

KAFKA_IMAGE = "apache/kafka:4.0.2"
"""The compose file's image: the version the local broker's pom pins."""
REPO_ROOT = Path(__file__).resolve().parent.parent
COMPOSE_PORTS = {1: 9092, 2: 9094, 3: 9096}
"""Node id -> the port docker-compose.yml publishes its HOST listener on."""


class BrokerChoice(StrEnum):
    """``OMS_TEST_BROKER``: where the integration tier gets its broker."""

    AUTO = "auto"
    DOCKER = "docker"
    LOCAL = "local"


def docker_answers(timeout: float = 3.0) -> bool:
    """Whether a Docker engine answers a ping (``DOCKER_HOST`` or the default socket)."""
    try:
        DockerClient(timeout=max(1, int(timeout))).client.ping()
    except Exception:  # no client config, no socket, no engine: all mean "no Docker"
        return False
    return True


def use_docker() -> bool:
    """Whether the broker fixtures should start their brokers in Docker."""
    choice = BrokerChoice(os.environ.get("OMS_TEST_BROKER", BrokerChoice.AUTO).strip().lower())
    if choice is BrokerChoice.AUTO:
        return docker_answers()
    return choice is BrokerChoice.DOCKER


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def kafka_container(image: str = KAFKA_IMAGE, timeout: float = 120) -> Iterator[str]:
    """One single-node KRaft broker, published on a free loopback port; yields its
    bootstrap servers and removes the container afterwards."""
    port = _free_port()
    container = DockerContainer(image).with_bind_ports(9092, f"{HOST}:{port}")
    env = {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": "PLAINTEXT://:9092,CONTROLLER://:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://{HOST}:{port}",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
        "KAFKA_NUM_PARTITIONS": "6",
    }
    for name, value in env.items():
        container.with_env(name, value)
    with container:
        wait_for_logs(container, "Kafka Server started", timeout=timeout)
        yield f"{HOST}:{port}"


class ComposeCluster(ClusterQueries):
    """docker-compose.yml's three brokers, as ``LocalCluster`` offers its nodes to the tests."""

    def __init__(self, context: Path = REPO_ROOT) -> None:
        self.compose = DockerCompose(
            context, "docker-compose.yml", services=[f"kafka-{n}" for n in COMPOSE_PORTS], wait=True
        )

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"{HOST}:{port}" for port in COMPOSE_PORTS.values())

    def start(self, timeout: float = 180) -> None:
        """``docker compose up`` of the brokers (waits for their health checks), then until
        every node sees all three as brokers."""
        self.compose.start()
        self._wait_brokers(time.monotonic() + timeout)

    def reset(self) -> None:
        """``docker compose down``: the brokers keep no data on a volume, so topics go too."""
        self.compose.stop(down=True)

    def kill(self, node_id: int) -> None:
        self._compose("kill", node_id)

    def restart(self, node_id: int, timeout: float = 60) -> None:
        self._compose("start", node_id)
        self._wait_brokers(time.monotonic() + timeout)

    def running_nodes(self) -> list[int]:
        running = {c.Service for c in self.compose.get_containers() if c.State == "running"}
        return [n for n in COMPOSE_PORTS if f"kafka-{n}" in running]

    def _compose(self, verb: str, node_id: int) -> None:
        self.compose._run_command([*self.compose.compose_command_property, verb, f"kafka-{node_id}"])

    def _wait_brokers(self, deadline: float) -> None:
        while True:
            seen = {n: broker_count(f"{HOST}:{port}") for n, port in COMPOSE_PORTS.items()}
            if all(count == len(COMPOSE_PORTS) for count in seen.values()):
                return
            if time.monotonic() > deadline:
                raise LocalBrokerError(f"the compose brokers do not all see each other: {seen}")
            time.sleep(0.5)
