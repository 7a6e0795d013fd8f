"""A single-node KRaft Kafka broker on this machine, for development, tests and the demo,
and a cluster of N such nodes (``LocalCluster``) for replication and failover.

No Docker needed: the broker jars come from Maven Central (``deploy/kafka/pom.xml``, fetched
once with ``mvn``) and run on the local JVM. Everything lives under one cache root::

    <home>/kafka-<version>/libs/          the jars, shared by every port
    <home>/broker-<port>/data/            the KRaft metadata and topic logs
    <home>/broker-<port>/logs/broker.log  the broker's stdout/stderr (WARN and up)
    <home>/broker-<port>/server.properties, log4j.properties, broker.pid
    <home>/cluster-<port>/cluster.id      a cluster's id, shared by its nodes
    <home>/cluster-<port>/node-<n>/       each node laid out as a broker dir

``stop()`` only ever signals the process this class started (checked through
``/proc/<pid>/cmdline``), so a stale pid file can never take down an unrelated process.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from confluent_kafka.admin import AdminClient, ClusterMetadata  # type: ignore[attr-defined]

from streams.adapters.kafka import Replication
from streams.settings import REPO_ROOT

DEFAULT_POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
HOST = "127.0.0.1"
HEAP_OPTS = ("-Xmx768m", "-Xms256m")
LOG_TAIL_LINES = 30

Say = Callable[[str], None]


class LocalBrokerError(RuntimeError):
    """The local broker could not be fetched, started or stopped; the message says what to do."""


def _say_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _silent_logger() -> logging.Logger:
    """A logger that swallows librdkafka's "Connection refused" noise while we poll."""
    logger = logging.getLogger("devkit.local_broker.librdkafka")
    logger.propagate = False
    logger.setLevel(logging.CRITICAL + 1)
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    return logger


def _quiet_admin(bootstrap_servers: str, timeout: float) -> AdminClient:
    return AdminClient(
        {
            "bootstrap.servers": bootstrap_servers,
            "log_level": 0,
            "socket.connection.setup.timeout.ms": max(1000, int(timeout * 1000)),
        },
        logger=_silent_logger(),
        error_cb=lambda _err: None,
    )


def broker_count(bootstrap_servers: str, timeout: float = 3.0) -> int:
    """How many live brokers the cluster at ``bootstrap_servers`` reports (0: nobody answered)."""
    try:
        metadata = _quiet_admin(bootstrap_servers, timeout).list_topics(timeout=timeout)
    except Exception:
        return 0
    return len(metadata.brokers)


def broker_answers(bootstrap_servers: str, timeout: float = 3.0) -> bool:
    """True when a broker at ``bootstrap_servers`` answers a metadata request within ``timeout``."""
    return broker_count(bootstrap_servers, timeout) > 0


def kafka_version(pom: Path) -> str:
    """The ``kafka.version`` property of the pom: the single place the broker version is pinned."""
    try:
        root = ET.parse(pom).getroot()
    except (OSError, ET.ParseError) as exc:
        raise LocalBrokerError(f"cannot read the Kafka version from {pom}: {exc}") from exc
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == "kafka.version" and element.text:
            return element.text.strip()
    raise LocalBrokerError(f"{pom} has no <kafka.version> property")


def random_cluster_id() -> str:
    """A KRaft cluster id, like ``StorageTool random-uuid`` but without starting a JVM.

    Kafka's Uuid is 16 random bytes in unpadded URL-safe base64; it never starts with "-".
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def port_in_use(port: int, host: str = HOST) -> bool:
    """True when something listens on ``host:port`` (SO_REUSEADDR as the JVM: TIME_WAIT is free)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    return False


def _listening(port: int, host: str = HOST) -> bool:
    """True when ``host:port`` accepts connections (unlike a bind probe, never races the broker)."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _pid_state(pid: int) -> str | None:
    """The /proc state letter of ``pid`` (``None`` if it does not exist)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (comm) S ..." -- comm may contain spaces and parentheses.
    return stat.rsplit(")", 1)[-1].split()[0]


