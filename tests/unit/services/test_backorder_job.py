"""The periodic backorder job outlives a run the broker fails."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from streams.domain.backorders import BackorderJobRun
from streams.services.backorders import BackorderJob
from streams.settings import Settings


def _run(run_id: str) -> BackorderJobRun:
    now = datetime(2026, 12, 3, tzinfo=UTC)
    return BackorderJobRun(run_id=run_id, started_at=now, finished_at=now, orders_examined=0, lines_held=0)


def test_a_run_the_broker_fails_is_logged_and_the_next_one_comes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # given a job whose first run meets a broker that is away
    unused: Any = None  # run_once is replaced: no topics, codec or sources needed
    job = BackorderJob(Settings(state_dir=tmp_path), unused, unused, unused)
    outcomes: list[BackorderJobRun | Exception] = [
        KafkaException(KafkaError(KafkaError._TRANSPORT)),
        TimeoutError("1 backorder job runs not delivered within 10s"),
        _run("third"),
    ]
    stop = threading.Event()

    def run_once(trigger: str = "command", now: datetime | None = None) -> BackorderJobRun:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        stop.set()
        return outcome

    monkeypatch.setattr(job, "run_once", run_once)
    seen: list[BackorderJobRun] = []

    # when it runs every (almost) no time
    job.run_every(0.001, stop, seen.append)

    # then the failed run is logged and the next one ran
    assert [r.run_id for r in seen] == ["third"]
    assert caplog.text.count("backorder run failed") == 2
