"""Running ``oms`` as its own process for the shell's tests: its output in a file, its
``/health`` and ``/ready`` asked with deadlines."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import waits

from streams.settings import REPO_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    return free_port()


def oms_env(**variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMS_")}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    return {**env, "OMS_LOG_FORMAT": "json", **variables}


def start_oms(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "streams.cli", *argv],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )


def get(url: str) -> tuple[int, Any]:
    """The status and JSON body of a GET (0, None when nothing answers)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read() or b"null")
    except OSError:
        return 0, None


def wait_for(
    what: str, done: Callable[[], bool], process: subprocess.Popen[bytes], log: Path, timeout: float = 60
) -> None:
    """``waits.wait_for`` on one of our processes: it fails when the process exits, with its log's tail."""
    try:
        waits.wait_for(what, done, timeout, check=waits.alive(process))
    except AssertionError as failed:
        raise AssertionError(f"{failed}:\n{log.read_text()[-3000:]}") from None


def log_lines(log: Path) -> list[dict[str, Any]]:
    """The JSON lines of a process's log (other lines, e.g. a library's print, skipped)."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


def stop_within_5s(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM, then its exit code within the 5 s every process promises (killed past that)."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
