"""The test session's broker moves off 39092 when something else holds that port."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from devkit import session_broker
from devkit.local_broker import LocalBroker


@pytest.fixture
def squatter() -> Iterator[int]:
    """A port held by a listener that is not a Kafka broker."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Ports LocalBroker.start was called on, with no JVM behind them."""
    ports: list[int] = []
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setattr(session_broker, "use_docker", lambda: False)
    monkeypatch.setattr(session_broker, "broker_answers", lambda *_a, **_k: False)
    monkeypatch.setattr(LocalBroker, "is_running", lambda self: False)
    monkeypatch.setattr(LocalBroker, "start", lambda self, timeout=60: ports.append(self.port))
    monkeypatch.setattr(LocalBroker, "stop", lambda self, timeout=30: True)
    return ports


def test_a_held_port_moves_the_broker_below_the_ephemeral_range(
    squatter: int, started: list[int], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(session_broker, "TEST_BROKER_PORT", squatter)

    with session_broker.session_kafka() as bootstrap_servers:
        port = session_broker.session_broker_port(bootstrap_servers)

    assert port != squatter
    assert port in session_broker.FALLBACK_PORTS
    assert started == [port]
    assert f"127.0.0.1:{squatter}" in capsys.readouterr().err


def test_a_free_port_is_used_as_it_is(started: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    monkeypatch.setattr(session_broker, "port_in_use", lambda port: False)
    monkeypatch.setattr(session_broker, "TEST_BROKER_PORT", free)

    with session_broker.session_kafka() as bootstrap_servers:
        assert bootstrap_servers == f"127.0.0.1:{free}"

    assert started == [free]


def test_the_first_server_names_the_port() -> None:
    assert session_broker.session_broker_port("127.0.0.1:29092,127.0.0.1:29094") == 29092