def _alive(pid: int) -> bool:
    """Exists and is not a zombie (an exited child of ours that nobody has waited for yet)."""
    state = _pid_state(pid)
    return state is not None and state not in ("Z", "X")


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path``; distinct files, as nested locks need (flock is per file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with path.open(errors="replace") as f:
            return "".join(deque(f, maxlen=lines)).rstrip() or "(the log is empty)"
    except OSError:
        return "(no log yet)"


class LocalKafka(Protocol):
    """What ``oms broker`` drives: a ``LocalBroker`` or a ``LocalCluster``."""

    version: str

    @property
    def bootstrap_servers(self) -> str: ...
    @property
    def libs_dir(self) -> Path: ...
    @property
    def data_dir(self) -> Path: ...
    @property
    def logs(self) -> str: ...
    def fetch(self) -> None: ...
    def start(self, timeout: float = ...) -> None: ...
    def stop(self, timeout: float = ...) -> bool: ...
    def is_running(self) -> bool: ...
    def status(self) -> str: ...
    def reset(self) -> None: ...


class LocalBroker:
    """Fetches, formats, starts and stops one local single-node KRaft broker per port."""

    heap_opts: tuple[str, ...] = HEAP_OPTS

    def __init__(
        self,
        home: Path,
        port: int = 9092,
        controller_port: int | None = None,
        pom: Path = DEFAULT_POM,
        say: Say = _say_stderr,
    ) -> None:
        self.home = Path(home).expanduser().resolve()
        self.port = port
        self.controller_port = port + 1 if controller_port is None else controller_port
        self.pom = pom
        self.say = say
        self.version = kafka_version(pom)
        self._proc: subprocess.Popen[bytes] | None = None

    # -- layout -----------------------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def kafka_dir(self) -> Path:
        return self.home / f"kafka-{self.version}"

    @property
    def libs_dir(self) -> Path:
        return self.kafka_dir / "libs"

    @property
    def broker_dir(self) -> Path:
        return self.home / f"broker-{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.broker_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.broker_dir / "logs" / "broker.log"

    @property
    def logs(self) -> str:
        return str(self.log_file)

    @property
    def server_properties(self) -> Path:
        return self.broker_dir / "server.properties"

    @property
    def log4j_properties(self) -> Path:
        return self.broker_dir / "log4j.properties"

    @property
    def pid_file(self) -> Path:
        return self.broker_dir / "broker.pid"

    def is_fetched(self) -> bool:
        return self.libs_dir.is_dir() and any(self.libs_dir.glob("kafka_*.jar"))

    @property
    def cli_args(self) -> str:
        """The ``oms broker`` arguments that name this broker, for hints in error messages."""
        return f"--port {self.port}"

    @property
    def port_hint(self) -> str:
        return "the controller uses port+1"

    def cluster_id(self) -> str:
        """The KRaft cluster id to format a fresh data dir with: a new one per single broker."""
        return random_cluster_id()

    # -- fetch ------------------------------------------------------------------------------

    def fetch(self) -> None:
        """Download the broker jars once; a temp dir and a rename keep a half download invisible."""
        if self.is_fetched():
            return
        mvn = shutil.which("mvn")
        if mvn is None:
            raise LocalBrokerError(
                "Maven (mvn) is needed once to fetch the Kafka jars: install it "
                "(Debian: apt-get install maven) or run a broker yourself and set "
                "KAFKA_BOOTSTRAP_SERVERS."
            )
        self.home.mkdir(parents=True, exist_ok=True)
        with self._lock(f".fetch-{self.version}.lock"):
            if self.is_fetched():  # another process fetched while we waited for the lock
                return
            self.say(f"fetching Kafka {self.version} jars from Maven Central (first run only)...")
            started = time.monotonic()
            tmp = Path(tempfile.mkdtemp(prefix=f".kafka-{self.version}-", dir=self.home))
            try:
                shutil.copy(self.pom, tmp / "pom.xml")  # mvn writes nothing into the repo
                staged = tmp / self.kafka_dir.name
                command = [
                    mvn,
                    "-q",
                    "-B",
                    "-f",
                    str(tmp / "pom.xml"),
                    "dependency:copy-dependencies",
                    f"-DoutputDirectory={staged / 'libs'}",
                    "-DincludeScope=runtime",
                ]
                result = subprocess.run(command, cwd=tmp, capture_output=True, text=True, check=False)
                if result.returncode != 0 or not any((staged / "libs").glob("kafka_*.jar")):
                    output = (result.stdout + result.stderr).strip().splitlines()
                    raise LocalBrokerError(
                        f"mvn failed (exit {result.returncode}) fetching Kafka {self.version}:\n"
                        + "\n".join(output[-LOG_TAIL_LINES:])
                        + "\nCheck access to Maven Central (proxy settings in ~/.m2/settings.xml)."
                    )
                if self.kafka_dir.exists():  # an older, incomplete layout: replace it
                    shutil.rmtree(self.kafka_dir)
                staged.rename(self.kafka_dir)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            jars = len(list(self.libs_dir.glob("*.jar")))
            elapsed = time.monotonic() - started
            self.say(f"fetched {jars} jars into {self.libs_dir} in {elapsed:.0f}s")

    # -- start ------------------------------------------------------------------------------

    def start(self, timeout: float = 60) -> None:
        """Start the broker (idempotent) and return once it answers a metadata request."""
        with self._lock():
            pid, spawned = self._launch()
            try:
                self._wait_ready(pid, timeout)
            except BaseException:
                if spawned:
                    self._discard(pid)
                raise

    def _launch(self) -> tuple[int, bool]:
        """The pid of the running broker, spawning it first if need be (True: just spawned)."""
        pid = self.pid()
        if pid is not None:
            return pid, False
        self.pid_file.unlink(missing_ok=True)  # stale: its process is gone or not ours
        self._check_ports_free()
        self.fetch()
        java = self._java()
        self._write_configs()
        if not (self.data_dir / "meta.properties").exists():
            self._format(java)
        return self._spawn(java), True

    def _discard(self, pid: int) -> None:
        """Take down a broker that failed to come up, so the next start begins afresh."""
        self._terminate(pid, timeout=10)
        self.pid_file.unlink(missing_ok=True)

    def _check_ports_free(self) -> None:
        for name, port in (("broker", self.port), ("controller", self.controller_port)):
            if port_in_use(port):
                hint = (
                    " If it is a Kafka broker you run yourself, use it instead: "
                    f"export KAFKA_BOOTSTRAP_SERVERS={HOST}:{port}."
                    if name == "broker"
                    else ""
                )
                raise LocalBrokerError(
                    f"cannot start the local broker: {HOST}:{port} (its {name} port) is already "
                    "in use by another process. Stop that process, or pick other ports with "
                    f"--port ({self.port_hint}).{hint}"
                )

    def _java(self) -> str:
        java_home = os.environ.get("JAVA_HOME")
        java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
        if not java or not os.access(java, os.X_OK):
            raise LocalBrokerError(
                "Java 17+ is needed to run the local broker: install it "
                "(Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME."
            )
        return java

    def server_config(self) -> dict[str, str]:
        """The broker's server.properties: one combined broker and controller, node 1."""
        return {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{HOST}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{HOST}:{self.port},CONTROLLER://{HOST}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": "6",
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # On restart the controller refuses the broker's new registration until the old
            # session expires (default 9 s): a short session makes restarts ~3 s, not ~13 s.
            # In a cluster it is also how soon a killed node is fenced and leaves the ISRs.
            "broker.session.timeout.ms": "3000",
            "broker.heartbeat.interval.ms": "500",
        }

    def _write_configs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        server = self.server_config()
        header = "# Written by devkit.local_broker on every start: edits are lost.\n"
        self.server_properties.write_text(
            header + "".join(f"{key}={value}\n" for key, value in server.items())
        )
        self.log4j_properties.write_text(
            header
            + "log4j.rootLogger=WARN, stdout\n"
            + "log4j.appender.stdout=org.apache.log4j.ConsoleAppender\n"
            + "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout\n"
            + "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
            + "log4j.logger.kafka.server.BrokerServer=INFO\n"
            + "log4j.logger.kafka.server.KafkaRaftServer=INFO\n"
        )

    def _java_command(self, java: str, main: str, *args: str) -> list[str]:
        return [
            java,
            *self.heap_opts,
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{self.log4j_properties}",
            "-cp",
            f"{self.libs_dir}/*",
            main,
            *args,
        ]

    def _format(self, java: str) -> None:
        """Format the KRaft storage once per data dir: the broker refuses to start without it."""
        command = self._java_command(
            java,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            self.cluster_id(),
            "-c",
            str(self.server_properties),
        )
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise LocalBrokerError(
                f"formatting {self.data_dir} failed (exit {result.returncode}):\n"
                + (result.stdout + result.stderr).strip()
                + f"\nIf the data dir is damaged, `oms broker reset {self.cli_args}` wipes it."
            )

    def _spawn(self, java: str) -> int:
        if self.log_file.exists():  # keep one previous log for post-mortems
            self.log_file.replace(self.log_file.with_name(self.log_file.name + ".1"))
        command = self._java_command(java, "kafka.Kafka", str(self.server_properties))
        with self.log_file.open("wb") as log:
            self._proc = subprocess.Popen(
                command,
                cwd=self.broker_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # survives Ctrl-C in the shell that started it
            )
        self.pid_file.write_text(f"{self._proc.pid}\n")
        return self._proc.pid

    def _wait_ready(self, pid: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not self._alive(pid):
                code = self._proc.poll() if self._proc and self._proc.pid == pid else None
                raise LocalBrokerError(self._failure(f"the broker exited during startup (exit code {code})"))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LocalBrokerError(
                    self._failure(
                        f"the broker did not answer on {self.bootstrap_servers} within {timeout:g}s"
                    )
                )
            if _listening(self.port) and broker_answers(
                self.bootstrap_servers, timeout=min(2.0, max(remaining, 0.5))
            ):
                return
            time.sleep(0.2)

    def _failure(self, what: str) -> str:
        return (
            f"{what}. Last {LOG_TAIL_LINES} lines of {self.log_file}:\n"
            f"{_tail(self.log_file)}\n"
            f"Fix the cause above and run `oms broker start {self.cli_args}` again; if the "
            f"data dir is damaged, `oms broker reset {self.cli_args}` wipes it."
        )

    # -- stop -------------------------------------------------------------------------------

    def stop(self, timeout: float = 30) -> bool:
        """Stop the broker this class started; True if one was running. Never signals others."""
        if not self.broker_dir.is_dir():
            return False
        with self._lock():
            pid = self._read_pid()
            if pid is None:
                return False
            if not self._is_our_broker(pid):
                self.say(
                    f"{self.pid_file} names pid {pid}, which is not this broker: "
                    "left it alone and removed the stale pid file"
                )
                self.pid_file.unlink(missing_ok=True)
                return False
            self._terminate(pid, timeout)
            self.pid_file.unlink(missing_ok=True)
            return True

    def _terminate(self, pid: int, timeout: float) -> None:
        """SIGTERM (a clean controlled shutdown), then SIGKILL if it outlives ``timeout``."""
        if not self._is_our_broker(pid) or self._signal(pid, signal.SIGTERM, timeout):
            return
        self.say(f"broker pid {pid} ignored SIGTERM for {timeout:.0f}s: sending SIGKILL")
        if not self._signal(pid, signal.SIGKILL, 10.0):
            raise LocalBrokerError(f"broker pid {pid} survived SIGKILL")

    def _signal(self, pid: int, sig: signal.Signals, wait: float) -> bool:
        """Send ``sig`` and wait up to ``wait`` seconds; True once the process is gone."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not self._alive(pid):
                return True
            time.sleep(0.1)
        return False

    def kill(self) -> int | None:
        """SIGKILL the broker, as a crash would: no controlled shutdown. Its pid, or None.

        Its data stays: ``start()`` brings it back (recovering its logs), as after a power cut.
        """
        with self._lock():
            pid = self.pid()
            if pid is None:
                return None
            if not self._signal(pid, signal.SIGKILL, 10.0):
                raise LocalBrokerError(f"broker pid {pid} survived SIGKILL")
            self.pid_file.unlink(missing_ok=True)
            return pid

    def _alive(self, pid: int) -> bool:
        if self._proc is not None and self._proc.pid == pid:
            return self._proc.poll() is None  # also reaps it, so no zombie is left behind
        return _alive(pid)

    def _read_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def _is_our_broker(self, pid: int) -> bool:
        """A live java running kafka.Kafka on *this* server.properties, not merely a reused pid."""
        if not self._alive(pid):
            return False
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            return False
        return (
            bool(argv)
            and Path(argv[0]).name == "java"
            and "kafka.Kafka" in argv
            and str(self.server_properties) in argv
        )

    def pid(self) -> int | None:
        """The pid of this broker if it runs (a stale or foreign pid file gives None)."""
        pid = self._read_pid()
        return pid if pid is not None and self._is_our_broker(pid) else None

    def _lock(self, name: str | None = None) -> contextlib.AbstractContextManager[None]:
        """Serialise start/stop/fetch across processes (a test session and a shell, say)."""
        return _flock(self.home / (name or f".broker-{self.port}.lock"))

    # -- queries ----------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self.pid() is not None

    def status(self) -> str:
        pid = self.pid()
        if pid is not None:
            answering = broker_answers(self.bootstrap_servers, timeout=3.0)
            state = "answering" if answering else "NOT answering metadata requests yet"
            return (
                f"Kafka {self.version} broker running on {self.bootstrap_servers} (pid {pid}), "
                f"{state}; data {self.data_dir}, log {self.log_file}"
            )
        if _listening(self.port):
            return f"local broker not running; {self.bootstrap_servers} is in use by another process"
        fetched = "jars fetched" if self.is_fetched() else "jars not fetched yet"
        return f"local broker on {self.bootstrap_servers} not running ({fetched})"

    def reset(self) -> None:
        """Stop the broker and wipe its data: every topic and offset is gone afterwards."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


CLUSTER_HEAP_OPTS = ("-Xmx512m", "-Xms128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
"""Three JVMs share two cores: a small heap, one GC thread and no C2 compiler (less CPU spent
warming up; a development cluster never needs peak throughput)."""


class ClusterNode(LocalBroker):
    """One combined broker+controller of a ``LocalCluster``: its own ports, dir and log.

    Node ``n`` listens on ``port + 2(n-1)`` and its controller on the port after, so node 1
    is laid out as a single broker on the same port would be. Its public start/kill work
    on their own (``LocalCluster.restart``/``kill`` use them); a fresh cluster must start
    all nodes together, as no node answers before a quorum of controllers has formed.
    """

    heap_opts = CLUSTER_HEAP_OPTS

    def __init__(self, cluster: LocalCluster, node_id: int) -> None:
        super().__init__(
            cluster.home, port=cluster.port + 2 * (node_id - 1), pom=cluster.pom, say=cluster.say
        )
        self.cluster = cluster
        self.node_id = node_id

    @property
    def broker_dir(self) -> Path:
        return self.cluster.cluster_dir / f"node-{self.node_id}"

    @property
    def cli_args(self) -> str:
        return self.cluster.cli_args

    @property
    def port_hint(self) -> str:
        return "node n uses port+2(n-1), its controller the port after"

    def cluster_id(self) -> str:
        return self.cluster.cluster_id()

    def server_config(self) -> dict[str, str]:
        """The single broker's config with this node's id, every voter and replicated internals."""
        copies = Replication.for_brokers(self.cluster.size)
        factor, min_isr = str(copies.factor), str(copies.min_insync)
        return {
            **super().server_config(),
            "node.id": str(self.node_id),
            "controller.quorum.voters": self.cluster.voters,
            "default.replication.factor": factor,
            # Topics created by others (Faust's leader topics) hold the same promise as ours.
            "min.insync.replicas": min_isr,
            "offsets.topic.replication.factor": factor,
            "transaction.state.log.replication.factor": factor,
            "transaction.state.log.min.isr": min_isr,
            "share.coordinator.state.topic.replication.factor": factor,
            "share.coordinator.state.topic.min.isr": min_isr,
            # A controlled shutdown waits (up to 5 min) for the controller quorum to move the
            # node's leaders away: the last nodes of a cluster being stopped never get that
            # answer. Without it a stopped node is handled as a lost one, after the 3 s
            # session timeout, and still closes its logs cleanly.
            "controlled.shutdown.enable": "false",
            "num.network.threads": "2",
            "num.io.threads": "2",
        }


class ClusterQueries:
    """What the fault-injection tests ask of a multi-node cluster, over its bootstrap servers:
    shared by ``LocalCluster`` and the Docker Compose cluster (``devkit.docker_brokers``)."""

    @property
    def bootstrap_servers(self) -> str:
        raise NotImplementedError

    def _metadata(self, timeout: float = 10.0) -> ClusterMetadata:
        return _quiet_admin(self.bootstrap_servers, timeout).list_topics(timeout=timeout)

    def leader(self, topic: str, partition: int = 0) -> int:
        """The node that leads ``topic``'s ``partition`` now."""
        try:
            return int(self._metadata().topics[topic].partitions[partition].leader)
        except KeyError:
            raise LocalBrokerError(f"{topic}[{partition}] is not on the cluster") from None

    def under_replicated(self) -> int:
        """Partitions with fewer in-sync replicas than replicas (a node is down or catching up)."""
        topics = self._metadata().topics.values()
        return sum(len(p.isrs) < len(p.replicas) for t in topics for p in t.partitions.values())

    def wait_in_sync(self, timeout: float = 60) -> None:
        """Until every partition has all its replicas in sync again (after a restart, say)."""
        deadline = time.monotonic() + timeout
        while (behind := self.under_replicated()) > 0:
            if time.monotonic() > deadline:
                raise LocalBrokerError(f"{behind} partitions still under-replicated after {timeout:g}s")
            time.sleep(0.2)


class LocalCluster(ClusterQueries):
    """N combined broker+controller KRaft nodes on loopback, from the same jars as LocalBroker.

    Combined nodes rather than three controllers plus three brokers: three JVMs instead of
    six on a two-core machine, and losing one node still leaves two of three controller
    voters (a quorum) and two of three replicas (``min.insync.replicas``), so writes go on.
    Layout: ``<home>/cluster-<port>/cluster.id`` and ``node-<n>/`` (as a broker dir).

    For fault injection (the soak, tests): ``kill(n)`` SIGKILLs node ``n``, ``restart(n)``
    brings it back and waits until it has rejoined, ``wait_in_sync()`` until every replica
    has caught up again, ``leader(topic, partition)`` says which node to kill for effect.
    """

    def __init__(
        self, home: Path, nodes: int = 3, port: int = 9092, pom: Path = DEFAULT_POM, say: Say = _say_stderr
    ) -> None:
        if nodes < 2:
            raise ValueError("a cluster has at least 2 nodes; one node is a LocalBroker")
        self.home = Path(home).expanduser().resolve()
        self.port = port
        self.size = nodes
        self.pom = pom
        self.say = say
        self.nodes = {n: ClusterNode(self, n) for n in range(1, nodes + 1)}
        self.version = self.nodes[1].version

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(node.bootstrap_servers for node in self.nodes.values())

    @property
    def cluster_dir(self) -> Path:
        return self.home / f"cluster-{self.port}"

    @property
    def data_dir(self) -> Path:
        """Everything of the cluster: each node's data and logs, and the cluster id."""
        return self.cluster_dir

    @property
    def logs(self) -> str:
        return str(self.cluster_dir / "node-*" / "logs" / "broker.log")

    @property
    def voters(self) -> str:
        return ",".join(f"{n}@{HOST}:{node.controller_port}" for n, node in self.nodes.items())

    @property
    def cli_args(self) -> str:
        return f"--nodes {self.size} --port {self.port}"

    @property
    def libs_dir(self) -> Path:
        return self.nodes[1].libs_dir

    @classmethod
    def found(cls, home: Path, port: int, say: Say = _say_stderr) -> LocalCluster | None:
        """The cluster once started on ``port`` under ``home`` (its size from its node dirs)."""
        nodes = len(list((Path(home).expanduser() / f"cluster-{port}").glob("node-*")))
        return cls(home, nodes=nodes, port=port, say=say) if nodes >= 2 else None

    def node(self, node_id: int) -> ClusterNode:
        try:
            return self.nodes[node_id]
        except KeyError:
            raise LocalBrokerError(f"no node {node_id}: the cluster has nodes 1..{self.size}") from None

    def cluster_id(self) -> str:
        """One id for every node, made on the first format and kept until ``reset()``."""
        path = self.cluster_dir / "cluster.id"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(random_cluster_id() + "\n")
        return path.read_text().strip()

    def fetch(self) -> None:
        self.nodes[1].fetch()

    # -- lifecycle --------------------------------------------------------------------------

    def start(self, timeout: float = 120) -> None:
        """Start every node that is not running (idempotent); return once all are brokers."""
        deadline = time.monotonic() + timeout
        with self._lock():
            launched: list[tuple[ClusterNode, int, bool]] = []
            try:
                for node in self.nodes.values():  # all at once: none answers before a quorum
                    launched.append((node, *node._launch()))
                for node, pid, _ in launched:
                    node._wait_ready(pid, max(deadline - time.monotonic(), 1.0))
                self._wait_brokers(deadline)
            except BaseException:
                for node, pid, spawned in launched:
                    if spawned:
                        node._discard(pid)
                raise

    def stop(self, timeout: float = 30) -> bool:
        """Stop every node (SIGTERM, then SIGKILL); True if any was running."""
        with self._lock():
            running = [(node, pid) for node in self.nodes.values() if (pid := node.pid()) is not None]
            # SIGTERM to all at once, then wait: no node waits for the others (see server_config).
            for _, pid in running:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            for node, pid in running:
                node._terminate(pid, timeout)
                node.pid_file.unlink(missing_ok=True)
            return bool(running)

    def kill(self, node_id: int) -> int:
        """SIGKILL node ``node_id`` (a crash: no controlled shutdown); returns its pid."""
        pid = self.node(node_id).kill()
        if pid is None:
            raise LocalBrokerError(f"node {node_id} of the cluster on {self.port} is not running")
        return pid

    def restart(self, node_id: int, timeout: float = 60) -> None:
        """Start node ``node_id`` again on its data and wait until the cluster counts it."""
        deadline = time.monotonic() + timeout
        self.node(node_id).start(timeout)
        self._wait_brokers(deadline)

    def reset(self) -> None:
        """Stop every node and wipe the cluster: topics, offsets and the cluster id."""
        self.stop()
        shutil.rmtree(self.cluster_dir, ignore_errors=True)

    def _wait_brokers(self, deadline: float) -> None:
        """Until every running node's metadata lists all nodes as live brokers.

        Each node is asked, not the cluster: a node that does not know a new broker yet
        answers without it, and librdkafka then drops its connection to that broker along
        with any request in flight on it (a CreateTopics failing with _DESTROY_BROKER).
        """
        while True:
            seen = {n: broker_count(node.bootstrap_servers) for n, node in self.nodes.items()}
            if all(count == self.size for count in seen.values()):
                return
            if time.monotonic() > deadline:
                raise LocalBrokerError(
                    f"the nodes do not all see {self.size} brokers (node: brokers seen {seen}); "
                    "see the logs: " + ", ".join(str(n.log_file) for n in self.nodes.values())
                )
            time.sleep(0.2)

    def _lock(self) -> contextlib.AbstractContextManager[None]:
        return _flock(self.home / f".cluster-{self.port}.lock")

    # -- queries ----------------------------------------------------------------------------

    def running_nodes(self) -> list[int]:
        return [n for n, node in self.nodes.items() if node.is_running()]

    def is_running(self) -> bool:
        """Every node runs (a cluster with a killed node is degraded, not running)."""
        return len(self.running_nodes()) == self.size

    def is_known(self) -> bool:
        """A cluster was started on this port (its dir exists), running or not."""
        return self.cluster_dir.is_dir()

    def status(self) -> str:
        running = self.running_nodes()
        brokers = broker_count(self.bootstrap_servers) if running else 0
        lines = [
            f"Kafka {self.version} cluster of {self.size} nodes on {self.bootstrap_servers}: "
            f"{len(running)} running, {brokers} registered as brokers"
        ]
        lines += [f"  node {n}: {node.status()}" for n, node in self.nodes.items()]
        return "\n".join(lines)
