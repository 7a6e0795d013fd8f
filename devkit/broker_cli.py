"""``oms broker``: a local single-node Kafka broker for development, without Docker."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from devkit.local_broker import LocalBroker, LocalBrokerError
from streams.settings import Settings

LOCAL_HOSTS = {"127.0.0.1", "localhost"}
DEFAULT_PORT = 9092

Action = Callable[[LocalBroker, argparse.Namespace], int]
"""One ``oms broker`` action: the broker for --port/--home and the parsed arguments."""


def default_port(bootstrap_servers: str) -> int:
    """The port of KAFKA_BOOTSTRAP_SERVERS when it names this machine, so the two agree."""
    first = bootstrap_servers.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    if host in LOCAL_HOSTS and port.isdigit():
        return int(port)
    return DEFAULT_PORT


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    settings = Settings.from_env()
    parser = sub.add_parser(
        "broker",
        help="run a local single-node Kafka broker (no Docker needed)",
        description=(
            "Manage a single-node KRaft Kafka broker on 127.0.0.1 for development, tests and "
            "the demo. The broker jars are fetched once from Maven Central with mvn (needs "
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
            "on first use, and wait until it answers a metadata request. Does nothing if "
            "it already runs; fails fast if the port is taken by another process.",
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
            "runs, 3 when it does not.",
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
                default=60.0,
                help="seconds to wait for the broker to answer (default: %(default)s)",
            )
        action_parser.set_defaults(run=_runner(action))


def _runner(action: Action) -> Callable[[argparse.Namespace], int]:
    """Turn a LocalBrokerError into a readable message and exit code 1, not a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            return action(LocalBroker(home=args.home, port=args.port), args)
        except LocalBrokerError as exc:
            print(f"oms broker {args.action}: {exc}", file=sys.stderr)
            return 1

    return run


def _fetch(broker: LocalBroker, args: argparse.Namespace) -> int:
    broker.fetch()
    print(f"Kafka {broker.version} jars are in {broker.libs_dir}")
    return 0


def _start(broker: LocalBroker, args: argparse.Namespace) -> int:
    was_running = broker.is_running()
    broker.start(timeout=args.timeout)
    verb = "was already running" if was_running else "started"
    print(f"Kafka {broker.version} broker {verb} on {broker.bootstrap_servers}")
    print(f"  log: {broker.log_file}")
    if Settings.from_env().bootstrap_servers != broker.bootstrap_servers:
        print(f"  export KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap_servers}")
    return 0


def _stop(broker: LocalBroker, args: argparse.Namespace) -> int:
    if broker.stop():
        print(f"stopped the broker on {broker.bootstrap_servers}")
    else:
        print(f"no local broker was running on {broker.bootstrap_servers}")
    return 0


def _status(broker: LocalBroker, args: argparse.Namespace) -> int:
    print(broker.status())
    return 0 if broker.is_running() else 3


def _reset(broker: LocalBroker, args: argparse.Namespace) -> int:
    broker.reset()
    print(f"stopped the broker on {broker.bootstrap_servers} (if any) and wiped {broker.data_dir}")
    return 0
