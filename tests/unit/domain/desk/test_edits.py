"""Editing an order before fulfillment: one event with who and why, the flow's own
validation policies judging the result (on hold as intake would, or resumed from the
failed validation step), read-only once sent, and never a second send."""

from __future__ import annotations

from decimal import Decimal

from given import cmd, create_order, given
from journey_driver import DONE, HELD_INVALID, NEW, Journey, Providers

from streams.domain.commands import CreateOrder, EditOrder
from streams.domain.errors import InvalidRequest, StateConflict, UnknownOrder
from streams.domain.events import OrderEdited, ProviderActionRequested
from streams.domain.order import OrderState
from streams.domain.transitions import COMPLETED
from streams.domain.values import LineQuantity, OrderLine

ORDER = "ORD-1"


def _edit(j: Journey, **changes: object) -> EditOrder:
    return EditOrder(
        envelope=j.factory.envelope(ORDER), editor="ops:ada", reason="customer called", **changes
    )


def _held_for_a_bad_quantity(j: Journey) -> OrderState:
    created: CreateOrder = j.order(1, ORDER)
    bad = (created.lines[0].model_copy(update={"quantity": 0}),)
    state = j.run(created.model_copy(update={"lines": bad}))
    assert (state.status, state.status_reason) == HELD_INVALID
    return state


def test_an_edit_that_fixes_a_held_order_resumes_it_from_its_failed_step_and_it_is_sent_once() -> None:
    j = Journey()
    held = _held_for_a_bad_quantity(j)
    line_id = held.lines[0].line_id

    state = j.run(_edit(j, quantities=(LineQuantity(line_id=line_id, quantity=3),)))

    assert (state.status, state.status_reason) == DONE
    edited = j.of(OrderEdited)
    assert [(e.editor, e.reason, e.quantities) for e in edited] == [
        ("ops:ada", "customer called", (LineQuantity(line_id=line_id, quantity=3),))
    ]
    assert state.lines[0].quantity == 3
    sends = [e for e in j.of(ProviderActionRequested) if e.action == "send_to_fulfillment"]
    assert len(sends) == 1


def test_an_edit_that_fails_validation_puts_the_order_on_hold_with_the_reasons_as_intake_would() -> None:
    j = Journey()
    held = _held_for_a_bad_quantity(j)
    line_id = held.lines[0].line_id
    france = held.ship_to.model_copy(update={"country": "FR"})

    state = j.run(_edit(j, quantities=(LineQuantity(line_id=line_id, quantity=2),), ship_to=france))

    assert (state.status, state.status_reason) == HELD_INVALID
    assert state.validation_errors == ("we ship to the US and Canada only",)
    assert not any(e.action == "send_to_fulfillment" for e in j.of(ProviderActionRequested))


def test_lines_can_be_added_and_removed_and_the_ship_to_changed_before_anything_is_sent() -> None:
    j = Journey()
    held = _held_for_a_bad_quantity(j)
    old = held.lines[0].line_id
    new_line = OrderLine(line_id="9", sku="SKU-MUG-01", quantity=1, unit_price=Decimal("12.00"))
    moved = held.ship_to.model_copy(update={"city": "Austin", "postal_code": "73301"})

    state = j.run(_edit(j, added_lines=(new_line,), removed_lines=(old,), ship_to=moved))

    assert [(x.line_id, x.sku, x.quantity) for x in state.lines] == [("9", "SKU-MUG-01", 1)]
    assert state.ship_to.city == "Austin"
    assert state.status == COMPLETED  # valid now: resumed, sent, fulfilled


def test_an_order_sent_to_fno_is_read_only_and_the_refusal_names_the_lines() -> None:
    j = Journey(providers=Providers(silent=frozenset({("fno", "send_to_fulfillment")})))
    state = j.run(j.order(1, ORDER))
    line_id = state.lines[0].line_id
    edit = _edit(j, quantities=(LineQuantity(line_id=line_id, quantity=5),))

    before = len(j.events)
    outcome = j.refused_to(edit)

    assert isinstance(outcome, StateConflict)
    assert f"lines {line_id} (sent to fno) are read-only" in str(outcome)
    assert len(j.events) == before  # nothing half-applied


def test_a_completed_order_takes_no_edit() -> None:
    j = Journey()
    j.run(j.order(1, ORDER))
    refused = j.refused_to(_edit(j, quantities=(LineQuantity(line_id="1", quantity=2),)))
    assert isinstance(refused, StateConflict) and "is Completed (Done): it can no longer be edited" in str(
        refused
    )


def test_an_edit_of_an_unknown_order_is_refused_as_unknown() -> None:
    edit = cmd(EditOrder, "NOPE", editor="ops", reason="r", removed_lines=("L1",))
    given().when(edit).then_rejected(UnknownOrder, match="the order does not exist")


def test_an_edit_must_say_who_and_why_and_change_something() -> None:
    base = create_order(ORDER, ("L1", "L2"))
    given(base).when(cmd(EditOrder, ORDER, editor=" ", reason="r", removed_lines=("L1",))).then_rejected(
        InvalidRequest, match="needs an editor and a reason"
    )
    given(base).when(cmd(EditOrder, ORDER, editor="ops", reason="r")).then_rejected(
        InvalidRequest, match="changes nothing"
    )
    given(base).when(
        cmd(EditOrder, ORDER, editor="ops", reason="r", removed_lines=("L1", "L2"))
    ).then_rejected(InvalidRequest, match="cannot remove every line: cancel the order instead")
    given(base).when(
        cmd(EditOrder, ORDER, editor="ops", reason="r", quantities=(LineQuantity(line_id="L7", quantity=1),))
    ).then_rejected(InvalidRequest, match=r"has no lines \['L7'\]")


def test_the_edit_event_keeps_the_status_and_records_the_changes() -> None:
    base = create_order(ORDER, ("L1", "L2"))
    events = (
        given(base)
        .when(
            cmd(
                EditOrder,
                ORDER,
                editor="ops",
                reason="r",
                quantities=(LineQuantity(line_id="L2", quantity=4),),
            )
        )
        .decide()
    )
    assert [(type(e), e.envelope.status, e.envelope.status_reason, e.envelope.seq) for e in events] == [
        (OrderEdited, NEW[0], NEW[1], 2)
    ]
