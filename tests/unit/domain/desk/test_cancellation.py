"""Canceling an order or some lines: what is refused and why, and every provider that
holds the order hearing of it (through the engine, for every flow), no echo to the
channel that canceled, retries on a canceled order, open steps settled."""

from __future__ import annotations

from given import cmd, create_order, expect, given
from journey_driver import NEW, VALIDATED, Journey, Providers

from streams.domain.commands import (
    CancelOrder,
    CancelOrderLines,
    RecordPicked,
    RecordSentToFulfillment,
    RecordValidation,
)
from streams.domain.errors import InvalidRequest, StateConflict
from streams.domain.events import OrderCanceled, ProviderActionRequested
from streams.domain.order import OrderState
from streams.domain.transitions import CANCELED, IN_PROGRESS

ORDER = "ORD-1"
CREATED = create_order(ORDER, ("L1", "L2"))
VALIDATED_ = cmd(RecordValidation, ORDER, policy="p", passed=True)
SENT_ = cmd(RecordSentToFulfillment, ORDER, provider="fno")


def test_given_a_validated_order_when_an_operator_cancels_it_then_it_reads_canceled_with_the_reason() -> None:
    given(CREATED, VALIDATED_).when(
        cmd(CancelOrder, ORDER, reason="Customer changed their mind", requested_by="ops:ada")
    ).then(
        expect(
            OrderCanceled,
            seq=3,
            status=CANCELED,
            status_reason="Customer changed their mind",
            reason="Customer changed their mind",
            requested_by="ops:ada",
        )
    )


def test_given_a_canceled_order_when_it_is_canceled_again_then_it_is_refused_as_a_conflict() -> None:
    cancel = cmd(CancelOrder, ORDER, reason="duplicate order")
    given(CREATED, cancel).when(cmd(CancelOrder, ORDER, reason="again")).then_rejected(
        StateConflict, match="is already canceled \\(duplicate order\\)"
    )


def test_given_an_order_when_unknown_lines_are_canceled_then_the_request_is_invalid_and_names_them() -> None:
    given(CREATED).when(cmd(CancelOrderLines, ORDER, line_ids=("L9",), reason="x")).then_rejected(
        InvalidRequest, match=r"has no lines \['L9'\]; its lines are \['L1', 'L2'\]"
    )


def test_given_a_picked_order_when_a_line_is_canceled_then_it_is_refused_naming_the_line_and_its_status() -> (
    None
):
    picked = cmd(RecordPicked, ORDER, provider="fno")
    given(CREATED, VALIDATED_, SENT_, picked).when(
        cmd(CancelOrderLines, ORDER, line_ids=("L2",), reason="x")
    ).then_rejected(
        StateConflict,
        match=r"lines L2 \(Fulfillment in progress / Picked\) are picked or shipped and can no longer be",
    )


def _sent_to_fno_and_silent() -> tuple[Journey, OrderState]:
    """Journey 1 with two lines, sent to F&O, which has not answered yet."""
    j = Journey(providers=Providers(silent=frozenset({("fno", "send_to_fulfillment")})))
    created = j.order(1, ORDER)
    two = (created.lines[0], created.lines[0].model_copy(update={"line_id": "2", "sku": "SKU-MUG-01"}))
    state = j.run(created.model_copy(update={"lines": two}))
    assert state.pending_actions and state.pending_actions[0].step == "send-to-fno"
    return j, state


def _cancels(j: Journey) -> list[tuple[str, str, str]]:
    return [
        (r.provider, r.action, r.params.get("line_ids", ""))
        for r in j.requests()
        if r.action in ("cancel_order", "cancel_lines")
    ]


def test_an_operator_cancel_reaches_fno_and_bigcommerce_and_settles_the_open_send() -> None:
    j, _ = _sent_to_fno_and_silent()

    state = j.run(
        CancelOrder(envelope=j.factory.envelope(ORDER), reason="Customer request", requested_by="ops:ada")
    )

    assert (state.status, state.status_reason) == (CANCELED, "Customer request")
    assert _cancels(j) == [("bigcommerce", "cancel_order", ""), ("fno", "cancel_order", "")]
    assert state.steps["send-to-fno"].result == "canceled"  # the terminal rule closed it
    assert state.pending_actions == ()  # both cancels were answered
    cancels = {s.split("/")[0]: o.result for s, o in state.steps.items() if s.startswith("cancel-at-")}
    assert cancels == {"cancel-at-bigcommerce": "succeeded", "cancel-at-fno": "succeeded"}


