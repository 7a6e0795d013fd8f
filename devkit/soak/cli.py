"""``oms soak``: the chaos soak from the repo (see ``devkit.soak``); ``make soak ARGS=...``."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated

import typer

from devkit.soak.runner import SoakError, SoakOptions, run_soak


def register(app: typer.Typer) -> None:
    app.command(
        "soak",
        help="Chaos soak: six journeys under provider faults, SIGKILLs and a broker outage, then an "
        "audit. Runs its own broker on loopback, the OMS processes, the four connectors and the four "
        "provider simulators; drives orders of all six journeys while provider faults are armed "
        "(20% 5xx, 5% 429, 5% timeouts), every process kind is SIGKILLed and the broker is stopped "
        "and started once (--cluster: three brokers, one SIGKILLed and started again); then audits "
        "the event topics and the simulators and prints a table. "
        "Exit code 0 when every check holds, 1 when one does not, 2 when the soak could not run.",
    )(run)


def _stopped(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C: the soak's processes and its broker are stopped."""
    raise SystemExit(128 + signum)


def run(
    orders: Annotated[int, typer.Option(min=1, help="orders, all six journeys mixed")] = 1000,
    seed: Annotated[int, typer.Option(help="seed of the fault schedule (repeatable runs)")] = 1,
    minutes: Annotated[float, typer.Option(min=1, help="bound of the whole run")] = 10.0,
    rate: Annotated[float, typer.Option(min=0.1, help="orders arriving per second")] = 3.0,
    kills: Annotated[
        int | None,
        typer.Option(min=0, show_default=False, help="SIGKILLs (default: each process kind, 1.5x)"),
    ] = None,
    converge_seconds: Annotated[
        float, typer.Option(min=1, help="how long orders may take to settle after the last fault")
    ] = 150.0,
    no_broker_outage: Annotated[bool, typer.Option("--no-broker-outage", help="leave the broker up")] = False,
    cluster: Annotated[
        bool,
        typer.Option(
            "--cluster",
            help="a 3-node KRaft cluster (topics: 3 replicas, 2 in sync): SIGKILL one broker and "
            "start it again, instead of stopping the only one",
        ),
    ] = False,
    workdir: Annotated[
        Path | None,
        typer.Option(
            file_okay=False, show_default=False, help="logs, state and audit.md (default: a temp dir)"
        ),
    ] = None,
    keep: Annotated[bool, typer.Option("--keep", help="keep the soak broker's data")] = False,
) -> None:
    """Exit code 0 when every check holds, 1 when one does not, 2 when the soak could not run."""
    signal.signal(signal.SIGTERM, _stopped)
    options = SoakOptions(
        orders=orders,
        seed=seed,
        minutes=minutes,
        rate=rate,
        kills=kills,
        broker_outage=not no_broker_outage,
        converge_seconds=converge_seconds,
        cluster=cluster,
        workdir=workdir,
        keep=keep,
    )
    try:
        result = run_soak(options)
    except SoakError as exc:
        print(f"oms soak: {exc}")
        raise typer.Exit(2) from exc
    print(
        f"\nsoak of {result.plan.orders} orders (seed {result.plan.seed}) took {result.seconds:.0f}s; "
        f"logs and audit.md in {result.workdir}"
    )
    raise typer.Exit(0 if result.passed else 1)
