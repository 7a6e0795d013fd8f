"""``oms broker reset`` clears the state folder with the broker's data: its stores were
caches of that data, and a new broker's topics would not match their checkpoints."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from streams.cli import main
from streams.shell.state import StateIdentity, claim_state


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_reset_clears_the_state_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    claim_state(state, StateIdentity("cluster-a", ""))
    (state / "writer-writer-1").mkdir()
    monkeypatch.setenv("OMS_STATE_DIR", str(state))
    port = _free_port()  # no broker of ours there: reset has nothing to stop
    assert main(["broker", "reset", "--port", str(port), "--home", str(tmp_path / "kafka")]) == 0
    assert not state.exists()
