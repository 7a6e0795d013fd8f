"""With the broker unreachable, every command says so (which address, what to check) within
10 s and exits non-zero, without a traceback or a flood of client lines; a long-running
process keeps trying, says so once per interval, and ``/ready`` is false."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from shell_processes import (
    closed_port,
    free_port,
    get,
    log_lines,
    oms_env,
    start_oms,
    stop_within_5s,
    wait_for,
)

from streams.settings import REPO_ROOT

COMMANDS = [
    ["show", "BC-1"],
    ["replay", "--quiet"],
    ["inventory", "show"],
    ["reprocess", "BC-1"],
    ["topics", "create"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda argv: " ".join(argv))
def test_a_command_says_the_broker_is_unreachable_and_exits(argv: list[str]) -> None:
    address = f"127.0.0.1:{closed_port()}"
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", *argv, "--bootstrap-servers", address],
        env=oms_env(),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=10,  # the deadline the operator is promised; expiring fails the test
    )
    assert done.returncode == 1
    assert f"cannot reach the Kafka broker at {address}" in done.stderr
    assert "KAFKA_BOOTSTRAP_SERVERS" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") < 15, done.stderr


def test_a_writer_waits_for_the_broker_and_is_not_ready(tmp_path: Path) -> None:
    metrics = free_port()
    address = f"127.0.0.1:{closed_port()}"
    log = tmp_path / "writer.log"
    env = oms_env(KAFKA_BOOTSTRAP_SERVERS=address, OMS_STATE_DIR=str(tmp_path / "state"))
    writer = start_oms(["writer", "--metrics-port", str(metrics)], env, log)
    base = f"http://127.0.0.1:{metrics}"
    wait_for("alive", lambda: get(f"{base}/health")[0] == 200, writer, log)
    wait_for("warned", lambda: "cannot reach the Kafka broker" in log.read_text(), writer, log)
    status, body = get(f"{base}/ready")
    assert status == 503
    assert body["checks"]["broker"]["ok"] is False
    assert stop_within_5s(writer) == 0
    warnings = [line for line in log_lines(log) if "cannot reach the Kafka broker" in line["message"]]
    assert len(warnings) == 1  # one per 30 s interval
    assert warnings[0]["level"] == "WARNING" and warnings[0]["process"] == "order-writer"
