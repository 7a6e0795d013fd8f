"""The project's processes, started as a user starts them, for the end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from waits import alive, answers, wait_for

from streams.settings import REPO_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def oms_env(bootstrap_servers: str, prefix: str, state_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "OMS_TOPIC_PREFIX": prefix,
        "OMS_PARTITIONS": "3",
        "OMS_STATE_DIR": str(state_dir),
        **extra,
    }


@contextmanager
def oms(args: Sequence[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m streams.cli ARGS`` as its own process; its output goes to ``log``."""
    with python_module(["streams.cli", *args], env, log) as process:
        yield process


def run_oms(env: dict[str, str], *args: str) -> None:
    """``python -m streams.cli ARGS`` to its end; it must succeed."""
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", *args], env=env, cwd=REPO_ROOT, capture_output=True, timeout=120
    )
    assert done.returncode == 0, f"oms {' '.join(args)} failed: {done.stderr.decode()[-2000:]}"


@contextmanager
def python_module(argv: Sequence[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m ARGV`` as its own process until the context ends; output to ``log``."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", *argv], env=env, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    wait_for(f"{url} up", lambda: answers(url), timeout, check=alive(process, log=log), every=0.2)
