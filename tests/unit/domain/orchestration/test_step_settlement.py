"""A step's outcome is never lost and never contradicted (issue 10): the awkward orders of
arrival a broker outage and crashes produce, driven through the shipped journey-1 flow.

Journey 1 sends the order to F&O (step ``send-to-fno``, 60 s timeout, 3 retries); F&O then
reports picked, shipped and invoiced through its status handler.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from journey_driver import DONE, PACKED, PICKED, SENT, Journey, Providers, shipped_flows

from streams.domain.commands import RecordActionResult, RecordInvoiced, RecordPicked, RecordShipped
from streams.domain.errors import DomainError
from streams.domain.events import (
    FlowStepRecorded,
    FulfillmentPicked,
    OrderSentToFulfillment,
    ProviderActionRequested,
)
from streams.domain.flows import FlowCatalog, Step
from streams.domain.orchestration import FlowEngine
from streams.domain.transitions import COMPLETED, TERMINAL

SEND_TO_FNO = ("fno", "send_to_fulfillment")


def _silent_fno() -> Journey:
    """An order of journey 1 sent to F&O, whose answer never comes (the broker is down)."""
    j = Journey(providers=Providers(silent=frozenset({SEND_TO_FNO})))
    j.run(j.order(1))
    return j


def _send(j: Journey) -> ProviderActionRequested:
    return [e for e in j.requests() if e.step == "send-to-fno"][-1]


def _timeout(j: Journey) -> RecordActionResult:
    """What the writer's timer decides once the pending attempt's deadline has passed."""
    assert j.state is not None
    pending = j.state.pending(_send(j).action_id)
    assert pending is not None
    return pending.timed_out(j.state.order_id, pending.deadline + timedelta(seconds=1))


def _answer(j: Journey, request: ProviderActionRequested, success: bool = True) -> RecordActionResult:
    return RecordActionResult(
        envelope=j.factory.envelope(request.envelope.order_id),
        action_id=request.action_id,
        success=success,
        details="" if success else "HTTP 503",
        data={"provider_order_id": "SO-1"} if success else {},
        attempt=request.attempt,
    )


def _fno_reports(j: Journey) -> tuple[RecordPicked, RecordShipped, RecordInvoiced]:
    oid = "ORD-1"
    env = j.factory.envelope
    return (
        RecordPicked(envelope=env(oid), provider="fno", picking_id="PL-1"),
        RecordShipped(envelope=env(oid), provider="fno", shipment_id="SH-1", tracking_number="1Z1"),
        RecordInvoiced(envelope=env(oid), provider="fno", invoice_id="INV-1"),
    )


def _send_results(j: Journey) -> list[str]:
    return [e.result for e in j.of(FlowStepRecorded) if e.step == "send-to-fno"]


# -- status before result ------------------------------------------------------------------------


def test_given_an_open_send_when_fno_reports_picked_then_the_step_succeeds_before_the_pick() -> None:
    j = _silent_fno()
    before = len(j.events)
    picked, _, _ = _fno_reports(j)

    j.run(picked)

    new = j.events[before:]
    assert [type(e) for e in new[:3]] == [OrderSentToFulfillment, FlowStepRecorded, FulfillmentPicked]
    assert isinstance(new[1], FlowStepRecorded) and new[1].result == "succeeded"
    assert "settled by 'Order picked' from fno" in new[1].details
    assert j.statuses()[-2:] == [SENT, PICKED]
    assert j.state is not None and j.state.pending_actions == ()


def test_given_a_send_settled_by_a_status_when_its_own_answer_comes_then_it_is_ignored() -> None:
    j = _silent_fno()
    request = _send(j)
    j.run(*_fno_reports(j))
    after = j.state

    late = j.process(_answer(j, request))

    assert (late.events, late.refused) == ([], [])
    assert j.state == after
    assert j.statuses()[-1] == DONE


# -- result after timeout ------------------------------------------------------------------------


def test_given_a_timed_out_attempt_when_its_answer_comes_late_then_the_step_succeeds() -> None:
    j = _silent_fno()
    first = _send(j)
    j.process(_timeout(j))
    retry = _send(j)
    assert (retry.attempt, retry.action_id) == (2, first.action_id)

    j.process(_answer(j, first))

    assert _send_results(j) == ["retrying", "succeeded"]
    assert j.state is not None and j.state.pending_actions == ()
    assert j.statuses()[-1] == SENT


def test_given_a_retry_under_way_when_the_first_attempts_failure_comes_then_it_is_ignored() -> None:
    j = _silent_fno()
    first = _send(j)
    j.process(_timeout(j))
    before = j.state

    stale = j.process(_answer(j, first, success=False))

    assert (stale.events, stale.refused, j.state) == ([], [], before)


def test_the_outage_of_the_outside_soak_leaves_the_step_settled_and_no_timer() -> None:
    """The broker is down: the send times out and is retried; F&O (which had the order all
    along) reports picked, shipped, invoiced; then the answers of both attempts arrive."""
    j = _silent_fno()
    first = _send(j)
    j.process(_timeout(j))
    retry = _send(j)

    j.run(*_fno_reports(j))
    for late in (_answer(j, first), _answer(j, retry)):
        outcome = j.process(late)
        assert (outcome.events, outcome.refused) == ([], [])

    assert j.state is not None
    assert (j.state.status, j.state.pending_actions) == (COMPLETED, ())
    assert _send_results(j) == ["retrying", "succeeded"]
    assert [e.attempt for e in j.requests() if e.step == "send-to-fno"] == [1, 2]
    assert len({e.action_id for e in j.requests() if e.step == "send-to-fno"}) == 1
    assert j.refused == []


# -- terminal orders ------------------------------------------------------------------------------


def test_a_terminal_order_has_no_open_step_but_its_channel_is_still_told() -> None:
    j = Journey()
    state = j.run(j.order(1))
    assert state.status in TERMINAL and state.pending_actions == ()
    last_requests = [e for e in j.requests() if e.envelope.status == COMPLETED]
    assert [(e.provider, e.action) for e in last_requests] == [("bigcommerce", "update_channel_status")]


def test_notifications_still_waiting_when_the_order_completes_stay_open() -> None:
    j = Journey(providers=Providers(silent=frozenset({("bigcommerce", "update_channel_status")})))
    state = j.run(j.order(1))
    assert state.status == COMPLETED
    assert sorted(p.step for p in state.pending_actions) == [
        "tell-bigcommerce-completed",
        "tell-bigcommerce-shipped",
    ]


def test_completing_an_order_closes_a_step_still_waiting_for_its_provider() -> None:
    # journey 4, v2 archives the shipment in SAP, which never answers; F&O invoices meanwhile
    catalog = FlowCatalog(shipped_flows())
    v1 = catalog.get("fno-fno", 1)
    assert v1 is not None
    archive = Step(id="archive-shipment", on=("Order shipped",), action="custom", provider="sap")
    catalog.add(v1.model_copy(update={"version": 2, "steps": (*v1.steps, archive)}))
    j = Journey(engine=FlowEngine(catalog), providers=Providers(silent=frozenset({("sap", "custom")})))
    j.run(j.order(4))
    _, shipped, invoiced = _fno_reports(j)
    j.run(shipped)
    assert j.state is not None and [p.step for p in j.state.pending_actions] == ["archive-shipment"]

    state = j.run(invoiced)

    assert (state.status, state.pending_actions) == (COMPLETED, ())
    closed = [e for e in j.of(FlowStepRecorded) if e.step == "archive-shipment"][-1]
    assert (closed.result, closed.details) == ("canceled", "the order is Completed")
    assert closed.envelope.status == COMPLETED


def test_a_failed_sync_step_is_never_retried_on_a_completed_order() -> None:
    j = _silent_fno()
    first = _send(j)
    j.run(*_fno_reports(j))
    assert j.state is not None and j.state.status == COMPLETED
    requests_before = len(j.requests())

    j.process(_answer(j, first, success=False))

    assert len(j.requests()) == requests_before


# -- bad input ------------------------------------------------------------------------------------


def test_an_answer_to_an_action_never_requested_is_refused() -> None:
    j = _silent_fno()
    stranger = _answer(j, _send(j)).model_copy(update={"action_id": "no-such-action"})
    with pytest.raises(DomainError, match="no action 'no-such-action' was ever requested"):
        j.process(stranger)


def test_a_status_from_a_provider_that_never_got_the_order_is_refused() -> None:
    j = _silent_fno()
    shipped = RecordShipped(envelope=j.factory.envelope("ORD-1"), provider="flexe")
    with pytest.raises(DomainError, match="flexe reports 'Order shipped' for an order it never got"):
        j.process(shipped)


def test_the_same_command_delivered_twice_is_decided_once() -> None:
    j = _silent_fno()
    picked, _, _ = _fno_reports(j)
    j.run(picked)
    after = j.state

    again = j.process(picked)

    assert (again.duplicate, again.events, j.state) == (True, [], after)
    assert [e for e in j.events if isinstance(e, FulfillmentPicked)] != []
    assert j.statuses()[-1] in (PICKED, PACKED)


# -- any order of arrival -------------------------------------------------------------------------

ARRIVALS = ("timeout", "answer-1", "failure-1", "answer-2", "picked", "shipped", "invoiced")


@settings(max_examples=200, deadline=None)
@given(st.permutations(ARRIVALS))
def test_in_any_order_of_arrival_the_step_settles_once_and_nothing_runs_after_completion(
    arrivals: list[str],
) -> None:
    """Whatever order timeouts, late answers of either attempt and F&O's reports come in
    (F&O's own reports keep their order), the send step ends succeeded exactly once, every
    attempt shares one action id, and a completed order waits for nothing."""
    j = _silent_fno()
    first = _send(j)
    reports = dict(zip(("picked", "shipped", "invoiced"), _fno_reports(j), strict=True))
    order = iter(reports)  # F&O reports picked, shipped, invoiced in that order
    for arrival in arrivals:
        assert j.state is not None
        if arrival in reports:
            j.run(reports[next(order)])
        elif arrival == "timeout" and j.state.pending(first.action_id):
            j.run(_timeout(j))
        elif arrival.endswith("-2") and _send(j).attempt == 2:
            j.run(_answer(j, _send(j)))
        elif arrival.endswith("-1"):
            j.run(_answer(j, first, success=arrival.startswith("answer")))

    state = j.state
    assert state is not None and state.status == COMPLETED and state.pending_actions == ()
    assert _send_results(j).count("succeeded") == 1
    assert len({e.action_id for e in j.requests() if e.step == "send-to-fno"}) == 1
    assert all(e.action == "update_channel_status" for e in j.requests() if e.envelope.status in TERMINAL)
    assert [refused for refused, _ in j.refused] == []
