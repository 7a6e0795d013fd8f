"""Two of each: two ``oms writer`` processes on the same topics against one, and two
stand-in connector processes against one.

``python -m bench.scale --orders 20000`` makes fresh topics for each process count in
``--writers`` (default 1,2) and starts that many ``oms writer`` processes at once (as a user
would: own instance ids and state folders, one group). Once the group is stable with every
writer holding partitions, it publishes the journey-1 commands of ``--orders`` orders (ten
events each; far faster than writers take them, so they are never starved) and times them
to the last command committed:

- **per s**: commands committed in that window per second of wall clock (each command
  appends one event);
- **per cpu-s**: the same per CPU-second of all the processes together (user + system from
  /proc, every thread: librdkafka's too), over the same window;
- the join: process start to a stable group (Python start-up, group join, rebalances).

``--connectors`` (default 1,2) does the same with ``devkit.fake_providers`` processes (the
stand-in connectors, one group) and one F&O send-to-fulfillment request per order, the
order's snapshot after its create, as the writer's outbox sends it; a request is done when
its four answers (result, picked, shipped, invoiced) are on ``order.commands``. The writer
is not in that loop: it is the bottleneck of ``bench.journeys``.

On 2 cores shared with the broker (and the rest of the machine), two processes cannot
double: the broker's JVM takes a share of the same cores, and each process's librdkafka
threads (compression, transactions, fetching) compete with both. What 2 processes buy is
the second core for Python, which one process cannot use (the GIL); what they cost is
measured as per cpu-s against one process's (writers: target >= 0.9x, no coordination
overhead).
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from confluent_kafka import ConsumerGroupState, Producer

from bench import machine
from bench.broker import acquire, drop_run_topics
from bench.processes import (
    EVENTS_PER_ORDER,
    STAND_IN_CONNECTORS,
    WRITER,
    AnswersProgress,
    GroupProgress,
    WriterProcess,
    publish_orders,
)
from bench.progress import say
from devkit.scenarios import journey1_orders
from streams.adapters.kafka import admin, create_topics, partition_for, producer_config
from streams.bootstrap import Components, bootstrap
from streams.domain.commands import ProviderActionRequest
from streams.domain.orchestration import process
from streams.domain.values import ActionType, Provider
from streams.services.writer import WRITER_GROUP
from streams.settings import Settings

CPU_TARGET = 0.9
"""Two writers' events per CPU-second against one writer's."""
ANSWERS_PER_REQUEST = 4
"""An F&O send-to-fulfillment's answers from the stand-in: the result, picked, shipped, invoiced."""
CONNECTOR_GROUP = "oms-fake-providers"
"""The stand-in connectors' group (``devkit.fake_providers``)."""


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
        "--writers", default="1,2", help="writer counts to run, comma-separated (default 1,2; '' for none)"
    )
    parser.add_argument(
        "--connectors",
        default="1,2",
        help="stand-in connector process counts (one F&O request per order), comma-separated "
        "(default 1,2; '' for none)",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds each run may take")
    parser.add_argument("--bootstrap", help="broker (default: KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092)")
    args = parser.parse_args(argv)
    if args.orders < 100:
        parser.error("--orders must be at least 100")
    for option in ("writers", "connectors"):
        try:
            counts = [int(n) for n in getattr(args, option).split(",") if n.strip()]
        except ValueError:
            parser.error(f"--{option} takes comma-separated counts, e.g. 1,2")
        if counts and (min(counts) < 1 or max(counts) > 6):
            parser.error(f"--{option} counts must be 1 to 6 (the topics have 6 partitions)")
        setattr(args, option, counts)
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


def stable_with(c: Components, group: str, members: int) -> bool:
    """The group is stable, with ``members`` members each holding partitions."""
    group = c.topics.prefix + group
    client = admin(c.settings)  # held: a collected client never completes its futures
    try:
        found = client.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=15)
    except Exception:
        return False
    holding = [m for m in found.members if m.assignment and m.assignment.topic_partitions]
    return bool(found.state == ConsumerGroupState.STABLE and len(holding) == members)


