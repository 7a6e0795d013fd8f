"""The side-by-side table, the targets and the machine, as plain text on stdout."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.stages import StageResult

REPLAY_TARGET = 0.8
"""Replay must run at >= 0.8 x consume + Avro decode: folding may cost at most a fifth."""
PROJECTION_TARGET = 0.5
"""The projection (the read side, sharded like the replay) must run at >= 0.5 x consume +
Avro decode: it also writes every view, event and index entry to RocksDB."""
WRITE_TARGET = 20_000.0
"""Events/s the single writer must sustain."""
PEER_TARGET = 1.3
"""The project's write side and replay must each do >= 1.3x quix-streams' events per CPU-second."""


@dataclass
class Target:
    what: str
    measured: float
    wanted: float
    unit: str

    @property
    def met(self) -> bool:
        return self.measured >= self.wanted

    def line(self) -> str:
        verdict = "met" if self.met else "MISSED"
        wanted = f"target >= {self.wanted:,.2f}{self.unit}"
        return f"  {self.what}: {self.measured:,.2f}{self.unit} ({wanted}) {verdict}"


def table(stages: Sequence[StageResult], reference: StageResult | None) -> list[str]:
    header = (
        f"  {'stage':<36} {'events':>8} {'seconds':>8} {'events/s':>9} {'x decode':>8}"
        f" {'cpu s':>6} {'ev/cpu-s':>9}"
    )
    out = [header, "  " + "-" * (len(header) - 2)]
    for s in stages:
        ratio = f"{s.rate / reference.rate:.2f}" if reference and reference.rate else "-"
        per_cpu = f"{s.events / s.cpu:,.0f}" if s.cpu > 0 else "-"
        flag = " !" if s.problems else ""
        out.append(
            f"  {s.name:<36} {s.events:>8,} {s.seconds:>8.2f} {s.rate:>9,.0f} {ratio:>8}"
            f" {s.cpu:>6.2f} {per_cpu:>9}{flag}"
        )
    return out


def ratio(measured: float, reference: float) -> float | None:
    """``measured / reference``; None when there is no reference to divide by."""
    return measured / reference if reference > 0 else None


def per_cpu(stage: StageResult) -> float:
    """Events per CPU-second of the measuring process; 0 when no CPU was measured."""
    return stage.events / stage.cpu if stage.cpu > 0 else 0.0


def _times(value: float | None) -> str:
    return f"{value:.2f}x" if value is not None else "-"


def peer_table(rows: Sequence[StageResult], peer: StageResult | None) -> list[str]:
    """The project's stages and the peers, each against the quix-streams peer: in events/s
    and in events per CPU-second (less sensitive to the other jobs on a shared machine)."""
    header = f"  {'stage':<44} {'events/s':>9} {'ev/cpu-s':>9} {'x quix':>7} {'x quix/cpu':>10}"
    out = [header, "  " + "-" * (len(header) - 2)]
    for s in rows:
        by_rate = ratio(s.rate, peer.rate) if peer is not None else None
        by_cpu = ratio(per_cpu(s), per_cpu(peer)) if peer is not None else None
        out.append(
            f"  {s.name:<44} {s.rate:>9,.0f} {per_cpu(s):>9,.0f} {_times(by_rate):>7} {_times(by_cpu):>10}"
        )
    return out


def render(
    machine: dict[str, str],
    command: str,
    stages: Sequence[StageResult],
    reference: StageResult | None,
    extras: Sequence[str],
    targets: Sequence[Target],
    load_after: str,
    step_costs: Sequence[str] = (),
    peers: Sequence[str] = (),
) -> str:
    lines = ["", f"command: {command}", "", "machine:"]
    lines += [f"  {key:<28} {value}" for key, value in machine.items()]
    lines.append(f"  {'load average after the run':<28} {load_after}")
    ref = f"'{reference.name}'" if reference else "n/a"
    lines += [
        "",
        f"results ('x decode' = events/s relative to {ref}; 'cpu s' = CPU seconds of the",
        "measuring process in the same window, all threads; '!' = a check failed):",
    ]
    lines += table(stages, reference)
    lines += [f"  {extra}" for extra in extras]
    if peers:
        lines += [
            "",
            "peers (the same fold of the same topics; 'x quix' = relative to quix-streams):",
            *peers,
        ]
    lines += ["", "targets:"]
    lines += [t.line() for t in targets]
    notes = [(s.name, n) for s in stages for n in s.notes]
    if notes:
        lines += ["", "checks:"]
        lines += [f"  {name}: {note}" for name, note in notes]
    problems = [(s.name, p) for s in stages for p in s.problems]
    if problems:
        lines += ["", "PROBLEMS:"]
        lines += [f"  {name}: {problem}" for name, problem in problems]
    if step_costs:
        lines += ["", *step_costs]
    for s in stages:
        if s.profile:
            lines += ["", f"profile of {s.name} (under cProfile, so slower than measured):"]
            lines += s.profile
    return "\n".join(lines) + "\n"
