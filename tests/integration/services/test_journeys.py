"""The six journeys at stream level: the real broker, the writer running the shipped flow
files, and fake providers at the connector boundary."""

from __future__ import annotations

import random
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from timelines import statuses
from waits import wait_for
from writer_harness import RunningOms, components, drop_topics, running_oms

from devkit.scenarios import CommandFactory, journey_order
from streams.adapters.flow_definitions import publish_flows
from streams.adapters.flow_files import FlowFileError, load_flows
from streams.domain.commands import CreateOrder, RecordInvoiced, RecordShipped, ReprocessOrder
from streams.domain.events import ProviderActionRequested
from streams.domain.order import OrderState
from streams.settings import REPO_ROOT

NEW = ("New", "Created")
VALIDATED = ("In progress", "Validation succeeded")
SENT = ("In progress", "Sent to fulfillment")
PICKED = ("Fulfillment in progress", "Picked")
PACKED = ("Fulfillment in progress", "Packed")
DONE = ("Completed", "Fulfilled")
DONE_J1 = ("Completed", "Done")
"""Journey 1 ends as the brief words it (its flow's status_reasons)."""


@pytest.fixture(scope="module")
def oms(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningOms]:
    global _factory
    # Commands are issued from now, not from import time: a provider action's deadline counts
    # from its cause's time, and the modules that run before this one take their time.
    _factory = CommandFactory(source="journey-test", start=datetime.now(UTC))
    c = components(kafka_bootstrap, f"j{uuid.uuid4().hex[:8]}.", tmp_path_factory.mktemp("state"))
    try:
        with running_oms(c) as running:
            yield running
    finally:
        drop_topics(c)


_factory = CommandFactory(source="journey-test", start=datetime.now(UTC))
_rng = random.Random(6)
_n = [0]


def _order(journey: int, **changes: object) -> tuple[str, CreateOrder]:
    _n[0] += 1
    order_id = f"J{journey}-{_n[0]:04d}"
    return order_id, journey_order(journey, _factory, order_id, _rng, ref=_n[0]).model_copy(update=changes)


def _completed(state: OrderState) -> bool:
    return state.status == "Completed" and state.channel_status in (None, "10") and not state.pending_actions


def _actions(oms: RunningOms, order_id: str) -> list[tuple[str, str, str]]:
    return [
        (e.provider, e.action, e.params.get("status_id", ""))
        for e in oms.timeline(order_id)
        if isinstance(e, ProviderActionRequested)
    ]


@pytest.mark.parametrize(
    ("journey", "expected_statuses", "expected_actions"),
    [
        (
            1,
            [NEW, VALIDATED, SENT, PICKED, PACKED, DONE_J1],
            [
                ("fno", "send_to_fulfillment", ""),
                ("bigcommerce", "update_channel_status", "2"),
                ("bigcommerce", "update_channel_status", "10"),
            ],
        ),
        (
            2,
            [NEW, VALIDATED, SENT, PACKED, DONE],
            [
                ("flexe", "send_to_fulfillment", ""),
                ("fno", "send_to_billing", ""),
                ("bigcommerce", "update_channel_status", "10"),
            ],
        ),
        (
            3,
            [NEW, VALIDATED, SENT, PACKED, DONE],
            [("flexe", "send_to_fulfillment", ""), ("fno", "send_to_billing", "")],
        ),
        (
            5,
            [NEW, VALIDATED, SENT, PACKED, DONE],
            [("flexe", "send_to_fulfillment", ""), ("sap", "send_to_billing", "")],
        ),
        (
            6,
            [NEW, VALIDATED, PICKED, PACKED, DONE],
            [
                ("dom", "send_to_fulfillment_optimization", ""),
                ("fno", "send_to_billing", ""),
                ("bigcommerce", "update_channel_status", "2"),
                ("bigcommerce", "update_channel_status", "10"),
            ],
        ),
    ],
)
def test_journey_runs_through_the_statuses_the_scenario_describes(
    oms: RunningOms,
    journey: int,
    expected_statuses: list[tuple[str, str]],
    expected_actions: list[tuple[str, str, str]],
) -> None:
    order_id, created = _order(journey)
    oms.send([created])
    state = oms.wait_until(order_id, _completed)

    assert statuses(oms.timeline(order_id)) == expected_statuses
    assert _actions(oms, order_id) == expected_actions
    assert state.flow is not None and state.flow_version == 1
    if journey in (1, 2, 6):
        assert state.channel_status == "10"  # BigCommerce heard of completion last


def test_journey_4_fno_ships_and_invoices_and_the_status_handler_raises_the_events(oms: RunningOms) -> None:
    order_id, created = _order(4)
    shipped = RecordShipped(envelope=_factory.envelope(order_id), provider="fno", shipment_id="PS-1")
    invoiced = RecordInvoiced(envelope=_factory.envelope(order_id), provider="fno", invoice_id="INV-1")
    oms.send([created, shipped, invoiced])
    oms.wait_until(order_id, _completed)

    assert statuses(oms.timeline(order_id)) == [NEW, VALIDATED, PACKED, DONE]
    assert _actions(oms, order_id) == []


