"""Growth: how replay and writer restore time, and the writer's store, grow with the history.

``python -m bench.growth --sizes 20000,100000`` runs, for each size, on its own topics:

1. publish the journey-1 commands of that many orders (ten events each) and let one
   ``oms writer`` process (as a user starts it) append their events;
2. at 90% of them, SIGKILL the writer and start it again on the same store: its
   **restart time** is from the new process's start to its first transaction past the
   kill (Python start-up, group join, the restore from its checkpoint, the first batch);
   its own log says how many events that restore folded and how long it took;
3. the **store**: bytes on disk of the writer's RocksDB folder, and the bytes of its state
   entries (key + value), per order;
4. the **replay** (``streams.services.replay.replay``, one process) of every event topic;
5. the **writer restore from an empty store** (a new disk, say): an ``OrderWriter`` with a
   fresh store, timed from its start to the end of its restore (group join included).

Then the curve: each time against the previous size's, divided by the size ratio
(1.00 = linear, below = better than linear). 500,000 orders is 5 million events: at the
write rates of BENCHMARKS.md that is 7-10 minutes of writing alone; pass it in --sizes.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import machine
from bench.broker import acquire, drop_run_topics
from bench.child import DONE
from bench.processes import EVENTS_PER_ORDER, GroupProgress, WriterProcess, publish_orders
from bench.progress import Ticker, say
from bench.stages import settle
from streams.adapters.kafka import create_topics
from streams.adapters.order_store import OrderStore
from streams.adapters.state_store import STATE
from streams.bootstrap import Components, bootstrap
from streams.services.replay import replay
from streams.services.writer import OrderWriter
from streams.settings import Settings

RESTART_TARGET = 5.0
"""Seconds a writer may take to resume after SIGKILL at 100,000 orders (from its checkpoint)."""
STATE_TARGET = 1024
"""Bytes per order the writer's store may take."""