def _components(bootstrap_servers: str, workdir: Path, tag: str) -> Components:
    stamp = time.strftime("%Y%m%d%H%M%S")
    settings = Settings(
        bootstrap_servers=bootstrap_servers,
        topic_prefix=f"scale{stamp}-{tag}.",
        partitions=6,
        state_dir=workdir / "bench",
        schemas_dir=shutil.copytree(Settings().schemas_dir, workdir / "schemas"),
    )
    return bootstrap(settings)


def _measure(
    c: Components,
    row: ScaleRow,
    procs: list[WriterProcess],
    group: str,
    progress: GroupProgress,
    backlog: Callable[[], int],
    timeout: float,
) -> None:
    """The processes join on empty topics first; once ``group`` is stable with each holding
    partitions, ``backlog()`` publishes the work (far faster than they take it, so they are
    never starved) and the window runs from there to the last record done."""
    try:
        deadline = time.monotonic() + 180
        while not stable_with(c, group, len(procs)):
            if time.monotonic() > deadline or not all(p.alive() for p in procs):
                raise RuntimeError(f"the group never held {len(procs)} processes; see {procs[0].log}")
            time.sleep(0.1)
        began, cpu_before = time.monotonic(), sum(p.cpu() for p in procs)
        row.join = began - min(p.started for p in procs)
        total = backlog()
        ended = progress.wait_for(total, timeout, procs)
        row.cpu = sum(p.cpu() for p in procs) - cpu_before
        row.seconds, row.commands = ended - began, total
        if not stable_with(c, group, len(procs)):
            row.problems.append("the group was not stable at the end (a process left or rebalanced)")
    finally:
        for p in procs:
            p.stop()
        progress.close()


def _start(c: Components, workdir: Path, count: int, command: tuple[str, ...]) -> list[WriterProcess]:
    tag = uuid.uuid4().hex[:6]
    return [
        WriterProcess(
            c, f"scale-{tag}-{i}", workdir / f"proc-{i}", workdir / f"proc-{i}.log", command
        ).start()
        for i in range(count)
    ]


def run_writers(bootstrap_servers: str, workdir: Path, writers: int, orders: int, timeout: float) -> ScaleRow:
    c = _components(bootstrap_servers, workdir, f"w{writers}")
    row = ScaleRow(writers)
    commands = orders * EVENTS_PER_ORDER
    create_topics(c.settings, c.topics)

    def backlog() -> int:
        say(f"{writers} writer(s) joined; publishing {commands:,} commands")
        publish_orders(c, orders)
        return commands

    try:
        procs = _start(c, workdir, writers, WRITER)
        _measure(c, row, procs, WRITER_GROUP, GroupProgress(c), backlog, timeout)
    finally:
        _cleanup(c)
    return row


def publish_requests(c: Components, orders: int) -> None:
    """One F&O send-to-fulfillment request per journey-1 order, as the writer's outbox sends it
    (the order's snapshot after its create), for the connectors alone, without the writer."""
    producer = Producer(producer_config(c.settings))
    topic, now = c.topics.provider_requests(Provider.FNO), datetime.now(UTC)
    for i, commands in enumerate(journey1_orders(orders)):
        state = process(commands[0], None, None, c.transitions).state
        assert state is not None
        request = ProviderActionRequest(
            action_id=f"scale-{i}",
            order_id=state.order_id,
            provider=Provider.FNO,
            action=ActionType.SEND_TO_FULFILLMENT,
            step="send_to_fno",
            attempt=1,
            not_before=now,
            deadline=now + timedelta(hours=1),
            correlation_id=state.order_id,
            order=state.snapshot(),
        )
        key = state.order_id
        producer.produce(
            topic,
            key=key.encode(),
            value=c.codec.encode(request),
            partition=partition_for(key, c.topics.partitions),
        )
        producer.poll(0)
    producer.flush(120)


