"""The side-by-side table, the targets and the machine, as plain text on stdout."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.stages import StageResult

REPLAY_TARGET = 0.8
"""Replay must run at >= 0.8 x consume + Avro decode: folding may cost at most a fifth."""
WRITE_TARGET = 20_000.0
"""Events/s the single writer must sustain."""


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


def render(
    machine: dict[str, str],
    command: str,
    stages: Sequence[StageResult],
    reference: StageResult | None,
    extras: Sequence[str],
    targets: Sequence[Target],
    load_after: str,
    step_costs: Sequence[str] = (),
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
