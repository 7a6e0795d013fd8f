"""``oms broker``: a local Kafka broker (or a 3-node cluster) for development, without Docker."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from devkit.local_broker import LocalBroker, LocalBrokerError, LocalCluster, LocalKafka
from streams.settings import Settings

LOCAL_HOSTS = {"127.0.0.1", "localhost"}
DEFAULT_PORT = 9092

Action = Callable[[LocalKafka, argparse.Namespace], int]
"""One ``oms broker`` action: the broker or cluster for --port/--nodes/--home, and the arguments."""


def default_port(bootstrap_servers: str) -> int:
    """The port of KAFKA_BOOTSTRAP_SERVERS when it names this machine, so the two agree."""
    first = bootstrap_servers.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    if host in LOCAL_HOSTS and port.isdigit():
        return int(port)
    return DEFAULT_PORT


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


def _node_count(text: str) -> int:
    nodes = int(text)
    if nodes < 1:
        raise argparse.ArgumentTypeError("--nodes must be at least 1")
    return nodes


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    settings = Settings.from_env()
    parser = sub.add_parser(
        "broker",
        help="run a local Kafka broker, or a cluster with --nodes 3 (no Docker needed)",
        description=(
            "Manage a single-node KRaft Kafka broker on 127.0.0.1 for development, tests and "
            "the demo, or with --nodes N a cluster of N nodes (topics get 3 replicas, 2 in "
            "sync). The broker jars are fetched once from Maven Central with mvn (needs "
            "Java 17+ and Maven); jars, data and logs live under --home."
        ),
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--port",
        type=int,
        default=default_port(settings.bootstrap_servers),
        help=(
            "broker port on 127.0.0.1; the controller uses port+1 (default: the port of "
            "KAFKA_BOOTSTRAP_SERVERS if it is a 127.0.0.1/localhost address, else 9092; "
            "now %(default)s)"
        ),
    )
    common.add_argument(
        "--nodes",
        type=_node_count,
        default=None,
        help=(
            "run a KRaft cluster of this many combined broker+controller nodes; node n uses "
            "port+2(n-1) and its controller the port after (default: the cluster that runs or "
            "ran on --port, for start only one that runs; else 1, the single broker)"
        ),
    )
    common.add_argument(
        "--home",
        type=Path,
        default=settings.kafka_home,
        help="cache root for the jars and each port's data and logs (OMS_KAFKA_HOME; default: %(default)s)",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    table: list[tuple[str, Action, str, str]] = [
        (
            "fetch",
            _fetch,
            "download the Kafka jars from Maven Central (once)",
            "Download the Kafka broker jars into --home with mvn. Only needed once per "
            "Kafka version (start does it too); takes under a minute.",
        ),
        (
            "start",
            _start,
            "start the broker in the background and wait until it answers",
            "Start the broker detached (it outlives this command), formatting its data dir "
            "on first use, and wait until it answers a metadata request (a cluster: until "
            "every node is a broker). Does nothing if it already runs (a cluster: starts the "
            "nodes that are down); fails fast if a port is taken by another process.",
        ),
        (
            "stop",
            _stop,
            "stop the broker that `oms broker start` started",
            "Stop the broker started by `oms broker start` on --port (SIGTERM, then SIGKILL "
            "after 30s). Only ever signals that process, never an unrelated one.",
        ),
        (
            "status",
            _status,
            "say whether the broker runs and answers",
            "Say whether the local broker on --port runs and answers. Exit code 0 when it "
            "runs (a cluster: every node), 3 when it does not.",
        ),
        (
            "reset",
            _reset,
            "stop the broker and delete its data (every topic and offset)",
            "Stop the broker and delete its data dir: every topic, record and committed "
            "offset is gone. The jars stay cached.",
        ),
    ]
    for name, action, help_text, description in table:
        action_parser = actions.add_parser(name, parents=[common], help=help_text, description=description)
        if name == "start":
            action_parser.add_argument(
                "--timeout",
                type=float,
                default=None,
                help="seconds to wait for every node to answer (default: 60, 120 for a cluster)",
            )
        action_parser.set_defaults(run=_runner(action))


def _runner(action: Action) -> Callable[[argparse.Namespace], int]:
    """Turn a LocalBrokerError into a readable message and exit code 1, not a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            return action(local_kafka(args.home, args.port, args.nodes, args.action), args)
        except LocalBrokerError as exc:
            print(f"oms broker {args.action}: {exc}", file=sys.stderr)
            return 1

    return run


def _fetch(broker: LocalKafka, args: argparse.Namespace) -> int:
    broker.fetch()
    print(f"Kafka {broker.version} jars are in {broker.libs_dir}")
    return 0


def _start(broker: LocalKafka, args: argparse.Namespace) -> int:
    was_running = broker.is_running()
    if args.timeout is None:
        broker.start()
    else:
        broker.start(timeout=args.timeout)
    what = "cluster" if isinstance(broker, LocalCluster) else "broker"
    verb = "was already running" if was_running else "started"
    print(f"Kafka {broker.version} {what} {verb} on {broker.bootstrap_servers}")
    print(f"  log: {broker.logs}")
    if Settings.from_env().bootstrap_servers != broker.bootstrap_servers:
        print(f"  export KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap_servers}")
    return 0


def _stop(broker: LocalKafka, args: argparse.Namespace) -> int:
    if broker.stop():
        print(f"stopped the broker on {broker.bootstrap_servers}")
    else:
        print(f"no local broker was running on {broker.bootstrap_servers}")
    return 0


def _status(broker: LocalKafka, args: argparse.Namespace) -> int:
    print(broker.status())
    return 0 if broker.is_running() else 3


def _reset(broker: LocalKafka, args: argparse.Namespace) -> int:
    broker.reset()
    print(f"stopped the broker on {broker.bootstrap_servers} (if any) and wiped {broker.data_dir}")
    return 0
