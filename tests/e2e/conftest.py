"""End-to-end fixtures: a broker, the project's processes as a user starts them, and a
headless Chromium for the dashboard.

Chromium comes from Debian (``apt-get install -y chromium``). Without it the browser
tests skip on a developer machine, and fail in CI (``CI=true``), where a skipped browser
test would hide a broken dashboard.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator

import pytest

from devkit.local_broker import LocalBroker, broker_answers
from streams.settings import Settings

TEST_BROKER_PORT = 39092
"""The integration tests' broker port: both tiers share one broker per session."""

CHROMIUM = os.environ.get("OMS_CHROMIUM", "/usr/bin/chromium")
INSTALL_HINT = "install it with: apt-get update && apt-get install -y chromium"


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium binary; skips (fails in CI) when it is not installed."""
    found = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    if found:
        return found
    message = f"no Chromium at {CHROMIUM} for the browser tests; {INSTALL_HINT}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """As in tests/integration: the env's broker if it answers, else 127.0.0.1:39092,
    started for the session when nothing answers there."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if external and broker_answers(external, timeout=5.0):
        yield external
        return
    broker = LocalBroker(home=Settings.from_env().kafka_home, port=TEST_BROKER_PORT)
    if broker.is_running() or broker_answers(broker.bootstrap_servers):
        if broker.is_running():
            broker.start()
        yield broker.bootstrap_servers
        return
    broker.start(timeout=120)
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()


@pytest.fixture
def topic_prefix() -> str:
    return f"e{uuid.uuid4().hex[:8]}."