def test_a_cancel_from_bigcommerce_is_not_echoed_back_to_bigcommerce() -> None:
    j, _ = _sent_to_fno_and_silent()
    env = j.factory.envelope(ORDER).model_copy(update={"source": "connector:bigcommerce"})

    state = j.run(CancelOrder(envelope=env, reason="Canceled in BigCommerce", requested_by="bigcommerce"))

    assert state.status == CANCELED
    assert _cancels(j) == [("fno", "cancel_order", "")]


def test_a_cancel_that_fails_at_the_provider_is_retried_on_the_canceled_order_and_then_settles() -> None:
    j, _ = _sent_to_fno_and_silent()
    j.providers.failures[("fno", "cancel_order")] = 2

    state = j.run(CancelOrder(envelope=j.factory.envelope(ORDER), reason="Customer request"))

    attempts = [r.attempt for r in j.requests() if r.action == "cancel_order" and r.provider == "fno"]
    assert attempts == [1, 2, 3]
    assert len({r.action_id for r in j.requests() if r.action == "cancel_order" and r.provider == "fno"}) == 1
    fno_cancel = next(s for s in state.steps if s.startswith("cancel-at-fno/"))
    assert state.steps[fno_cancel].result == "succeeded"
    assert state.pending_actions == () and state.status == CANCELED


def test_an_order_never_sent_anywhere_is_canceled_at_its_channel_only() -> None:
    j = Journey()
    created = j.order(1, ORDER, ship_to=j.order(1).ship_to.model_copy(update={"country": "FR"}))
    held = j.run(created)  # "we ship to the US and Canada only": On hold before any send
    assert held.status == "On hold"

    state = j.run(CancelOrder(envelope=j.factory.envelope(ORDER), reason="Cannot ship there"))

    assert state.status == CANCELED
    assert _cancels(j) == [("bigcommerce", "cancel_order", "")]


def test_cancel_requests_are_notifications_named_by_provider_and_the_event_that_caused_them() -> None:
    j, _ = _sent_to_fno_and_silent()
    j.run(CancelOrder(envelope=j.factory.envelope(ORDER), reason="Customer request"))

    requests = [r for r in j.requests() if r.action == "cancel_order"]
    canceled_at = next(e.envelope.seq for e in j.of(OrderCanceled))
    assert {r.step for r in requests} == {
        f"cancel-at-bigcommerce/{canceled_at}",
        f"cancel-at-fno/{canceled_at}",
    }
    assert all(not r.critical and r.params == {"reason": "Customer request"} for r in requests)
    assert j.statuses() == [NEW, VALIDATED, (CANCELED, "Customer request")]


def test_a_line_cancel_is_sent_to_the_providers_holding_that_line_and_the_order_goes_on() -> None:
    j, _ = _sent_to_fno_and_silent()

    state = j.run(
        CancelOrderLines(envelope=j.factory.envelope(ORDER), line_ids=("1",), reason="Out of stock")
    )

    line = state.line("1")
    assert line is not None and state.line_status(line) == CANCELED
    assert state.status == IN_PROGRESS  # the other lines go on
    assert _cancels(j) == [("bigcommerce", "cancel_lines", "1"), ("fno", "cancel_lines", "1")]
    assert any(p.step == "send-to-fno" for p in state.pending_actions)  # the send is still open


def test_canceling_every_line_one_cancel_at_a_time_ends_with_cancel_order() -> None:
    j, state = _sent_to_fno_and_silent()
    ids = tuple(x.line_id for x in state.lines)

    state = j.run(
        CancelOrderLines(envelope=j.factory.envelope(ORDER), line_ids=ids, reason="Customer request")
    )

    assert state.status == CANCELED
    assert _cancels(j) == [("bigcommerce", "cancel_order", ""), ("fno", "cancel_order", "")]
    assert state.steps["send-to-fno"].result == "canceled"
    sends = [e for e in j.of(ProviderActionRequested) if e.action == "send_to_fulfillment"]
    assert [e.attempt for e in sends] == [1]  # no retry of the send on a canceled order
