"""The deciders, told as the order journeys of the brief (scenarios.md)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from given import again, cmd, create_order, expect, given, line, nothing

from streams.domain.commands import (
    AssignOrderData,
    CancelOrder,
    Command,
    HoldOrder,
    RecordChannelStatus,
    RecordInvoiced,
    RecordPicked,
    RecordSentToBilling,
    RecordSentToFulfillment,
    RecordShipped,
    RecordValidation,
)
from streams.domain.decider import decide
from streams.domain.errors import DomainError, IllegalTransition, StateConflict, UnknownOrder
from streams.domain.events import (
    ChannelStatusUpdated,
    FulfillmentPicked,
    OrderAssigned,
    OrderCanceled,
    OrderCreated,
    OrderHeld,
    OrderInvoiced,
    OrderSentToFulfillment,
    OrderShipped,
    OrderValidated,
    OrderValidationFailed,
)
from streams.domain.ids import event_id
from streams.domain.order import fold
from streams.domain.transitions import (
    CANCELED,
    COMPLETED,
    FULFILLMENT_IN_PROGRESS,
    IN_PROGRESS,
    NEW,
    ON_HOLD,
)
from streams.domain.values import LineAssignment

ORDER = "bc-118"

# Scenario 1: BigCommerce > IOM > F&O (fulfillment) > F&O (accounting)
CREATED = create_order(ORDER, lines=("L1", line("L2", quantity=3, unit_price="4.50")))
VALIDATED = cmd(RecordValidation, ORDER, policy="default-validation", passed=True)
ASSIGNED = cmd(
    AssignOrderData,
    ORDER,
    company="usmf",
    invoice_customer="US-001",
    lines=(
        LineAssignment(line_id="L1", site="1", warehouse="11"),
        LineAssignment(line_id="L2", site="2", warehouse="21"),
    ),
    policy="fo-company-assignment",
)
SENT = cmd(RecordSentToFulfillment, ORDER, provider="fno", provider_order_id="SO-000118")
PICKED = cmd(RecordPicked, ORDER, provider="fno", picking_id="PK-1")
SHIPPED = cmd(
    RecordShipped, ORDER, provider="fno", shipment_id="SH-1", carrier="UPS", tracking_number="1Z999"
)
INVOICED = cmd(RecordInvoiced, ORDER, provider="fno", invoice_id="INV-1", amount=Decimal("23.50"))

JOURNEY: tuple[Command, ...] = (CREATED, VALIDATED, ASSIGNED, SENT, PICKED, SHIPPED, INVOICED)


def payload(command: Command) -> dict[str, Any]:
    return command.model_dump(exclude={"envelope"})


# --- scenario 1, step by step ---------------------------------------------------------------


def test_an_order_taken_over_from_bigcommerce_is_new() -> None:
    nothing().when(CREATED).then(
        expect(OrderCreated, seq=1, status=NEW, status_reason="Created", **payload(CREATED)),
    )


def test_a_validated_order_is_in_progress() -> None:
    given(CREATED).when(VALIDATED).then(
        expect(
            OrderValidated,
            seq=2,
            status=IN_PROGRESS,
            status_reason="Validation succeeded",
            policy="default-validation",
        ),
    )


def test_assigning_company_site_and_warehouse_keeps_the_status() -> None:
    given(CREATED, VALIDATED).when(ASSIGNED).then(
        expect(
            OrderAssigned,
            seq=3,
            status=IN_PROGRESS,
            status_reason="Validation succeeded",
            **payload(ASSIGNED),
        ),
    )


def test_sending_to_fulfillment_keeps_the_order_in_progress() -> None:
    given(CREATED, VALIDATED, ASSIGNED).when(SENT).then(
        expect(
            OrderSentToFulfillment,
            seq=4,
            status=IN_PROGRESS,
            status_reason="Sent to fulfillment",
            provider="fno",
            provider_order_id="SO-000118",
        ),
    )


def test_picked_in_fo_means_fulfillment_in_progress_picked() -> None:
    given(CREATED, VALIDATED, ASSIGNED, SENT).when(PICKED).then(
        expect(
            FulfillmentPicked,
            seq=5,
            status=FULFILLMENT_IN_PROGRESS,
            status_reason="Picked",
            provider="fno",
            picking_id="PK-1",
        ),
    )


def test_shipped_means_fulfillment_in_progress_packed() -> None:
    given(CREATED, VALIDATED, ASSIGNED, SENT, PICKED).when(SHIPPED).then(
        expect(
            OrderShipped,
            seq=6,
            status=FULFILLMENT_IN_PROGRESS,
            status_reason="Packed",
            provider="fno",
            shipment_id="SH-1",
            carrier="UPS",
            tracking_number="1Z999",
        ),
    )


def test_invoiced_means_completed_fulfilled() -> None:
    given(CREATED, VALIDATED, ASSIGNED, SENT, PICKED, SHIPPED).when(INVOICED).then(
        expect(
            OrderInvoiced,
            seq=7,
            status=COMPLETED,
            status_reason="Fulfilled",
            provider="fno",
            invoice_id="INV-1",
            amount=Decimal("23.50"),
        ),
    )


def test_the_completed_order_remembers_the_whole_journey() -> None:
    state = given(*JOURNEY).state
    assert state is not None
    assert (state.status, state.status_reason, state.version) == (COMPLETED, "Fulfilled", 7)
    assert (state.company, state.invoice_customer) == ("usmf", "US-001")
    assert [(x.line_id, x.site, x.warehouse) for x in state.lines] == [
        ("L1", "1", "11"),
        ("L2", "2", "21"),
    ]
    assert (state.fulfillment_provider, state.provider_order_id) == ("fno", "SO-000118")
    assert (state.tracking_number, state.invoice_id) == ("1Z999", "INV-1")
    assert state.created_by == CREATED.envelope.command_id


def test_channel_status_update_is_allowed_after_completion_and_keeps_the_status() -> None:
    update = cmd(RecordChannelStatus, ORDER, channel="bigcommerce", channel_status="Completed")
    given(*JOURNEY).when(update).then(
        expect(
            ChannelStatusUpdated,
            seq=8,
            status=COMPLETED,
            status_reason="Fulfilled",
            channel="bigcommerce",
            channel_status="Completed",
        ),
    )


def test_scenario_2_flexe_ships_before_company_assignment_then_fo_invoices() -> None:
    flexe = cmd(RecordSentToFulfillment, ORDER, provider="flexe")
    flexe_ships = cmd(RecordShipped, ORDER, provider="flexe", tracking_number="FX-1")
    late_assignment = cmd(AssignOrderData, ORDER, company="usmf", policy="fo-company-assignment")
    fo_bills = cmd(RecordSentToBilling, ORDER, provider="fno")
    state = given(CREATED, VALIDATED, flexe, flexe_ships, late_assignment, fo_bills).state
    assert state is not None
    assert (state.status, state.status_reason, state.company) == (
        FULFILLMENT_IN_PROGRESS,
        "Packed",
        "usmf",
    )
    given(CREATED, VALIDATED, flexe, flexe_ships, late_assignment, fo_bills).when(INVOICED).then(
        expect(
            OrderInvoiced,
            seq=7,
            status=COMPLETED,
            status_reason="Fulfilled",
            provider="fno",
            invoice_id="INV-1",
            amount=Decimal("23.50"),
        ),
    )


def test_scenario_4_an_fo_order_shipped_without_picking_goes_straight_to_packed() -> None:
    fo_order = create_order("fo-SO-7", channel="fno")
    given(fo_order, cmd(RecordValidation, "fo-SO-7", policy="p", passed=True)).when(
        cmd(RecordShipped, "fo-SO-7", provider="fno")
    ).then(
        expect(
            OrderShipped,
            seq=3,
            status=FULFILLMENT_IN_PROGRESS,
            status_reason="Packed",
            provider="fno",
        ),
    )


# --- validation -----------------------------------------------------------------------------

REASONS = ("ship-to postal code is missing", "unknown SKU 'SKU-L9'")
FAILED = cmd(RecordValidation, ORDER, policy="default-validation", passed=False, reasons=REASONS)


def test_failed_validation_puts_the_order_on_hold_and_keeps_the_reasons() -> None:
    given(CREATED).when(FAILED).then(
        expect(
            OrderValidationFailed,
            seq=2,
            status=ON_HOLD,
            status_reason="Validation failed",
            policy="default-validation",
            reasons=REASONS,
        ),
    )
    state = given(CREATED, FAILED).state
    assert state is not None
    assert state.validation_errors == REASONS


def test_an_order_on_hold_can_be_revalidated_and_the_reasons_are_cleared() -> None:
    given(CREATED, FAILED).when(VALIDATED).then(
        expect(
            OrderValidated,
            seq=3,
            status=IN_PROGRESS,
            status_reason="Validation succeeded",
            policy="default-validation",
        ),
    )
    state = given(CREATED, FAILED, VALIDATED).state
    assert state is not None
    assert (state.status, state.validation_errors) == (IN_PROGRESS, ())


def test_lines_validated_after_the_header_keep_the_order_in_progress() -> None:
    lines_validated = cmd(RecordValidation, ORDER, policy="line-validation", passed=True)
    given(CREATED, VALIDATED).when(lines_validated).then(
        expect(
            OrderValidated,
            seq=3,
            status=IN_PROGRESS,
            status_reason="Validation succeeded",
            policy="line-validation",
        ),
    )


@pytest.mark.parametrize(
    ("command", "event"),
    [(VALIDATED, "Order validation succeeded"), (FAILED, "Order validation failed")],
    ids=["succeeded", "failed"],
)
def test_validation_is_refused_once_the_order_is_in_fulfillment(command: Command, event: str) -> None:
    given(CREATED, VALIDATED, SENT, PICKED).when(again(command)).then_rejected(
        IllegalTransition,
        match=f"^order {ORDER}: '{event}' is not allowed while the order is in status "
        "'Fulfillment in progress'$",
    )


# --- refusals -------------------------------------------------------------------------------

NOT_CREATE: tuple[Command, ...] = (
    VALIDATED,
    FAILED,
    ASSIGNED,
    SENT,
    PICKED,
    SHIPPED,
    INVOICED,
    cmd(CancelOrder, ORDER, reason="Customer request"),
    cmd(HoldOrder, ORDER, reason="Payment review"),
    cmd(RecordChannelStatus, ORDER, channel="bigcommerce", channel_status="Shipped"),
)


@pytest.mark.parametrize("command", NOT_CREATE, ids=lambda c: type(c).__name__)
def test_a_command_on_an_order_that_does_not_exist_is_refused_naming_the_order(
    command: Command,
) -> None:
    error = (
        nothing()
        .when(command)
        .then_rejected(
            UnknownOrder,
            match=f"^order {ORDER}: '{type(command).__name__}' refused: the order does not exist",
        )
    )
    assert error.order_id == ORDER


def test_creating_an_existing_order_again_is_refused() -> None:
    again = create_order(ORDER)
    given(CREATED).when(again).then_rejected(DomainError, match=f"^order {ORDER}: already exists")


def test_the_same_create_redelivered_is_a_no_op() -> None:
    redelivered = create_order(ORDER, command_id=CREATED.envelope.command_id)
    given(CREATED).when(redelivered).then_nothing()
    given(*JOURNEY).when(redelivered).then_nothing()


def test_an_order_without_lines_is_refused() -> None:
    nothing().when(create_order(ORDER, lines=())).then_rejected(DomainError, match="at least one line")


def test_an_order_with_duplicate_line_ids_is_refused() -> None:
    nothing().when(create_order(ORDER, lines=("L1", "L2", "L1"))).then_rejected(
        DomainError, match=r"duplicate line ids in \['L1', 'L2', 'L1'\]"
    )


def test_assigning_an_unknown_line_is_refused_naming_the_lines() -> None:
    bad = cmd(
        AssignOrderData,
        ORDER,
        lines=(
            LineAssignment(line_id="L9", warehouse="11"),
            LineAssignment(line_id="L1", warehouse="11"),
            LineAssignment(line_id="L7", warehouse="11"),
        ),
        policy="fo-company-assignment",
    )
    given(CREATED, VALIDATED).when(bad).then_rejected(
        DomainError, match=rf"^order {ORDER}: cannot assign unknown lines \['L7', 'L9'\]$"
    )


def test_invoicing_before_fulfillment_is_refused() -> None:
    given(CREATED, VALIDATED, SENT).when(INVOICED).then_rejected(
        IllegalTransition,
        match="'Order invoiced' is not allowed while the order is in status 'In progress'",
    )


@pytest.mark.parametrize(
    ("history", "status"),
    [
        ((CREATED, VALIDATED, SENT, PICKED), FULFILLMENT_IN_PROGRESS),
        ((CREATED, VALIDATED, SENT, SHIPPED), FULFILLMENT_IN_PROGRESS),
        (JOURNEY, COMPLETED),
    ],
    ids=["picked", "shipped", "completed"],
)
def test_cancel_is_refused_once_the_order_is_in_fulfillment(
    history: tuple[Command, ...], status: str
) -> None:
    given(*history).when(cmd(CancelOrder, ORDER, reason="Customer request")).then_rejected(
        StateConflict,
        match=rf"^order {ORDER}: lines L1 \({status} / \w+\), L2 \({status} / \w+\) are picked or shipped "
        "and can no longer be canceled$",
    )


def test_a_canceled_order_cannot_be_held_or_fulfilled() -> None:
    cancel = cmd(CancelOrder, ORDER, reason="Customer request")
    for later in (cmd(HoldOrder, ORDER, reason="x"), VALIDATED, SENT, PICKED, SHIPPED, INVOICED):
        given(CREATED, VALIDATED, SENT, cancel).when(again(later)).then_rejected(
            IllegalTransition, match="'Canceled'"
        )


# --- reasons from the command ----------------------------------------------------------------


def test_the_hold_reason_is_taken_from_the_command() -> None:
    given(CREATED, VALIDATED, SENT, PICKED).when(cmd(HoldOrder, ORDER, reason="Payment review")).then(
        expect(
            OrderHeld,
            seq=5,
            status=ON_HOLD,
            status_reason="Payment review",
            reason="Payment review",
        ),
    )


def test_the_cancel_reason_is_taken_from_the_command() -> None:
    given(CREATED, VALIDATED).when(cmd(CancelOrder, ORDER, reason="Customer request")).then(
        expect(
            OrderCanceled,
            seq=3,
            status=CANCELED,
            status_reason="Customer request",
            reason="Customer request",
        ),
    )


def test_an_empty_hold_reason_falls_back_to_the_business_event() -> None:
    given(CREATED).when(cmd(HoldOrder, ORDER, reason="")).then(
        expect(OrderHeld, seq=2, status=ON_HOLD, status_reason="Order put on hold", reason=""),
    )


# --- identities and sequence -----------------------------------------------------------------


def test_deciding_the_same_command_on_the_same_state_twice_gives_identical_events() -> None:
    when = given(CREATED, VALIDATED, ASSIGNED, SENT).when(PICKED)
    first, second = when.decide(), when.decide()
    assert first == second
    assert [e.model_dump_json() for e in first] == [e.model_dump_json() for e in second]


def test_event_ids_derive_from_the_command_and_carry_its_envelope() -> None:
    (event,) = given(CREATED, VALIDATED).when(SENT).decide()
    env = event.envelope
    assert env.event_id == event_id(SENT.envelope.command_id, 0)
    assert (env.order_id, env.causation_id, env.correlation_id, env.source, env.occurred_at) == (
        ORDER,
        SENT.envelope.command_id,
        SENT.envelope.correlation_id,
        SENT.envelope.source,
        SENT.envelope.issued_at,
    )


def test_different_commands_give_different_event_ids() -> None:
    history = given(CREATED, VALIDATED)
    same_payload_other_id = cmd(RecordSentToFulfillment, ORDER, **payload(SENT))
    (a,) = history.when(SENT).decide()
    (b,) = history.when(same_payload_other_id).decide()
    assert a.envelope.event_id != b.envelope.event_id
    assert a.model_dump(exclude={"envelope"}) == b.model_dump(exclude={"envelope"})
    all_ids = [e.envelope.event_id for e in given(*JOURNEY).events]
    assert len(set(all_ids)) == len(all_ids)


@pytest.mark.parametrize("done", range(1, len(JOURNEY)))
def test_seqs_continue_the_version(done: int) -> None:
    history = given(*JOURNEY[:done])
    assert history.state is not None
    assert history.state.version == done
    (event,) = history.when(JOURNEY[done]).decide()
    assert event.envelope.seq == done + 1
    assert [e.envelope.seq for e in history.events] == list(range(1, done + 1))


def test_the_decided_events_fold_into_the_state_the_decider_saw() -> None:
    history = given(*JOURNEY)
    assert fold(history.events) == history.state
    assert decide(INVOICED, fold(history.events[:-1])) == history.events[-1:]
