"""The operations monitor on the real broker: a provider failing past its retries shows in
the error queue on oms.errors; reprocess through the monitor completes the order and
resolves the error; a restarted monitor publishes nothing twice."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from waits import wait_for
from writer_harness import RunningOms, components, drop_topics, read_all, running_oms

from devkit.scenarios import CommandFactory, journey_order
from streams.domain.alerts import AlertRules, OnHoldRule
from streams.domain.error_queue import ErrorQuery
from streams.services.operations import MonitorRunner, OperationsMonitor

RULES = AlertRules(rules=(OnHoldRule(name="held", kind="on_hold_longer_than", hours=0.0001),))


@pytest.fixture(scope="module")
def oms(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningOms]:
    c = components(kafka_bootstrap, f"m{uuid.uuid4().hex[:8]}.", tmp_path_factory.mktemp("state"))
    try:
        with running_oms(c) as running:
            yield running
    finally:
        drop_topics(c)


class _Running:
    def __init__(self, oms: RunningOms) -> None:
        self.monitor = OperationsMonitor(oms.c.settings, oms.c.topics, oms.c.codec, RULES)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=MonitorRunner(self.monitor).run, args=(self._stop,), daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


def test_a_failed_provider_action_is_queued_reprocessed_and_resolved_once(oms: RunningOms) -> None:
    c = oms.c
    oms.fakes.failures[("fno", "send_to_fulfillment")] = 4
    oms.send(
        [
            journey_order(
                1, CommandFactory(source="ops-test", start=datetime.now(UTC)), "M1-0001", random.Random(2)
            )
        ]
    )
    oms.wait_until("M1-0001", lambda s: s.status == "On hold")
    first = _Running(oms)
    try:
        wait_for(
            "an open error", lambda: first.monitor.error_list(ErrorQuery(order_id="M1-0001", state="open"))
        )
        (error,) = first.monitor.error_list(ErrorQuery(order_id="M1-0001"))
        assert (error.record.category, error.record.provider, error.record.step) == (
            "provider_action",
            "fno",
            "send-to-fno",
        )
        wait_for("an alert", first.monitor.alert_list)

        (plan,) = first.monitor.reprocess([error.record.error_id], None, "operator:test")
        assert plan.acts
        oms.wait_until("M1-0001", lambda s: s.status == "Completed")
        wait_for(
            "the error resolved",
            lambda: first.monitor.error_list(ErrorQuery(order_id="M1-0001", state="resolved")),
        )
        (done,) = first.monitor.error_list(ErrorQuery(order_id="M1-0001"))
        assert done.resolved is not None and done.resolved.how == "reprocessed"
        published = first.monitor.stats.published
    finally:
        first.stop()

    again = _Running(oms)
    try:
        wait_for("the monitor caught up", lambda: again.monitor.stats.caught_up)
        again.monitor.tick()
        assert again.monitor.stats.published == 0  # everything was on oms.errors/oms.alerts already
    finally:
        again.stop()
    records = read_all(c.settings, [c.topics.errors], c.topics.partitions)
    assert len(records) == 2 and published >= 2  # the error and its resolution, once each
