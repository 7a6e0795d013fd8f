"""The end of ``oms demo`` on a terminal: everything stays up for a look around.

The read side (``oms api``) starts on the demo's broker, and the demo prints the
dashboard's URL (with the token, if ``OMS_API_TOKEN`` is set) and commands that work
against what is running, then waits for Ctrl-C; the caller stops everything after.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from streams.entrypoints.output import err


def interactive() -> bool:
    """Only a person at a terminal can look around; a pipe or CI gets the exit."""
    return sys.stdout.isatty() and sys.stdin.isatty()


def _free_port(preferred: int = 8080) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_api(env: dict[str, str], workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``oms api`` on a free port (8080 if it is free), its state in ``workdir``; ready."""
    port = _free_port()
    log = (workdir / "logs").joinpath("api.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    api = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "api", "--port", str(port), "--log-level", "WARNING"],
        env={**env, "OMS_STATE_DIR": str(workdir / "state")},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and api.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return api, url
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"oms api did not come up on {url}; see {log}")


def look_around(env: dict[str, str], workdir: Path, sample_order: str) -> None:
    """Serve the dashboard until Ctrl-C, with the commands that work meanwhile."""
    api, url = start_api(env, workdir)
    token = os.environ.get("OMS_API_TOKEN")
    dashboard = f"{url}/dashboard/" + (f"?access_token={token}" if token else "")
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    lines = [
        "",
        "Everything is still running: broker, writer, connectors, simulators, and now the API.",
        f"  dashboard:  {dashboard}",
        f"  API:        {url}/orders  {url}/errors  {url}/alerts  {url}/insights  ({url}/openapi.json)",
        "  in another terminal:",
        f"    KAFKA_BOOTSTRAP_SERVERS={bootstrap} .venv/bin/oms show {sample_order}",
        f"    KAFKA_BOOTSTRAP_SERVERS={bootstrap} .venv/bin/oms replay",
        f"    KAFKA_BOOTSTRAP_SERVERS={bootstrap} .venv/bin/oms pause provider fno",
        "Press Ctrl-C to stop it all.",
    ]
    print("\n".join(lines), flush=True)
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            if api.poll() is not None:
                err(f"oms api exited with {api.returncode}; see {workdir / 'logs' / 'api.log'}")
                break
    finally:
        signal.signal(signal.SIGINT, previous)
        api.terminate()
        api.wait(30)
        err("stopping the demo ...")
