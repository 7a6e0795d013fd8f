"""Pause and resume at stream level: the real broker, the writer with the shipped flows and
the control feed, fake providers. A paused provider gets no request; resume sends it."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from waits import wait_for
from writer_harness import RunningOms, components, drop_topics, read_all, running_oms

from devkit.scenarios import CommandFactory, journey_order
from streams.adapters.control_feed import publish_control
from streams.domain.control import PauseTarget, TargetPaused, TargetResumed
from streams.domain.events import ProviderActionHeld, ProviderActionReleased

FNO = PauseTarget(kind="provider", name="fno")


@pytest.fixture(scope="module")
def oms(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningOms]:
    c = components(kafka_bootstrap, f"p{uuid.uuid4().hex[:8]}.", tmp_path_factory.mktemp("state"))
    try:
        with running_oms(c) as running:
            yield running
    finally:
        drop_topics(c)


def test_a_paused_provider_gets_no_request_until_it_is_resumed(oms: RunningOms) -> None:
    c = oms.c
    assert oms.writer.control is not None
    publish_control(
        c.settings, c.topics, c.codec, TargetPaused(target=FNO, paused_at=datetime.now(UTC), by="test")
    )
    wait_for(
        "the writer knows F&O is paused",
        lambda: oms.writer.control is not None and oms.writer.control.pauses.is_paused(FNO.key),
        30,
    )
    factory = CommandFactory(source="pause-test", start=datetime.now(UTC))
    oms.send([journey_order(1, factory, "P1-0001", random.Random(1))])

    held = oms.wait_until("P1-0001", lambda s: any(p.held for p in s.pending_actions))
    assert [p.held for p in held.pending_actions] == ["provider:fno"]
    # a request would have gone out in the transaction that recorded the hold: none did
    requests = read_all(c.settings, [c.topics.provider_requests("fno")], c.topics.partitions)
    assert [m for m in requests if m.key() == b"P1-0001"] == []

    publish_control(
        c.settings, c.topics, c.codec, TargetResumed(target=FNO, resumed_at=datetime.now(UTC), by="test")
    )
    # Completed comes with the invoice; the BigCommerce notifications may still be on their way.
    oms.wait_until("P1-0001", lambda s: s.status == "Completed" and not s.pending_actions, timeout=60)

    kinds = [type(e) for e in oms.timeline("P1-0001")]
    assert kinds.index(ProviderActionHeld) < kinds.index(ProviderActionReleased)
    sends = [r for r in oms.fakes.requests if r.order_id == "P1-0001" and r.action == "send_to_fulfillment"]
    assert len(sends) == 1
