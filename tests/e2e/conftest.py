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

from devkit.session_broker import session_kafka

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
    """The bootstrap servers of a broker that answers (``devkit.session_broker``)."""
    with session_kafka() as bootstrap_servers:
        yield bootstrap_servers


@pytest.fixture
def topic_prefix() -> str:
    return f"e{uuid.uuid4().hex[:8]}."
