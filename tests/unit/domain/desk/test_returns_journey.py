"""The return flow (flows/returns.yaml) on completed orders: an RMA against shipped lines,
F&O's return order, the goods received and restocked, the credit note from whoever
invoiced the order, BigCommerce refunding its payment, the replacement when the policy
says; the header stays Completed and no step stays open once the return has ended."""

from __future__ import annotations

from datetime import timedelta

import pytest
from journey_driver import DONE, FULFILLED, Journey, Providers, shipped_engine

from streams.domain.commands import RecordActionResult, RecordReturnReceived, RequestReturn
from streams.domain.errors import InvalidRequest, StateConflict
from streams.domain.events import OrderRefunded, ProviderActionRequested, ReplacementOrdered
from streams.domain.order import OrderState, ReturnStatus
from streams.domain.order_handling import ReplacementPolicy
from streams.domain.returns import replacement_order
from streams.domain.transitions import COMPLETED
from streams.domain.values import LineQuantity

ORDER = "ORD-1"


def _completed(journey: int = 1, **handling: object) -> tuple[Journey, OrderState]:
    j = Journey(engine=shipped_engine(**handling))
    state = j.run(j.order(journey, ORDER))
    assert state.status == COMPLETED
    return j, state


def _return(
    j: Journey, state: OrderState, units: int = 1, rma: str = "RMA-1", **extra: object
) -> RequestReturn:
    line = state.lines[0]
    return RequestReturn(
        envelope=j.factory.envelope(ORDER),
        rma_id=rma,
        lines=(LineQuantity(line_id=line.line_id, quantity=units),),
        reason="arrived damaged",
        requested_by="ops:ada",
        **extra,
    )


def _return_actions(j: Journey) -> list[tuple[str, str]]:
    return [(r.provider, r.action) for r in j.requests() if r.step.startswith("RMA-")]


def test_a_return_of_a_bigcommerce_order_is_received_restocked_credited_and_refunded() -> None:
    j, state = _completed()

    after = j.run(_return(j, state))

    assert (after.status, after.status_reason) == DONE  # the header of a completed order stays
    found = after.return_("RMA-1")
    assert found is not None and found.status is ReturnStatus.REFUNDED
    assert (found.flow, found.warehouse, found.credit_note_id) == ("returns", "11", f"CN-{ORDER}")
    assert _return_actions(j) == [
        ("fno", "create_return"),
        ("dom", "restock_return"),
        ("fno", "issue_credit_note"),
        ("bigcommerce", "refund_payment"),
    ]
    refund = j.of(OrderRefunded)[0]
    assert refund.amount == state.lines[0].unit_price
    assert after.pending_actions == ()  # nothing stays open on the completed order
    assert {s: o.result for s, o in after.steps.items() if s.startswith("RMA-1:")} == {
        "RMA-1:create-return-order": "succeeded",
        "RMA-1:restock": "succeeded",
        "RMA-1:issue-credit-note": "succeeded",
        "RMA-1:refund-payment": "succeeded",
    }


def test_the_restock_request_names_the_returned_units_and_the_receiving_warehouse() -> None:
    j, state = _completed()
    j.run(_return(j, state, units=1))

    restock = next(r for r in j.requests() if r.action == "restock_return")
    assert restock.params == {
        "rma_id": "RMA-1",
        "return_lines": f"{state.lines[0].line_id}:1",
        "warehouse": "11",
    }


def test_the_credit_note_comes_from_sap_when_sap_invoiced_the_order() -> None:
    j, state = _completed(journey=5)
    assert (state.status, state.status_reason) == FULFILLED

    after = j.run(_return(j, state))

    assert ("sap", "issue_credit_note") in _return_actions(j)
    assert ("bigcommerce", "refund_payment") not in _return_actions(j)  # an F&O order: no payment to refund
    assert after.steps["RMA-1:refund-payment"].result == "skipped"


@pytest.mark.parametrize("policy", list(ReplacementPolicy))
def test_the_replacement_is_ordered_when_the_policy_says(policy: ReplacementPolicy) -> None:
    j, state = _completed(replacement_policy=policy)
    j.providers = Providers(later=frozenset({("fno", "create_return")}))  # F&O has not received it yet

    j.run(_return(j, state, replacement=True))
    on_request = [e.replacement_order_id for e in j.of(ReplacementOrdered)]
    j.run(RecordReturnReceived(envelope=j.factory.envelope(ORDER), rma_id="RMA-1", provider="fno"))
    on_receipt = [e.replacement_order_id for e in j.of(ReplacementOrdered)]

    if policy is ReplacementPolicy.ADVANCED:  # ships on return initiation
        assert on_request == on_receipt == [f"{ORDER}-R1"]
    else:  # standard: ships when the return is received
        assert (on_request, on_receipt) == ([], [f"{ORDER}-R1"])
    found = j.state.return_("RMA-1") if j.state else None
    assert found is not None and found.replacement_order_id == f"{ORDER}-R1"


