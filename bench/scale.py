"""Two of each: two ``oms writer`` processes on the same topics against one.

``python -m bench.scale --orders 20000`` publishes the journey-1 commands of that many
orders (ten events each) to fresh topics, once for each writer count in ``--writers``
(default 1,2), starts that many ``oms writer`` processes at once (as a user would: own
instance ids and state folders, one group), and times the backlog from the moment the
group is stable with every writer holding partitions to the last command committed.

- **events/s**: commands committed in that window per second of wall clock (each command
  appends one event);
- **ev/cpu-s**: the same commands per CPU-second of all the writer processes together
  (user + system from /proc, every thread: librdkafka's too), over the same window;
- the join: process start to a stable group (Python start-up, group join, rebalances).

On 2 cores shared with the broker (and the rest of the machine), two writers cannot
double: the broker's JVM takes a share of the same cores, and each writer's librdkafka
threads (compression, transactions, fetching) compete with both. What 2 processes buy is
the second core for Python, which one process cannot use (the GIL); what they cost is
measured as ev/cpu-s against one writer's (target >= 0.9x: no coordination overhead).
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import ConsumerGroupState

from bench import machine
from bench.broker import acquire
from bench.processes import EVENTS_PER_ORDER, GroupProgress, WriterProcess, publish_orders
from bench.progress import say
from streams.adapters.kafka import admin, create_topics, delete_topics
from streams.bootstrap import Components, bootstrap
from streams.services.writer import WRITER_GROUP
from streams.settings import Settings

CPU_TARGET = 0.9
"""Two writers' events per CPU-second against one writer's."""


@dataclass
class ScaleRow:
    writers: int
    commands: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    join: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.commands / self.seconds if self.seconds > 0 else 0.0

    @property
    def per_cpu(self) -> float:
        return self.commands / self.cpu if self.cpu > 0 else 0.0


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale",
        description="Writer throughput (events/s) and efficiency (events per CPU-second of all writer "
        "processes) with one and with two `oms writer` processes on the same topics. Progress on "
        "stderr, the table on stdout.",
    )
    parser.add_argument("--orders", type=int, default=20_000, help="orders per run (default 20000)")
    parser.add_argument(
        "--writers", default="1,2", help="writer counts to run, comma-separated (default 1,2)"
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds each run may take")
    parser.add_argument("--bootstrap", help="broker (default: KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092)")
    args = parser.parse_args(argv)
    if args.orders < 100:
        parser.error("--orders must be at least 100")
    try:
        args.writers = [int(n) for n in args.writers.split(",")]
    except ValueError:
        parser.error("--writers takes comma-separated counts, e.g. 1,2")
    if not args.writers or min(args.writers) < 1 or max(args.writers) > 6:
        parser.error("--writers counts must be 1 to 6 (the topics have 6 partitions)")
    return args


def efficiency(row: ScaleRow, baseline: ScaleRow) -> float | None:
    """Events per CPU-second against the baseline's; None when either has no CPU measured."""
    if row.per_cpu <= 0 or baseline.per_cpu <= 0:
        return None
    return row.per_cpu / baseline.per_cpu


def speedup(row: ScaleRow, baseline: ScaleRow) -> float | None:
    """Wall-clock events/s against the baseline's."""
    if row.rate <= 0 or baseline.rate <= 0:
        return None
    return row.rate / baseline.rate


def stable_with(c: Components, writers: int) -> bool:
    """The writer group is stable, with ``writers`` members each holding partitions."""
    group = c.topics.prefix + WRITER_GROUP
    client = admin(c.settings)  # held: a collected client never completes its futures
    try:
        found = client.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=15)
    except Exception:
        return False
    members = [m for m in found.members if m.assignment and m.assignment.topic_partitions]
    return bool(found.state == ConsumerGroupState.STABLE and len(members) == writers)


def _components(bootstrap_servers: str, workdir: Path, writers: int) -> Components:
    stamp = time.strftime("%Y%m%d%H%M%S")
    settings = Settings(
        bootstrap_servers=bootstrap_servers,
        topic_prefix=f"scale{stamp}-{writers}.",
        partitions=6,
        state_dir=workdir / "bench",
        schemas_dir=shutil.copytree(Settings().schemas_dir, workdir / "schemas"),
    )
    return bootstrap(settings)


