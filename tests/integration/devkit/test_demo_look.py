"""The end of ``make demo`` on a terminal: the API and dashboard stay up, the printed URL
and commands work, and Ctrl-C stops it. Without a terminal there is nothing to look at."""

from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from devkit.demo_look import interactive
from streams.adapters.kafka import create_topics, delete_topics
from streams.bootstrap import bootstrap
from streams.settings import Settings

LOOK = (
    "from devkit.demo_look import look_around; import os, pathlib; "
    "look_around(dict(os.environ), pathlib.Path('{work}'), 'ORD-1')"
)


def _read_until(fd: int, pattern: str, timeout: float) -> str:
    seen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        seen += chunk
        if re.search(pattern, seen.decode(errors="replace")):
            return seen.decode(errors="replace")
    raise AssertionError(f"no {pattern!r} within {timeout}s in:\n{seen.decode(errors='replace')}")


def test_without_a_terminal_the_demo_does_not_stay() -> None:
    assert not interactive()  # pytest's stdout is captured, not a terminal


def test_on_a_terminal_the_dashboard_stays_up_with_working_commands_until_ctrl_c(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    prefix = f"look{uuid.uuid4().hex[:6]}."
    settings = Settings(bootstrap_servers=kafka_bootstrap, topic_prefix=prefix, partitions=3)
    c = bootstrap(settings)
    create_topics(settings, c.topics)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "OMS_TOPIC_PREFIX": prefix,
        "OMS_PARTITIONS": "3",
    }
    primary, secondary = pty.openpty()
    look = subprocess.Popen(
        [sys.executable, "-c", LOOK.format(work=tmp_path)],
        env=env,
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        start_new_session=True,
    )
    os.close(secondary)
    try:
        text = _read_until(primary, r"Press Ctrl-C", 90)
        url = re.search(r"dashboard:\s+(\S+)", text)
        assert url is not None
        with urllib.request.urlopen(url.group(1), timeout=5) as page:
            assert page.status == 200 and b"kafka-iom" in page.read()
        assert f"KAFKA_BOOTSTRAP_SERVERS={kafka_bootstrap} .venv/bin/oms show ORD-1" in text
        replay = subprocess.run(
            [sys.executable, "-m", "streams.cli", "replay", "--quiet"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert replay.returncode == 0 and "orders by status" in replay.stdout

        look.send_signal(signal.SIGINT)
        assert look.wait(30) == 0
    finally:
        if look.poll() is None:
            look.kill()
        os.close(primary)
        delete_topics(settings, [c.topics.topic(s.name) for s in c.topics.specs()])
