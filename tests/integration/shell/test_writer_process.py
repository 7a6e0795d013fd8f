"""``oms writer`` as an operator runs it: ready when the broker answers, stopped cleanly by
SIGTERM within 5 s, and refusing a state folder that belongs to another topic prefix
unless asked to rebuild it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from shell_processes import free_port, get, log_lines, oms_env, start_oms, stop_within_5s, wait_for

from streams.adapters.kafka import admin, delete_topics
from streams.settings import Settings


@pytest.fixture
def prefixes(kafka_bootstrap: str, topic_prefix: str) -> Iterator[list[str]]:
    """Two topic prefixes; the topics the writers created under them go at the end."""
    both = [topic_prefix, f"{topic_prefix[:-1]}b."]
    yield both
    settings = Settings(bootstrap_servers=kafka_bootstrap)
    ours = [t for t in admin(settings).list_topics(timeout=30).topics if t.startswith(tuple(both))]
    delete_topics(settings, ours)


def _writer(
    kafka_bootstrap: str, prefix: str, state: Path, log: Path, *extra: str
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = oms_env(
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        OMS_TOPIC_PREFIX=prefix,
        OMS_PARTITIONS="2",
        OMS_STATE_DIR=str(state),
        OMS_INSTANCE_ID=f"writer-{prefix}",
    )
    return start_oms(["writer", "--metrics-port", str(port), *extra], env, log), f"http://127.0.0.1:{port}"


def test_sigterm_stops_a_ready_writer_cleanly_within_5s(
    kafka_bootstrap: str, prefixes: list[str], tmp_path: Path
) -> None:
    log = tmp_path / "writer.log"
    writer, base = _writer(kafka_bootstrap, prefixes[0], tmp_path / "state", log)
    wait_for("ready", lambda: get(f"{base}/ready")[0] == 200, writer, log)
    wait_for("consuming", lambda: "order writer writer-" in log.read_text(), writer, log)
    assert stop_within_5s(writer) == 0
    messages = [line["message"] for line in log_lines(log)]
    assert any(m.startswith("order writer stopped") for m in messages), messages


def test_a_state_folder_of_another_prefix_is_refused_unless_rebuilt(
    kafka_bootstrap: str, prefixes: list[str], tmp_path: Path
) -> None:
    state = tmp_path / "state"
    first, base = _writer(kafka_bootstrap, prefixes[0], state, tmp_path / "first.log")
    wait_for("ready", lambda: get(f"{base}/ready")[0] == 200, first, tmp_path / "first.log")
    assert stop_within_5s(first) == 0

    refused, _ = _writer(kafka_bootstrap, prefixes[1], state, tmp_path / "refused.log")
    assert refused.wait(timeout=30) == 1
    said = (tmp_path / "refused.log").read_text()
    assert "belongs to cluster" in said and f"prefix {prefixes[0]!r}" in said and "--state-rebuild" in said
    assert "Traceback" not in said

    rebuilt, base = _writer(kafka_bootstrap, prefixes[1], state, tmp_path / "rebuilt.log", "--state-rebuild")
    wait_for("ready", lambda: get(f"{base}/ready")[0] == 200, rebuilt, tmp_path / "rebuilt.log")
    assert stop_within_5s(rebuilt) == 0
    assert prefixes[1] in (state / "identity.json").read_text()
