"""Manual orders and clones run through the same flows as channel orders."""

from __future__ import annotations

from journey_driver import DONE, Journey

from streams.domain.commands import CancelOrderLines, ConfirmOrder
from streams.domain.manual import clone
from streams.domain.transitions import CANCELED, COMPLETED


def test_a_manual_order_carries_its_origin_and_runs_through_the_flow_its_channel_picks() -> None:
    j = Journey()
    manual = j.order(1, "MAN-1", is_manual=True, sales_origin="PHONE", customer_reference="PO-4711")

    state = j.run(manual)

    assert (state.is_manual, state.sales_origin, state.customer_reference) == (True, "PHONE", "PO-4711")
    assert state.flow == "bigcommerce-fno" and (state.status, state.status_reason) == DONE


def test_a_clone_is_a_new_order_with_the_same_customer_and_open_lines_and_says_where_it_came_from() -> None:
    j = Journey()
    created = j.order(1, "ORD-1")
    two = (created.lines[0], created.lines[0].model_copy(update={"line_id": "2", "sku": "SKU-MUG-01"}))
    original = j.run(created.model_copy(update={"lines": two}))
    assert original.status == COMPLETED

    copy = clone(original, j.factory.envelope("ORD-1-C1"))
    state = Journey(engine=j.engine).run(copy)

    assert (state.order_id, state.cloned_from, state.is_manual) == ("ORD-1-C1", "ORD-1", True)
    assert (state.customer_id, state.ship_to) == (original.customer_id, original.ship_to)
    assert [(x.sku, x.quantity) for x in state.lines] == [(x.sku, x.quantity) for x in original.lines]
    assert state.external_refs == () and state.status == COMPLETED


def test_a_clone_leaves_canceled_lines_out() -> None:
    j = Journey()
    created = j.order(1, "ORD-1")
    two = (created.lines[0], created.lines[0].model_copy(update={"line_id": "2", "sku": "SKU-MUG-01"}))
    j.providers.silent = frozenset({("fno", "send_to_fulfillment")})
    j.run(created.model_copy(update={"lines": two}))
    state = j.run(CancelOrderLines(envelope=j.factory.envelope("ORD-1"), line_ids=("2",), reason="x"))
    line = state.line("2")
    assert line is not None and state.line_status(line) == CANCELED

    copy = clone(state, j.factory.envelope("ORD-1-C1"))

    assert [x.line_id for x in copy.lines] == [created.lines[0].line_id]


def test_an_order_made_in_fno_waits_for_its_confirmation_before_its_flow_starts() -> None:
    j = Journey()
    created = j.order(4, "FNO-USMF-000001", awaiting_confirmation=True)

    waiting = j.run(created)
    assert (waiting.status, waiting.status_reason, waiting.flow) == ("New", "Created", None)

    done = j.run(ConfirmOrder(envelope=j.factory.envelope("FNO-USMF-000001"), confirmed_by="fno"))
    again = j.process(ConfirmOrder(envelope=j.factory.envelope("FNO-USMF-000001"), confirmed_by="fno"))

    assert j.statuses()[:3] == [
        ("New", "Created"),
        ("New", "Confirmed"),
        ("In progress", "Validation succeeded"),
    ]
    assert done.flow == "fno-fno" and not done.awaiting_confirmation
    assert again.events == []  # confirmed once
