"""The project's processes as a user starts them, for the benches that count processes:
``oms writer`` processes (their CPU from /proc, their log lines), the writer group's progress
read from its committed offsets, and journey-1 commands published without holding them all.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from bench.progress import Ticker, say
from devkit.scenarios import journey1_orders
from streams.adapters.command_bus import CommandBus
from streams.adapters.kafka import consumer_config
from streams.bootstrap import Components
from streams.services.writer import WRITER_GROUP
from streams.settings import REPO_ROOT

EVENTS_PER_ORDER = 10
"""Journey 1: ten commands, each appending one event (``devkit.scenarios.journey1``)."""

_RESTORED = re.compile(r"partitions \[([\d, ]*)\]: restored (\d+) events in ([\d.]+)s")


def cpu_seconds_of(stat: str, ticks_per_second: int) -> float:
    """User + system CPU of a process (all its threads) from its ``/proc/<pid>/stat`` line.

    The command name (field 2) is in parentheses and may hold spaces, so fields are counted
    after its closing parenthesis: utime and stime are fields 14 and 15 of the line."""
    after = stat[stat.rindex(")") + 2 :].split()
    return (int(after[11]) + int(after[12])) / ticks_per_second


def restored_lines(lines: Iterator[str]) -> list[tuple[int, float]]:
    """(events, seconds) of each restore the writer logged, from its JSON log lines."""
    found = []
    for line in lines:
        try:
            message = json.loads(line).get("message", "")
        except (ValueError, AttributeError):
            continue
        match = _RESTORED.search(message)
        if match:
            found.append((int(match.group(2)), float(match.group(3))))
    return found


def first_line_after(lines: Iterator[str], contains: str, after: datetime) -> datetime | None:
    """When the first JSON log line after ``after`` whose message holds ``contains`` was written."""
    for line in lines:
        try:
            entry = json.loads(line)
            at = datetime.fromisoformat(entry["time"])
        except (ValueError, KeyError, TypeError):
            continue
        if at >= after and contains in str(entry.get("message", "")):
            return at
    return None


def publish_orders(components: Components, orders: int) -> float:
    """Journey-1 commands of ``orders`` orders to ``order.commands``; returns the seconds."""
    bus = CommandBus(components.settings, components.topics, components.codec)
    ticker = Ticker(5.0)
    began = time.monotonic()
    for sent, commands in enumerate(journey1_orders(orders), 1):
        for command in commands:
            bus.send(command)
        if sent % 1000 == 0 and ticker.due():
            say(f"publish: {sent:,} / {orders:,} orders")
    bus.flush(300)
    return time.monotonic() - began


WRITER = ("streams.cli", "writer")
"""``oms writer``."""
STAND_IN_CONNECTORS = ("devkit.fake_providers",)
"""The stand-in connectors of every provider, one process (``devkit.fake_providers``)."""


@dataclass
class WriterProcess:
    """One ``oms writer`` process (or another service: ``command``) on the run's topics,
    logging JSON lines to ``log``."""

    components: Components
    instance_id: str
    state_dir: Path
    log: Path
    command: tuple[str, ...] = WRITER
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    started_at: datetime | None = None
    """The wall clock at the start, to find this process's lines in a log shared across restarts."""

    def start(self) -> WriterProcess:
        settings = self.components.settings
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "OMS_TOPIC_PREFIX": settings.topic_prefix,
            "OMS_PARTITIONS": str(settings.partitions),
            "OMS_STATE_DIR": str(self.state_dir),
            "OMS_INSTANCE_ID": self.instance_id,
        }
        argv = [sys.executable, "-m", *self.command, "--log-format", "json", "--metrics-port", "0"]
        self.started, self.started_at = time.monotonic(), datetime.now(UTC)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=out, stderr=out)
        return self

    @property
    def store(self) -> Path:
        """Where ``oms writer`` keeps its RocksDB store."""
        return self.state_dir / f"writer-{self.instance_id}"

    def cpu(self) -> float:
        """CPU seconds so far (0 once it has exited)."""
        assert self.proc is not None
        try:
            stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        except OSError:
            return 0.0
        return cpu_seconds_of(stat, os.sysconf("SC_CLK_TCK"))

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def restores(self) -> list[tuple[int, float]]:
        with self.log.open(errors="replace") as lines:
            return restored_lines(lines)

    def up_after(self) -> float | None:
        """Seconds from this start to its "starting" line: Python start-up, the broker check
        and claiming the state folder, before the group join."""
        assert self.started_at is not None
        with self.log.open(errors="replace") as lines:
            at = first_line_after(lines, "starting", self.started_at)
        return (at - self.started_at).total_seconds() if at is not None else None

    def kill(self) -> None:
        """SIGKILL: no flush, no transaction commit, no leaving the group."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            say(f"writer {self.instance_id} did not stop in {timeout:.0f}s; killing it")
            self.kill()


class GroupProgress:
    """Records a group has committed on its input topic (default: the writer group's commands,
    committed in its transactions), summed over partitions."""

    def __init__(self, components: Components, group: str = WRITER_GROUP, topic: str | None = None) -> None:
        topics = components.topics
        self._consumer = Consumer(consumer_config(components.settings, topics.prefix + group))
        self._partitions = [TopicPartition(topic or topics.commands, p) for p in range(topics.partitions)]

    def committed(self) -> int:
        found = self._consumer.committed(self._partitions, timeout=10)
        return sum(max(tp.offset, 0) for tp in found)

    def wait_for(self, commands: int, timeout: float, alive: list[WriterProcess]) -> float:
        """Until ``commands`` are committed; returns when, on the monotonic clock."""
        deadline = time.monotonic() + timeout
        ticker = Ticker(5.0)
        while (done := self.committed()) < commands:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{done:,} of {commands:,} commands committed in {timeout:.0f}s")
            if not any(w.alive() for w in alive):
                raise RuntimeError(f"every writer exited; see {alive[0].log}")
            if ticker.due():
                say(f"{done:,} / {commands:,} records committed")
            time.sleep(0.2)
        return time.monotonic()

    def close(self) -> None:
        self._consumer.close()


class AnswersProgress(GroupProgress):
    """Requests answered, counted by the commands the stand-in connectors produced (plain
    produces: the high watermarks are the counts). Their group's committed offsets are not
    used: the last batch's commit lags until the next batch, which never comes."""

    def __init__(self, components: Components, per_request: int) -> None:
        super().__init__(components)
        self.per_request = per_request

    def committed(self) -> int:
        ends = [self._consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in self._partitions]
        return sum(ends) // self.per_request
