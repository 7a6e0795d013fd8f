"""``oms broker``: a local Kafka broker (or a 3-node cluster) for development, without Docker."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from devkit.local_broker import LocalBroker, LocalBrokerError, LocalCluster, LocalKafka
from streams.shell.settings import Settings
from streams.shell.state import clear_state

LOCAL_HOSTS = {"127.0.0.1", "localhost"}
DEFAULT_PORT = 9092


def default_port(bootstrap_servers: str) -> int:
    """The port of KAFKA_BOOTSTRAP_SERVERS when it names this machine, so the two agree."""
    first = bootstrap_servers.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    if host in LOCAL_HOSTS and port.isdigit():
        return int(port)
    return DEFAULT_PORT


Port = Annotated[
    int | None,
    typer.Option(
        min=1,
        max=65534,
        show_default=False,
        help="broker port on 127.0.0.1; the controller uses port+1 (default: the port of "
        "KAFKA_BOOTSTRAP_SERVERS if it is a 127.0.0.1/localhost address, else 9092)",
    ),
]
Nodes = Annotated[
    int | None,
    typer.Option(
        min=1,
        show_default=False,
        help="a KRaft cluster of this many combined broker+controller nodes; node n uses "
        "port+2(n-1) and its controller the port after (topics get 3 replicas, 2 in sync). "
        "Default: the cluster that runs or ran on --port (for start, only one that runs); "
        "else 1, the single broker",
    ),
]
Home = Annotated[
    Path | None,
    typer.Option(
        file_okay=False,
        show_default=False,
        help="cache root for the jars and each port's data and logs "
        "(OMS_KAFKA_HOME; default ~/.cache/kafka-iom)",
    ),
]


def register(app: typer.Typer) -> None:
    broker = typer.Typer(
        help="Manage a single-node KRaft Kafka broker on 127.0.0.1 for development, tests and the "
        "demo, or with --nodes N a cluster of N nodes (no Docker needed). The jars are fetched once "
        "from Maven Central with mvn (needs Java 17+ and Maven); jars, data and logs live under --home.",
        no_args_is_help=True,
    )
    broker.command(
        "fetch",
        help="Download the Kafka broker jars into --home with mvn (once per Kafka version; "
        "start does it too).",
    )(_fetch)
    broker.command(
        "start",
        help="Start the broker detached (it outlives this command), formatting its data dir on first use, "
        "and wait until it answers. Does nothing if it already runs; fails fast if the port is taken.",
    )(_start)
    broker.command(
        "stop",
        help="Stop the broker that `oms broker start` started on --port (SIGTERM, then SIGKILL after 30 s).",
    )(_stop)
    broker.command(
        "status", help="Say whether the local broker runs and answers (exit 0 if it runs, 3 if not)."
    )(_status)
    broker.command(
        "reset",
        help="Stop the broker, delete its data dir (every topic, record and offset) and clear the state "
        "folder (OMS_STATE_DIR), whose stores belonged to that data. The jars stay cached.",
    )(_reset)
    app.add_typer(broker, name="broker")


def local_kafka(home: Path, port: int, nodes: int | None, action: str) -> LocalKafka:
    """The broker or cluster an action is about.

    ``--nodes`` says it. Without it: a cluster on the port that runs (a node at least), or
    for stop/status/reset one that ran there once, unless the single broker runs there;
    else the single broker (``--nodes 1`` names it for sure).
    """
    if nodes is not None:
        return LocalCluster(home, nodes=nodes, port=port) if nodes > 1 else LocalBroker(home, port=port)
    single = LocalBroker(home, port=port)
    cluster = LocalCluster.found(home, port)
    if cluster is None or single.is_running():
        return single
    return cluster if cluster.running_nodes() or action != "start" else single


def _broker(
    port: int | None, home: Path | None, nodes: int | None, action: str
) -> tuple[LocalKafka, Settings]:
    settings = Settings()
    where = port or default_port(settings.bootstrap_servers)
    return local_kafka(home or settings.kafka_home, where, nodes, action), settings


def _run(action: str, work: Callable[[], int]) -> int:
    """A LocalBrokerError is a readable message and exit code 1, not a traceback."""
    try:
        return work()
    except LocalBrokerError as exc:
        print(f"oms broker {action}: {exc}", file=sys.stderr)
        return 1


def _fetch(port: Port = None, home: Home = None) -> int:
    broker, _ = _broker(port, home, 1, "fetch")

    def fetch() -> int:
        broker.fetch()
        print(f"Kafka {broker.version} jars are in {broker.libs_dir}")
        return 0

    return _run("fetch", fetch)


def _start(
    port: Port = None,
    nodes: Nodes = None,
    home: Home = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            min=1, show_default=False, help="seconds to wait for every node (default 60, a cluster 120)"
        ),
    ] = None,
) -> int:
    broker, settings = _broker(port, home, nodes, "start")

    def start() -> int:
        was_running = broker.is_running()
        if timeout is None:
            broker.start()
        else:
            broker.start(timeout=timeout)
        what = "cluster" if isinstance(broker, LocalCluster) else "broker"
        verb = "was already running" if was_running else "started"
        print(f"Kafka {broker.version} {what} {verb} on {broker.bootstrap_servers}")
        print(f"  log: {broker.logs}")
        if settings.bootstrap_servers != broker.bootstrap_servers:
            print(f"  export KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap_servers}")
        return 0

    return _run("start", start)


def _stop(port: Port = None, nodes: Nodes = None, home: Home = None) -> int:
    broker, _ = _broker(port, home, nodes, "stop")

    def stop() -> int:
        if broker.stop():
            print(f"stopped the broker on {broker.bootstrap_servers}")
        else:
            print(f"no local broker was running on {broker.bootstrap_servers}")
        return 0

    return _run("stop", stop)


def _status(port: Port = None, nodes: Nodes = None, home: Home = None) -> int:
    broker, _ = _broker(port, home, nodes, "status")
    print(broker.status())
    return 0 if broker.is_running() else 3


def _reset(port: Port = None, nodes: Nodes = None, home: Home = None) -> int:
    broker, settings = _broker(port, home, nodes, "reset")

    def reset() -> int:
        broker.reset()
        clear_state(settings.state_dir)
        print(
            f"stopped the broker on {broker.bootstrap_servers} (if any), wiped {broker.data_dir} "
            f"and cleared the state folder {settings.state_dir}"
        )
        return 0

    return _run("reset", reset)