def test_the_replacement_order_carries_the_returned_units_to_the_same_customer_and_links_back() -> None:
    j, state = _completed(replacement_policy=ReplacementPolicy.ADVANCED)
    after = j.run(_return(j, state, replacement=True))
    event = j.of(ReplacementOrdered)[0]

    create = replacement_order(after, event, event.envelope.occurred_at)

    assert create.envelope.order_id == f"{ORDER}-R1"
    assert create.envelope.command_id == f"replacement/{ORDER}/RMA-1"  # the same create, if sent again
    assert (create.replacement_for, create.channel, create.attributes) == (
        f"{ORDER}/RMA-1",
        state.channel,
        state.attributes,
    )
    assert [(x.line_id, x.quantity) for x in create.lines] == [(state.lines[0].line_id, 1)]
    replacement = Journey(engine=j.engine).run(create)  # through the same flows as any order
    assert replacement.status == COMPLETED and replacement.replacement_for == f"{ORDER}/RMA-1"


def test_a_return_of_more_than_shipped_is_refused_and_nothing_is_recorded() -> None:
    j, state = _completed()
    too_many = _return(j, state, units=state.lines[0].quantity + 1)

    refused = j.refused_to(too_many)

    assert isinstance(refused, InvalidRequest)
    assert (
        f"{too_many.lines[0].quantity} asked, {state.lines[0].quantity} shipped and not yet returned"
        in str(refused)
    )


def test_a_line_returned_in_full_takes_no_second_return() -> None:
    j, state = _completed()
    j.run(_return(j, state, units=state.lines[0].quantity))

    refused = j.refused_to(_return(j, state, rma="RMA-2"))

    assert isinstance(refused, InvalidRequest) and "1 asked, 0 shipped and not yet returned" in str(refused)


def test_a_return_after_the_window_is_refused() -> None:
    j, state = _completed()
    late = _return(j, state)
    shipped = state.lines[0].shipped_at
    assert shipped is not None
    late = late.model_copy(
        update={"envelope": late.envelope.model_copy(update={"issued_at": shipped + timedelta(days=31)})}
    )

    refused = j.refused_to(late)

    assert isinstance(refused, InvalidRequest) and "the return window closed on" in str(refused)


def test_a_line_not_shipped_cannot_be_returned_and_an_rma_id_is_used_once() -> None:
    j = Journey(providers=Providers(silent=frozenset({("fno", "send_to_fulfillment")})))
    state = j.run(j.order(1, ORDER))
    refused = j.refused_to(_return(j, state))
    assert isinstance(refused, InvalidRequest) and "not shipped" in str(refused)

    j2, done = _completed()
    j2.run(_return(j2, done))
    again = j2.refused_to(_return(j2, done, rma="RMA-1"))
    assert isinstance(again, StateConflict) and "already has return RMA-1" in str(again)


def test_a_receipt_for_an_unknown_return_is_refused() -> None:
    j, _ = _completed()
    refused = j.refused_to(
        RecordReturnReceived(envelope=j.factory.envelope(ORDER), rma_id="RMA-9", provider="fno")
    )
    assert isinstance(refused, InvalidRequest) and "has no return RMA-9" in str(refused)


def test_return_steps_are_requested_on_the_completed_order_only_while_the_return_is_open() -> None:
    j, state = _completed()
    j.run(_return(j, state))
    after_refund = [e for e in j.of(ProviderActionRequested) if e.step.startswith("RMA-1:")]
    assert [e.step for e in after_refund][-1] == "RMA-1:refund-payment"
    assert j.state is not None and j.state.pending_actions == ()


def test_a_restock_that_answers_after_the_refund_still_settles_and_nothing_else_stays_open() -> None:
    j, state = _completed()
    j.providers = Providers(silent=frozenset({("dom", "restock_return")}))

    refunded = j.run(_return(j, state))
    found = refunded.return_("RMA-1")
    assert found is not None and found.status is ReturnStatus.REFUNDED
    (restock,) = refunded.pending_actions  # refunded, but its restock is still on its way
    assert restock.step == "RMA-1:restock"

    done = j.run(
        RecordActionResult(
            envelope=j.factory.envelope(ORDER),
            action_id=restock.action_id,
            success=True,
            details="2 restocked",
        )
    )

    assert done.steps["RMA-1:restock"].result == "succeeded"
    assert done.pending_actions == () and done.status == COMPLETED
