"""Where the time of a profiled stage goes, in the terms the targets are discussed in.

Two views of one ``cProfile`` run: exclusive time by component (sums to 100%), and the
inclusive time of the few functions that name a step of the pipeline. fastavro's reader
and writer are compiled, so their time shows up inside ``decode_dict`` and ``encode``.
"""

from __future__ import annotations

import cProfile
import pstats
from collections.abc import Callable, Iterable
from dataclasses import dataclass

FunctionKey = tuple[str, int, str]

_COMPONENTS: tuple[tuple[str, Callable[[str, str], bool]], ...] = (
    ("waiting in epoll (idle)", lambda f, n: "select.epoll" in n),
    ("kafka client", lambda f, n: "cimpl" in n or "confluent_kafka" in f or "aiokafka" in f + n),
    ("avro (fastavro + codec)", lambda f, n: "fastavro" in f or f.endswith("adapters/avro.py")),
    ("pydantic", lambda f, n: "pydantic" in f or "pydantic_core" in n),
    ("fold (streams.domain)", lambda f, n: "/streams/domain/" in f),
    ("writer/replay loop", lambda f, n: "/streams/services/" in f or "adapters/kafka.py" in f),
    ("order store (rocksdb)", lambda f, n: "rocksdict" in f or "Rdict" in n or "order_store" in f),
    ("faust + mode", lambda f, n: "/faust/" in f or "/mode/" in f),
    ("asyncio", lambda f, n: "/asyncio/" in f or "uvloop" in f),
)


def component_of(key: FunctionKey) -> str:
    filename, _line, name = key
    for label, matches in _COMPONENTS:
        if matches(filename, name):
            return label
    return "other python"


@dataclass
class Breakdown:
    total: float
    components: list[tuple[str, float]]
    """(component, exclusive seconds), largest first."""
    steps: list[tuple[str, float, int]]
    """(function, inclusive seconds, calls) of the named pipeline steps."""
    top: list[tuple[str, float, int]]
    """(function, exclusive seconds, calls), the heaviest ones."""

    def lines(self) -> list[str]:
        total = self.total or 1.0
        out = [f"  profiled CPU time {self.total:.1f}s; exclusive time by component:"]
        out += [f"    {label:<26} {sec:7.2f}s {100 * sec / total:5.1f}%" for label, sec in self.components]
        out.append("  inclusive time of pipeline steps:")
        out += [
            f"    {name:<58} {sec:7.2f}s {100 * sec / total:5.1f}% {calls:>9} calls"
            for name, sec, calls in self.steps
        ]
        out.append("  heaviest functions (exclusive):")
        out += [
            f"    {name:<58} {sec:7.2f}s {100 * sec / total:5.1f}% {calls:>9} calls"
            for name, sec, calls in self.top
        ]
        return out


def _label(key: FunctionKey) -> str:
    filename, line, name = key
    if filename == "~":
        return name
    parts = filename.split("/")
    short = "/".join(parts[-2:])
    return f"{short}:{line}({name})"


def breakdown(profile: cProfile.Profile, steps: Iterable[str], top: int = 15) -> Breakdown:
    """``steps`` are substrings of ``file:line(function)`` labels, e.g. ``avro.py:``."""
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    rows: dict[FunctionKey, tuple[int, int, float, float]] = {key: value[:4] for key, value in stats.items()}
    by_component: dict[str, float] = {}
    for key, (_cc, _nc, tottime, _cum) in rows.items():
        label = component_of(key)
        by_component[label] = by_component.get(label, 0.0) + tottime
    total = sum(by_component.values())
    labelled = {_label(key): value for key, value in rows.items()}
    step_rows = []
    for pattern in steps:
        for label, (_cc, calls, _tt, cum) in labelled.items():
            if pattern in label:
                step_rows.append((label, cum, calls))
    heaviest = sorted(labelled.items(), key=lambda kv: -kv[1][2])[:top]
    return Breakdown(
        total=total,
        components=sorted(by_component.items(), key=lambda kv: -kv[1]),
        steps=sorted(step_rows, key=lambda r: -r[1]),
        top=[(label, tt, calls) for label, (_cc, calls, tt, _cum) in heaviest],
    )


REPLAY_STEPS = (
    "replay.py:",
    "kafka.py:",
    "'consume' of 'cimpl",
    "(decode)",
    "(decode_dict)",
    "(model_validate)",
    "history.py:",
    "(evolve)",
    "(model_copy)",
)
WRITER_STEPS = (
    "writer.py:",
    "'consume' of 'cimpl",
    "'produce' of 'cimpl",
    "cimpl.Producer",
    "(decode)",
    "(decode_dict)",
    "(model_validate)",
    "(decide)",
    "(evolve)",
    "(encode)",
    "(model_dump)",
    "order_store.py:",
)
FAUST_STEPS = (
    "(decode)",
    "(decode_dict)",
    "(model_validate)",
    "history.py:",
    "(evolve)",
    "faust_floor.py:",
)