def test_a_critical_validation_failure_stops_the_order_on_hold_with_the_reason(oms: RunningOms) -> None:
    order_id, created = _order(1)
    created = created.model_copy(update={"ship_to": created.ship_to.model_copy(update={"country": "DE"})})
    oms.send([created])
    state = oms.wait_until(order_id, lambda s: s.status == "On hold")

    assert (state.status, state.status_reason) == ("On hold", "Validation failed")
    assert state.validation_errors == ("we ship to the US and Canada only",)
    assert state.failed_step == "validate-header"
    assert _actions(oms, order_id) == []


def test_a_provider_failing_past_its_retries_holds_the_order_and_reprocess_resumes_it(
    oms: RunningOms,
) -> None:
    oms.fakes.failures[("fno", "send_to_fulfillment")] = 4  # one attempt and all three retries
    order_id, created = _order(1)
    oms.send([created])
    held = oms.wait_until(order_id, lambda s: s.status == "On hold", timeout=60)

    assert held.status_reason.startswith("step 'send-to-fno' failed after 4 attempts")
    assert "HTTP 503" in held.status_reason
    assert (held.steps["send-to-fno"].result, held.steps["send-to-fno"].attempt) == ("failed", 4)

    oms.send([ReprocessOrder(envelope=_factory.envelope(order_id), reason="F&O is back")])
    done = oms.wait_until(order_id, _completed)
    assert done.failed_step is None
    assert ("In progress", "Reprocessed") in statuses(oms.timeline(order_id))


def test_a_bad_flow_file_is_refused_with_file_line_and_field(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text(
        "name: broken\nsteps:\n  - id: send\n    on: [New order]\n    action: teleport\n"
    )
    with pytest.raises(FlowFileError) as error:
        load_flows(tmp_path)
    assert "broken.yaml:5: steps.0.action" in str(error.value)


def _publish(oms: RunningOms, folder: Path) -> None:
    published = publish_flows(
        oms.c.settings, oms.c.topics, oms.c.codec, [(f, f.name) for f in load_flows(folder)]
    )
    feed = oms.writer.flows
    assert feed is not None
    wait_for(
        "the writer has the new versions", lambda: all(feed.catalog.get(p.name, p.version) for p in published)
    )


def test_two_versions_of_a_flow_run_at_once_and_each_order_keeps_its_own(
    oms: RunningOms, tmp_path: Path
) -> None:
    first, created = _order(4)
    oms.send([created])
    oms.wait_until(first, lambda s: s.status_reason == "Validation succeeded" and s.flow_version == 1)

    # v2 of journey 4 also archives the shipment in SAP once the order has shipped (a
    # step on "Order invoiced" would not run: only notifications run on a completed order).
    shutil.copy(REPO_ROOT / "flows" / "policies.yaml", tmp_path)
    text = (REPO_ROOT / "flows" / "journey-4-fno-fno.yaml").read_text()
    (tmp_path / "journey-4-fno-fno.yaml").write_text(
        text + "  - id: archive-shipment\n    on: [Order shipped]\n    action: custom\n"
        "    provider: sap\n    params: {name: archive}\n    critical: false\n"
    )
    _publish(oms, tmp_path)
    second, created = _order(4)
    oms.send([created])
    oms.wait_until(second, lambda s: s.status_reason == "Validation succeeded")

    for order_id in (first, second):
        oms.send(
            [
                RecordShipped(envelope=_factory.envelope(order_id), provider="fno"),
                RecordInvoiced(
                    envelope=_factory.envelope(order_id), provider="fno", invoice_id=f"I-{order_id}"
                ),
            ]
        )
    v1 = oms.wait_until(first, _completed)
    v2 = oms.wait_until(second, lambda s: _completed(s) and "archive-shipment" in s.steps)

    assert (v1.flow_version, v2.flow_version) == (1, 2)
    assert _actions(oms, first) == []
    assert _actions(oms, second) == [("sap", "custom", "")]


def test_a_provider_that_never_answers_times_out_retries_and_holds_the_order(
    oms: RunningOms, tmp_path: Path
) -> None:
    (tmp_path / "slow.yaml").write_text(
        "name: slow-flexe\npriority: 20\n"
        "filter: {field: attributes.fulfillment, op: eq, value: slowpoke}\n"
        "steps:\n  - id: send-to-flexe\n    on: [New order]\n    action: send_to_fulfillment\n"
        "    provider: flexe\n    max_retries: 1\n    timeout_seconds: 1\n"
    )
    _publish(oms, tmp_path)
    oms.fakes.silent = frozenset({("flexe", "send_to_fulfillment")})
    try:
        order_id, created = _order(2, attributes={"fulfillment": "slowpoke"})
        oms.send([created])
        waiting = oms.wait_until(order_id, lambda s: bool(s.pending_actions))
        assert waiting.waiting_on is not None and "flexe send_to_fulfillment" in waiting.waiting_on
        held = oms.wait_until(order_id, lambda s: s.status == "On hold", timeout=30)
    finally:
        oms.fakes.silent = frozenset()

    assert held.flow == "slow-flexe"
    assert "failed after 2 attempts" in held.status_reason
    assert "no answer from flexe within 1s" in held.status_reason
    results = [e.result for e in oms.timeline(order_id) if type(e).__name__ == "FlowStepRecorded"]
    assert results == ["retrying", "failed"]
