"""Which broker the benchmark talks to: the configured one if it answers, else its own.

A broker the benchmark started is stopped at the end; one it found is left running.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient

from bench.progress import say
from streams.settings import Settings

OWN_PORT = 29092


@dataclass
class Broker:
    bootstrap_servers: str
    version: str
    started_here: bool
    handle: Any = None
    """The ``LocalBroker`` when this benchmark started it."""

    def stop(self) -> None:
        if self.started_here and self.handle is not None:
            say(f"stopping the broker this benchmark started on {self.bootstrap_servers}")
            self.handle.stop()


def answers(bootstrap_servers: str, timeout: float = 3.0) -> bool:
    client = AdminClient(
        {
            "bootstrap.servers": bootstrap_servers,
            "socket.connection.setup.timeout.ms": int(timeout * 1000),
            "log_level": 0,
        }
    )
    try:
        return bool(client.list_topics(timeout=timeout).brokers)
    except Exception:
        return False


def acquire(bootstrap_servers: str | None) -> Broker:
    """``bootstrap_servers`` (or ``KAFKA_BOOTSTRAP_SERVERS``) if it answers, else a LocalBroker."""
    candidate = bootstrap_servers or Settings.from_env().bootstrap_servers
    if answers(candidate):
        say(f"using the broker at {candidate}")
        return Broker(candidate, detect_version(candidate), started_here=False)
    try:
        from devkit.local_broker import LocalBroker
    except ImportError as exc:
        raise SystemExit(
            f"no broker answers at {candidate} and devkit.local_broker is not "
            "available: start one and set KAFKA_BOOTSTRAP_SERVERS"
        ) from exc
    local = LocalBroker(home=Settings.from_env().kafka_home, port=OWN_PORT)
    if local.is_running():
        say(f"no broker at {candidate}; using the local broker already running on {OWN_PORT}")
        return Broker(local.bootstrap_servers, local.version, started_here=False)
    say(f"no broker at {candidate}; starting a local broker on port {OWN_PORT}")
    local.start()
    return Broker(local.bootstrap_servers, local.version, started_here=True, handle=local)


def _port(bootstrap_servers: str) -> int | None:
    match = re.search(r":(\d+)\s*$", bootstrap_servers.split(",")[0])
    return int(match.group(1)) if match else None


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(inode)
    return inodes


def listener(bootstrap_servers: str) -> Path | None:
    """The /proc folder of the process on this machine that listens on the first bootstrap
    address's port (the broker, when it runs here), or None."""
    port = _port(bootstrap_servers)
    if port is None:
        return None
    sockets = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(fd.readlink().as_posix() in sockets for fd in (proc / "fd").iterdir()):
                return proc
        except OSError:
            continue
    return None


def detect_version(bootstrap_servers: str) -> str:
    """The Kafka version of a broker on this machine, from the jars its process runs.

    Kafka does not tell clients its version; for a local broker the process listening on
    the port names its classpath. Anything else reports "unknown".
    """
    proc = listener(bootstrap_servers)
    if proc is not None:
        try:
            argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
            cwd = (proc / "cwd").resolve()
        except OSError:
            return "unknown"
        if "-cp" in argv:
            for entry in argv[argv.index("-cp") + 1].split(":"):
                folder = (cwd / entry).parent
                for jar in sorted(folder.glob("kafka_*.jar")):
                    found = re.fullmatch(r"kafka_[\d.]+-(\d[\w.]*)\.jar", jar.name)
                    if found:
                        return found.group(1)
    return "unknown"


def drop_run_topics(settings: Settings) -> None:
    """Delete the topics a bench run made (its prefix), or say how to."""
    from streams.adapters.kafka import admin, delete_topics

    prefix = settings.topic_prefix
    try:
        names = [t for t in admin(settings).list_topics(timeout=30).topics if t.startswith(prefix)]
        delete_topics(settings, names)
        say(f"deleted {len(names)} topics named {prefix}*")
    except Exception as exc:
        say(f"cleanup failed: {exc}; delete the topics named {prefix}* by hand")
