"""``oms soak``: the chaos soak from the repo (see ``devkit.soak``); ``make soak ARGS=...``."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path
from typing import Any

from devkit.soak.runner import SoakError, SoakOptions, run_soak


def register(sub: Any) -> None:
    soak = sub.add_parser(
        "soak",
        help="chaos soak: six journeys under provider faults, SIGKILLs and a broker outage; an audit",
        description="Runs its own broker on loopback, the OMS processes, the four connectors and the four "
        "provider simulators; drives orders of all six journeys while provider faults are armed "
        "(20%% 5xx, 5%% 429, 5%% timeouts), every process kind is SIGKILLed and the broker is stopped and "
        "started once; then audits the event topics and the simulators and prints a table. Exit code 0 "
        "when every check holds, 1 when one does not, 2 when the soak could not run.",
    )
    soak.add_argument(
        "--orders", type=int, default=1000, help="orders, all six journeys mixed (default 1000)"
    )
    soak.add_argument("--seed", type=int, default=1, help="seed of the fault schedule (default 1)")
    soak.add_argument("--minutes", type=float, default=10.0, help="bound of the whole run (default 10)")
    soak.add_argument("--rate", type=float, default=3.0, help="orders arriving per second (default 3)")
    soak.add_argument("--kills", type=int, default=None, help="SIGKILLs (default: each process kind, 1.5x)")
    soak.add_argument(
        "--converge-seconds",
        type=float,
        default=150.0,
        help="how long orders may take to settle after the last fault",
    )
    soak.add_argument("--no-broker-outage", action="store_true", help="leave the broker up")
    soak.add_argument("--cluster", action="store_true", help="a 3-node cluster, kill one broker (not yet)")
    soak.add_argument(
        "--workdir", type=Path, default=None, help="logs, state and audit.md (default: a temp dir)"
    )
    soak.add_argument("--keep", action="store_true", help="keep the soak broker's data")
    soak.set_defaults(run=run)


def _stopped(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C: the soak's processes and its broker are stopped."""
    raise SystemExit(128 + signum)


def run(args: argparse.Namespace) -> int:
    signal.signal(signal.SIGTERM, _stopped)
    options = SoakOptions(
        orders=args.orders,
        seed=args.seed,
        minutes=args.minutes,
        rate=args.rate,
        kills=args.kills,
        broker_outage=not args.no_broker_outage,
        converge_seconds=args.converge_seconds,
        cluster=args.cluster,
        workdir=args.workdir,
        keep=args.keep,
    )
    try:
        result = run_soak(options)
    except SoakError as exc:
        print(f"oms soak: {exc}")
        return 2
    print(
        f"\nsoak of {result.plan.orders} orders (seed {result.plan.seed}) took {result.seconds:.0f}s; "
        f"logs and audit.md in {result.workdir}"
    )
    return 0 if result.passed else 1
