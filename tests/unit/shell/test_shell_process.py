"""A process whose broker goes away turns /ready false and says so once per interval."""

from __future__ import annotations

import logging
import socket

import pytest
from waits import wait_for

from streams.shell.health import Check, Readiness
from streams.shell.process import BrokerWatch, PortTaken, _health_server
from streams.shell.settings import Settings, WriterSettings


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_a_broker_that_stops_answering_turns_ready_false_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    readiness = Readiness([Check.BROKER])
    readiness.set(Check.BROKER, True, "was there")
    settings = Settings(bootstrap_servers=f"127.0.0.1:{_closed_port()}")
    watch = BrokerWatch(settings, readiness, every=0.05, warn_every=60, timeout=0.3)
    with caplog.at_level(logging.WARNING, logger="streams.shell.process"), watch.running():
        # several failed checks: still one warning
        wait_for("three failed checks", lambda: not readiness.ready and watch.checks >= 3, 20, every=0.05)
    assert not readiness.ready
    assert readiness.report()["checks"]["broker"]["detail"].endswith("does not answer")
    warnings = [r for r in caplog.records if "cannot reach the Kafka broker" in r.getMessage()]
    assert len(warnings) == 1


def test_a_metrics_port_asked_for_and_taken_is_a_message_not_a_traceback() -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        settings = WriterSettings(metrics_host="127.0.0.1", metrics_port=port)

        with pytest.raises(PortTaken, match=f"127.0.0.1:{port} .*OMS_METRICS_PORT"):
            _health_server(settings)