def run_connectors(
    bootstrap_servers: str, workdir: Path, count: int, requests: int, timeout: float
) -> ScaleRow:
    c = _components(bootstrap_servers, workdir, f"c{count}")
    row = ScaleRow(count)
    create_topics(c.settings, c.topics)

    def backlog() -> int:
        say(f"{count} connector process(es) joined; publishing {requests:,} F&O requests")
        publish_requests(c, requests)
        return requests

    try:
        procs = _start(c, workdir, count, STAND_IN_CONNECTORS)
        answered = AnswersProgress(c, ANSWERS_PER_REQUEST)
        _measure(c, row, procs, CONNECTOR_GROUP, answered, backlog, timeout)
    finally:
        _cleanup(c)
    return row


def _cleanup(c: Components) -> None:
    drop_run_topics(c.settings)


def _times(value: float | None) -> str:
    return f"{value:.2f}x" if value is not None else "-"


def section(rows: Sequence[ScaleRow], kind: str, unit: str, target: float | None) -> list[str]:
    """One table (writers or connectors), against the one-process row, and its target if any."""
    header = (
        f"  {kind:>10} {unit:>9} {'seconds':>8} {'per s':>9} {'cpu s':>7} {'per cpu-s':>9}"
        f" {'x one (wall)':>12} {'x one (cpu)':>11} {'join s':>7}"
    )
    lines = [
        "",
        f"{kind} (the window: group stable, backlog published -> its last {unit[:-1]} done; "
        "cpu: all the processes):",
        header,
        "  " + "-" * (len(header) - 2),
    ]
    one = next((r for r in rows if r.writers == 1), None)
    for r in rows:
        wall = _times(speedup(r, one)) if one else "-"
        cpu = _times(efficiency(r, one)) if one else "-"
        lines.append(
            f"  {r.writers:>10} {r.commands:>9,} {r.seconds:>8.2f} {r.rate:>9,.0f} {r.cpu:>7.2f}"
            f" {r.per_cpu:>9,.0f} {wall:>12} {cpu:>11} {r.join:>7.2f}"
        )
    two = next((r for r in rows if r.writers == 2), None)
    if one and two and target is not None:
        measured = efficiency(two, one) or 0.0
        verdict = "met" if measured >= target else "MISSED"
        lines.append(f"  target: 2 {kind}' per cpu-s / one's: {measured:.2f}x (>= {target}x) {verdict}")
    lines += [f"  PROBLEM, {r.writers} {kind}: {p}" for r in rows for p in r.problems]
    return lines


def render(sections: list[str], command: str, facts: dict[str, str]) -> str:
    lines = ["", f"command: {command}", "", "machine:"]
    lines += [f"  {key:<28} {value}" for key, value in facts.items()]
    lines.append(f"  {'load average after the run':<28} {machine.load_average()}")
    return "\n".join([*lines, *sections]) + "\n"


def _each(counts: list[int], run: Callable[[Path, int], ScaleRow], kind: str) -> list[ScaleRow]:
    rows = []
    for count in counts:
        workdir = Path(tempfile.mkdtemp(prefix=f"oms-scale-{kind}{count}-"))
        try:
            rows.append(run(workdir, count))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    broker = acquire(args.bootstrap)
    servers = broker.bootstrap_servers
    facts = machine.facts(broker.version)
    say(f"machine: {facts['nproc']} cores, load {facts['load average (1 5 15 min)']}")
    sections: list[str] = []
    try:
        if args.writers:
            rows = _each(
                args.writers, lambda w, n: run_writers(servers, w, n, args.orders, args.timeout), "w"
            )
            sections += section(rows, "writers", "commands", CPU_TARGET)
        if args.connectors:
            rows = _each(
                args.connectors, lambda w, n: run_connectors(servers, w, n, args.orders, args.timeout), "c"
            )
            sections += section(rows, "connectors", "requests", None)
    finally:
        broker.stop()
    command = "python -m bench.scale " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    sys.stdout.write(render(sections, command, facts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
