"""The broker a test session talks to: one way for every tier's ``kafka_bootstrap`` fixture.

In order: the broker named by KAFKA_BOOTSTRAP_SERVERS when it answers; a Docker broker
(``apache/kafka`` through testcontainers) when a Docker engine answers or
``OMS_TEST_BROKER=docker`` asks; the local JVM broker on 127.0.0.1:39092 when one runs
there (``oms broker start --port 39092``: not the session's to stop); else a local broker
started for the session and stopped at its end.

39092 lies inside Linux's ephemeral port range (32768-60999), so any outgoing connection
on the machine may hold it for a while (a CI run once found it taken). Then the session's
broker moves to a free pair of ports below that range instead of failing every test, and
says where it went and what held the port.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator

from devkit.docker_brokers import kafka_container, use_docker
from devkit.local_broker import LocalBroker, broker_answers, port_in_use
from streams.settings import Settings

TEST_BROKER_PORT = 39092
"""The tests' broker port (not 9092, so a developer's own broker and topics are left alone)."""

FALLBACK_PORTS = range(28092, 29092, 2)
"""Where the session's broker goes when 39092 is taken: below the ephemeral range
and apart from the cluster tests' 29192-29197."""


@contextlib.contextmanager
def session_kafka() -> Iterator[str]:
    """The bootstrap servers of a broker that answers, started for the session if need be."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if external and broker_answers(external, timeout=5.0):
        yield external
        return
    if use_docker():
        with kafka_container() as bootstrap_servers:
            yield bootstrap_servers
        return
    home = Settings.from_env().kafka_home
    broker = LocalBroker(home=home, port=TEST_BROKER_PORT)
    if broker.is_running() or broker_answers(broker.bootstrap_servers):
        if broker.is_running():
            broker.start()  # returns at once, or waits while it is still starting
        yield broker.bootstrap_servers
        return
    if _taken(TEST_BROKER_PORT):
        broker = LocalBroker(home=home, port=_free_pair())
        _say_moved(broker.port)
    broker.start(timeout=120)  # the first run also fetches the jars (~1 min)
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()


def session_broker_port(bootstrap_servers: str) -> int:
    """The port of a session's ``host:port`` bootstrap string (the first server)."""
    return int(bootstrap_servers.split(",")[0].rsplit(":", 1)[1])


def _taken(port: int) -> bool:
    """The broker's port or its controller's (port + 1) is held by something else."""
    return port_in_use(port) or port_in_use(port + 1)


def _free_pair() -> int:
    for port in FALLBACK_PORTS:
        if not _taken(port):
            return port
    raise RuntimeError(f"no free pair of ports for a test broker in {FALLBACK_PORTS}")


def _say_moved(port: int) -> None:
    holders = _holders(TEST_BROKER_PORT)
    print(
        f"127.0.0.1:{TEST_BROKER_PORT} (or its controller port) is held by something that is "
        f"not a Kafka broker{holders}; this session's broker uses 127.0.0.1:{port} instead",
        file=sys.stderr,
        flush=True,
    )


def _holders(port: int) -> str:
    """What ``ss`` says holds the port, for the message (empty when ss is missing)."""
    try:
        out = subprocess.run(
            ["ss", "-Htanp", f"( sport = :{port} or sport = :{port + 1} )"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return f" ({'; '.join(out.splitlines()[:3])})" if out else ""
