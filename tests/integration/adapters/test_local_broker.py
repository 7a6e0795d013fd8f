"""The local broker answers, and its stop() can never kill a process it did not start."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from devkit.local_broker import LocalBroker, LocalBrokerError
from devkit.session_broker import session_broker_port
from streams.settings import Settings


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "300"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_broker_answers_metadata(kafka_bootstrap: str) -> None:
    metadata = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10)

    assert metadata.brokers


def test_stop_leaves_a_foreign_pid_alone(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    broker = LocalBroker(home=tmp_path, port=free_port())
    broker.pid_file.parent.mkdir(parents=True)
    broker.pid_file.write_text(f"{sleeper.pid}\n")

    stopped = broker.stop(timeout=1)

    assert not stopped
    assert sleeper.poll() is None, "stop() killed a process it did not start"
    assert not broker.pid_file.exists(), "the stale pid file should be gone"


def test_stop_leaves_another_ports_broker_alone(kafka_bootstrap: str, tmp_path: Path) -> None:
    """A pid file naming a *real* Kafka broker, but not this one, is still refused."""
    session_broker = LocalBroker(
        home=Settings.from_env().kafka_home, port=session_broker_port(kafka_bootstrap)
    )
    pid = session_broker.pid()
    if pid is None:
        pytest.skip("the session uses an external broker (KAFKA_BOOTSTRAP_SERVERS)")
    other = LocalBroker(home=session_broker.home, port=free_port())
    other.pid_file.parent.mkdir(parents=True)  # fails rather than touch an existing broker dir
    other.pid_file.write_text(f"{pid}\n")
    try:
        assert not other.stop(timeout=1)
    finally:
        shutil.rmtree(other.broker_dir)
        (other.home / f".broker-{other.port}.lock").unlink(missing_ok=True)

    assert session_broker.is_running()
    AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10)


def test_start_says_when_the_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        broker = LocalBroker(home=tmp_path, port=port)

        with pytest.raises(LocalBrokerError, match=f"127.0.0.1:{port} .* already in use"):
            broker.start(timeout=5)
