"""``oms api`` stops within 5 s of SIGTERM (its projection thread, consumer and HTTP server
closed), and says on /ready why it is not ready while the broker is away."""

from __future__ import annotations

from pathlib import Path

from shell_processes import closed_port, free_port, get, oms_env, start_oms, stop_within_5s, wait_for

from streams.settings import Settings


def test_sigterm_stops_a_ready_api_within_5s(topics: Settings, tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "api.log"
    env = oms_env(
        KAFKA_BOOTSTRAP_SERVERS=topics.bootstrap_servers,
        OMS_TOPIC_PREFIX=topics.topic_prefix,
        OMS_PARTITIONS="2",
        OMS_STATE_DIR=str(tmp_path / "state"),
    )
    api = start_oms(["api", "--port", str(port)], env, log)
    wait_for("ready", lambda: get(f"http://127.0.0.1:{port}/ready")[0] == 200, api, log)
    assert stop_within_5s(api) == 0


def test_an_api_without_its_broker_is_alive_but_not_ready(tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "api.log"
    env = oms_env(KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{closed_port()}", OMS_STATE_DIR=str(tmp_path / "state"))
    api = start_oms(["api", "--port", str(port)], env, log)
    wait_for("alive", lambda: get(f"http://127.0.0.1:{port}/health")[0] == 200, api, log)
    status, body = get(f"http://127.0.0.1:{port}/ready")
    assert status == 503 and body["checks"]["broker"]["ok"] is False
    assert stop_within_5s(api) == 0