@dataclass
class GrowthRow:
    orders: int
    events: int = 0
    replay_seconds: float = 0.0
    restore_seconds: float = 0.0
    """A writer on an empty store: start to the end of its restore (join included)."""
    restart_seconds: float = 0.0
    """After SIGKILL: the new process's start to its first transaction past the kill."""
    restart_up: float | None = None
    """Of the restart: the new process's start to its "starting" line (before the group join)."""
    restart_restored: tuple[int, float] = (0, 0.0)
    """What the restarted writer's own log says its restore folded, and in how long (a restore
    with nothing to fold logs nothing)."""
    disk_bytes: int = 0
    state_bytes: int = 0
    problems: list[str] = field(default_factory=list)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.growth",
        description="Replay time, writer restore time (empty store, and restart after SIGKILL from "
        "its checkpoint) and the writer's store bytes per order, at each of --sizes orders of "
        "journey 1 (10 events each). Progress on stderr, the table on stdout.",
    )
    parser.add_argument(
        "--sizes",
        default="20000,100000",
        help="comma-separated order counts (default 20000,100000; 500000 takes ~15-20 minutes more)",
    )
    parser.add_argument(
        "--kill-at", type=float, default=0.9, help="fraction of the commands committed at the SIGKILL"
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds the writer may take per size")
    parser.add_argument(
        "--keep", action="store_true", help="keep each size's folder (the writer's log and store)"
    )
    parser.add_argument("--bootstrap", help="broker (default: KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092)")
    args = parser.parse_args(argv)
    try:
        args.sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    except ValueError:
        parser.error("--sizes takes comma-separated whole numbers, e.g. 20000,100000")
    if not args.sizes or min(args.sizes) < 100:
        parser.error("--sizes must hold sizes of at least 100 orders")
    if not 0.0 < args.kill_at < 1.0:
        parser.error("--kill-at must be between 0 and 1")
    return args


def scaling(sizes: Sequence[int], seconds: Sequence[float]) -> list[float | None]:
    """Each time against the previous one, divided by the size ratio: 1.0 is linear growth,
    less is better than linear. None for the first size, or where a time is missing."""
    out: list[float | None] = [None]
    for i in range(1, len(sizes)):
        before, now = seconds[i - 1], seconds[i]
        out.append((now / before) / (sizes[i] / sizes[i - 1]) if before > 0 and now > 0 else None)
    return out


def per_order(total: int, orders: int) -> float:
    return total / orders if orders else 0.0


def folder_bytes(path: Path) -> int:
    """RocksDB's data on disk: its tables and write-ahead log (not its own LOG files)."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and f.suffix in (".sst", ".log"))


def state_bytes(path: Path) -> tuple[int, int]:
    """Bytes of the state entries (key + value) in a writer's store, and how many there are."""
    store = OrderStore(path)
    try:
        entries = [(len(key) + len(STATE), len(value)) for key, value in store.scan(STATE)]
    finally:
        store.close()
    return sum(k + v for k, v in entries), len(entries)


def _components(bootstrap_servers: str, workdir: Path, orders: int) -> Components:
    stamp = time.strftime("%Y%m%d%H%M%S")
    settings = Settings(
        bootstrap_servers=bootstrap_servers,
        topic_prefix=f"growth{stamp}-{orders}.",
        partitions=6,
        state_dir=workdir / "bench",
        schemas_dir=shutil.copytree(Settings().schemas_dir, workdir / "schemas"),
        instance_id=f"growth-{uuid.uuid4().hex[:6]}",
    )
    return bootstrap(settings)


def write_with_kill(c: Components, row: GrowthRow, workdir: Path, kill_at: float, timeout: float) -> Path:
    """The writer appends the history; SIGKILLed at ``kill_at``, restarted, timed. Returns its store."""
    commands = row.orders * EVENTS_PER_ORDER
    progress = GroupProgress(c)
    log = workdir / "writer.log"
    writer = WriterProcess(c, c.settings.instance_id, workdir / "writer", log).start()
    try:
        progress.wait_for(int(commands * kill_at), timeout, [writer])
        at_kill = progress.committed()
        writer.kill()
        say(f"SIGKILL at {at_kill:,} / {commands:,} commands committed; restarting on the same store")
        before = len(writer.restores())
        writer.start()
        resumed = progress.wait_for(at_kill + 1, 120.0, [writer])
        row.restart_seconds = resumed - writer.started
        logged = writer.restores()[before:]
        row.restart_restored = (sum(n for n, _ in logged), sum(s for _, s in logged))
        row.restart_up = writer.up_after()
        progress.wait_for(commands, timeout, [writer])
    finally:
        writer.stop()
        progress.close()
    return writer.store


def time_replay(c: Components, row: GrowthRow) -> None:
    say(f"replay of {row.orders:,} orders")
    result = replay(c.settings, c.topics, c.codec, lambda p: say(f"replay: {p.events:,} events"), 5.0)
    row.replay_seconds, row.events = result.seconds, result.events
    done = result.by_status().get(DONE, 0)
    if done != row.orders or result.events != row.orders * EVENTS_PER_ORDER:
        row.problems.append(f"replay: {result.events:,} events, {done:,} of {row.orders:,} orders done")


def time_restore(c: Components, row: GrowthRow, store_dir: Path) -> None:
    """An ``OrderWriter`` on an empty store (same instance id: it takes the partitions at once)."""
    store = OrderStore(store_dir)
    writer = OrderWriter(c.settings, c.topics, c.codec, store, c.transitions)
    stop = threading.Event()
    thread = threading.Thread(target=writer.run, args=(stop,), name="restore", daemon=True)
    began = time.monotonic()
    thread.start()
    ticker = Ticker(5.0)
    expected = row.orders * EVENTS_PER_ORDER
    while writer.stats.restored_events < expected and thread.is_alive():
        if time.monotonic() - began > 1800:
            row.problems.append("restore: not done in 1800 s")
            break
        if ticker.due():
            say(f"restore from an empty store: {time.monotonic() - began:.0f}s")
        time.sleep(0.05)
    row.restore_seconds = time.monotonic() - began
    stop.set()
    thread.join(30)
    store.close()
    if writer.stats.restored_events != expected:
        row.problems.append(f"restore folded {writer.stats.restored_events:,} of {expected:,} events")


def measure(bootstrap_servers: str, workdir: Path, orders: int, kill_at: float, timeout: float) -> GrowthRow:
    c = _components(bootstrap_servers, workdir, orders)
    row = GrowthRow(orders)
    create_topics(c.settings, c.topics)
    say(f"{orders:,} orders: publishing {orders * EVENTS_PER_ORDER:,} commands")
    publish_orders(c, orders)
    store = write_with_kill(c, row, workdir, kill_at, timeout)
    row.disk_bytes = folder_bytes(store)
    row.state_bytes, entries = state_bytes(store)
    if entries != orders:
        row.problems.append(f"the store holds {entries:,} states for {orders:,} orders")
    settle(c)
    time_replay(c, row)
    time_restore(c, row, workdir / "empty")
    _cleanup(c)
    return row


def _cleanup(c: Components) -> None:
    drop_run_topics(c.settings)


def _seconds(value: float) -> str:
    return f"{value:.2f}" if value > 0 else "-"


def _curve(label: str, sizes: list[int], seconds: list[float]) -> str:
    factors = scaling(sizes, seconds)
    shown = ", ".join(f"{n:,}: {f:.2f}" for n, f in zip(sizes, factors, strict=True) if f is not None)
    return f"  {label:<28} {shown or '-'}"


def render(rows: Sequence[GrowthRow], command: str, facts: dict[str, str]) -> str:
    lines = ["", f"command: {command}", "", "machine:"]
    lines += [f"  {key:<28} {value}" for key, value in facts.items()]
    lines.append(f"  {'load average after the run':<28} {machine.load_average()}")
    header = (
        f"  {'orders':>8} {'events':>10} {'replay s':>9} {'ev/s':>8} {'restore s':>10} {'restart s':>10}"
        f" {'of it start-up':>14} {'its restore':>16} {'disk B/order':>13} {'state B/order':>14}"
    )
    lines += [
        "",
        "results (restore: a writer on an empty store; restart: after SIGKILL, from its checkpoint):",
    ]
    lines += [header, "  " + "-" * (len(header) - 2)]
    for r in rows:
        own = f"{r.restart_restored[0]:,} ev {r.restart_restored[1]:.1f}s"
        up = f"{r.restart_up:.2f}" if r.restart_up is not None else "-"
        rate = r.events / r.replay_seconds if r.replay_seconds > 0 else 0.0
        lines.append(
            f"  {r.orders:>8,} {r.events:>10,} {_seconds(r.replay_seconds):>9} {rate:>8,.0f}"
            f" {_seconds(r.restore_seconds):>10} {_seconds(r.restart_seconds):>10} {up:>14} {own:>16}"
            f" {per_order(r.disk_bytes, r.orders):>13,.0f} {per_order(r.state_bytes, r.orders):>14,.0f}"
        )
    sizes = [r.orders for r in rows]
    lines += ["", "growth against the previous size, per size ratio (1.00 = linear, below = better):"]
    lines.append(_curve("replay", sizes, [r.replay_seconds for r in rows]))
    lines.append(_curve("restore from an empty store", sizes, [r.restore_seconds for r in rows]))
    lines += ["", "targets:", *_targets(rows)]
    problems = [f"  {r.orders:,} orders: {p}" for r in rows for p in r.problems]
    if problems:
        lines += ["", "PROBLEMS:", *problems]
    return "\n".join(lines) + "\n"


def _targets(rows: Sequence[GrowthRow]) -> list[str]:
    out = []
    for r in rows:
        disk, state = per_order(r.disk_bytes, r.orders), per_order(r.state_bytes, r.orders)
        verdict = "met" if 0 < disk <= STATE_TARGET else "MISSED"
        out.append(
            f"  store bytes on disk per order at {r.orders:,}: {disk:,.0f} (target <= {STATE_TARGET:,}) "
            f"{verdict}; {state:,.0f} as JSON before compression"
        )
    at = next((r for r in rows if r.orders == 100_000), None)
    if at is None:
        out.append("  restart after SIGKILL at 100,000 orders: not measured (100000 not in --sizes)")
    else:
        verdict = "met" if 0 < at.restart_seconds < RESTART_TARGET else "MISSED"
        out.append(
            f"  restart after SIGKILL at 100,000 orders: {at.restart_seconds:.2f}s "
            f"(target < {RESTART_TARGET:.0f}s) {verdict}"
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    logging.getLogger("streams").setLevel(logging.WARNING)
    broker = acquire(args.bootstrap)
    facts = machine.facts(broker.version)
    say(f"machine: {facts['nproc']} cores, load {facts['load average (1 5 15 min)']}")
    rows = []
    try:
        for orders in args.sizes:
            workdir = Path(tempfile.mkdtemp(prefix=f"oms-growth-{orders}-"))
            try:
                rows.append(measure(broker.bootstrap_servers, workdir, orders, args.kill_at, args.timeout))
            finally:
                if args.keep:
                    say(f"kept {workdir}")
                else:
                    shutil.rmtree(workdir, ignore_errors=True)
    finally:
        broker.stop()
    command = "python -m bench.growth " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    sys.stdout.write(render(rows, command, facts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
