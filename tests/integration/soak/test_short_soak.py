"""The short soak of ``make test``: about 100 orders of all six journeys through the real
connectors and the four simulators, provider faults armed, three SIGKILLs and one broker
stop/start, then the audit's invariants. Its own broker on free loopback ports (it gets
stopped mid-run, so never the shared one).

Asserts what the audit found, never how long anything took.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devkit.soak.audit import Row, render_text
from devkit.soak.runner import SoakOptions, SoakResult, run_soak

SHORT = SoakOptions(orders=100, seed=11, rate=2.0, kills=3, minutes=3.0, converge_seconds=60.0)


@pytest.fixture(scope="module")
def soak(tmp_path_factory: pytest.TempPathFactory) -> SoakResult:
    workdir: Path = tmp_path_factory.mktemp("soak")
    return run_soak(SoakOptions(**{**SHORT.__dict__, "workdir": workdir}))


def _rows(result: SoakResult, prefix: str) -> list[Row]:
    rows = [r for r in result.table.rows if r.check.startswith(prefix)]
    assert rows, f"no row starts with {prefix!r}"
    return rows


@pytest.mark.parametrize(
    "check",
    [
        "J1 ",
        "J2 ",
        "J3 ",
        "J4 ",
        "J5 ",
        "J6 ",
        "histories as the journey reads",
        "orders with a seq gap",
        "duplicate seqs",
        "open steps on terminal orders",
        "live timers on terminal orders",
        "actions requested again after completion",
        "provider copies per order",
        "webhooks lost",
        "records on the dead-letter topic",
        "time from the last fault to convergence",
        "processes wedged",
        "read-side API shows what the topics say",
    ],
)
def test_the_short_soak_keeps_the_invariant(soak: SoakResult, check: str) -> None:
    failed = [r for r in _rows(soak, check) if r.ok is not True]
    assert not failed, f"{failed}\n\n{render_text(soak.table)}"


def test_the_short_soak_ran_its_plan(soak: SoakResult) -> None:
    plan = soak.plan
    assert len(soak.evidence.journeys) == plan.orders == 100
    assert len(plan.kills()) == 3 and len(plan.chaos) == 4