def run_writers(bootstrap_servers: str, workdir: Path, writers: int, orders: int, timeout: float) -> ScaleRow:
    c = _components(bootstrap_servers, workdir, writers)
    row = ScaleRow(writers)
    commands = orders * EVENTS_PER_ORDER
    create_topics(c.settings, c.topics)
    say(f"{writers} writer(s): publishing {commands:,} commands")
    publish_orders(c, orders)
    tag = uuid.uuid4().hex[:6]
    procs = [
        WriterProcess(c, f"scale-{tag}-{i}", workdir / f"writer-{i}", workdir / f"writer-{i}.log").start()
        for i in range(writers)
    ]
    progress = GroupProgress(c)
    try:
        deadline = time.monotonic() + 120
        while not stable_with(c, writers):
            if time.monotonic() > deadline or not all(p.alive() for p in procs):
                raise RuntimeError(f"the group never held {writers} writers; see {procs[0].log}")
            time.sleep(0.1)
        began, done_before = time.monotonic(), progress.committed()
        cpu_before = sum(p.cpu() for p in procs)
        row.join = began - min(p.started for p in procs)
        ended = progress.wait_for(commands, timeout, procs)
        row.cpu = sum(p.cpu() for p in procs) - cpu_before
        row.seconds, row.commands = ended - began, commands - done_before
        if not stable_with(c, writers):
            row.problems.append("the group was not stable at the end (a writer left or rebalanced)")
    finally:
        for p in procs:
            p.stop()
        progress.close()
        _cleanup(c)
    return row


def _cleanup(c: Components) -> None:
    prefix = c.settings.topic_prefix
    try:
        names = [t for t in admin(c.settings).list_topics(timeout=30).topics if t.startswith(prefix)]
        delete_topics(c.settings, names)
        say(f"deleted {len(names)} topics named {prefix}*")
    except Exception as exc:
        say(f"cleanup failed: {exc}; delete the topics named {prefix}* by hand")


def _times(value: float | None) -> str:
    return f"{value:.2f}x" if value is not None else "-"


def render(rows: Sequence[ScaleRow], command: str, facts: dict[str, str]) -> str:
    lines = ["", f"command: {command}", "", "machine:"]
    lines += [f"  {key:<28} {value}" for key, value in facts.items()]
    lines.append(f"  {'load average after the run':<28} {machine.load_average()}")
    header = (
        f"  {'writers':>7} {'commands':>9} {'seconds':>8} {'events/s':>9} {'cpu s':>7} {'ev/cpu-s':>9}"
        f" {'x one (wall)':>12} {'x one (cpu)':>11} {'join s':>7}"
    )
    lines += ["", "results (the window: group stable -> last command committed; cpu: all writer processes):"]
    lines += [header, "  " + "-" * (len(header) - 2)]
    one = next((r for r in rows if r.writers == 1), None)
    for r in rows:
        wall = _times(speedup(r, one)) if one else "-"
        cpu = _times(efficiency(r, one)) if one else "-"
        lines.append(
            f"  {r.writers:>7} {r.commands:>9,} {r.seconds:>8.2f} {r.rate:>9,.0f} {r.cpu:>7.2f}"
            f" {r.per_cpu:>9,.0f} {wall:>12} {cpu:>11} {r.join:>7.2f}"
        )
    two = next((r for r in rows if r.writers == 2), None)
    if one and two:
        measured = efficiency(two, one) or 0.0
        verdict = "met" if measured >= CPU_TARGET else "MISSED"
        lines += [
            "",
            "targets:",
            f"  2 writers' ev/cpu-s / one's: {measured:.2f}x (target >= {CPU_TARGET}x) {verdict}",
        ]
    problems = [f"  {r.writers} writer(s): {p}" for r in rows for p in r.problems]
    if problems:
        lines += ["", "PROBLEMS:", *problems]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    broker = acquire(args.bootstrap)
    facts = machine.facts(broker.version)
    say(f"machine: {facts['nproc']} cores, load {facts['load average (1 5 15 min)']}")
    rows = []
    try:
        for writers in args.writers:
            workdir = Path(tempfile.mkdtemp(prefix=f"oms-scale-{writers}-"))
            try:
                rows.append(
                    run_writers(broker.bootstrap_servers, workdir, writers, args.orders, args.timeout)
                )
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
    finally:
        broker.stop()
    command = "python -m bench.scale " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    sys.stdout.write(render(rows, command, facts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
