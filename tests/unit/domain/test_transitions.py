"""The status model as data: the transition table, its defaults and its configuration."""

from __future__ import annotations

from decimal import Decimal

import pytest
from given import cmd, create_order, expect, given
from pydantic import ValidationError

from streams.domain.commands import RecordInvoiced, RecordPicked, RecordValidation
from streams.domain.errors import DomainError, IllegalTransition
from streams.domain.events import EVENT_TYPES, OrderInvoiced
from streams.domain.transitions import (
    CANCELED,
    COMPLETED,
    DEFAULT_TRANSITIONS,
    FROM_EVENT,
    FULFILLMENT_IN_PROGRESS,
    IN_PROGRESS,
    KEEP,
    NEW,
    ON_HOLD,
    STATUSES,
    Transition,
    TransitionTable,
)

ROWS = DEFAULT_TRANSITIONS.transitions
BUSINESS_EVENTS = {e.business_event for e in EVENT_TYPES}


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r.event} from {r.source}")
def test_every_default_row_moves_between_known_statuses(row: Transition) -> None:
    assert row.target in (*STATUSES, KEEP)
    assert row.source is None or row.source in STATUSES
    assert row.event in BUSINESS_EVENTS, f"no event class is known as '{row.event}'"
    assert row.reason


def test_only_a_new_order_starts_from_nothing() -> None:
    assert [(r.event, r.target, r.reason) for r in ROWS if r.source is None] == [
        ("New order", NEW, "Created")
    ]


def test_completed_and_canceled_are_final_in_the_defaults() -> None:
    assert [r for r in ROWS if r.source in (COMPLETED, CANCELED)] == []


@pytest.mark.parametrize(
    ("event", "status", "reason", "expected"),
    [
        ("New order", None, None, (NEW, "Created")),
        ("Order validation succeeded", NEW, "Created", (IN_PROGRESS, "Validation succeeded")),
        (
            "Order validation succeeded",
            ON_HOLD,
            "Validation failed",
            (IN_PROGRESS, "Validation succeeded"),
        ),
        (
            "Order validation failed",
            IN_PROGRESS,
            "Validation succeeded",
            (ON_HOLD, "Validation failed"),
        ),
        (
            "Order sent to fulfillment",
            IN_PROGRESS,
            "Validation succeeded",
            (IN_PROGRESS, "Sent to fulfillment"),
        ),
        ("Order picked", IN_PROGRESS, "Sent to fulfillment", (FULFILLMENT_IN_PROGRESS, "Picked")),
        ("Order shipped", FULFILLMENT_IN_PROGRESS, "Picked", (FULFILLMENT_IN_PROGRESS, "Packed")),
        ("Order invoiced", FULFILLMENT_IN_PROGRESS, "Packed", (COMPLETED, "Fulfilled")),
    ],
)
def test_the_default_table_follows_scenario_1(
    event: str, status: str | None, reason: str | None, expected: tuple[str, str]
) -> None:
    assert DEFAULT_TRANSITIONS.apply("bc-118", event, status, reason) == expected


@pytest.mark.parametrize(
    ("event", "status"),
    [
        ("Order invoiced", NEW),
        ("Order invoiced", IN_PROGRESS),
        ("Order canceled", FULFILLMENT_IN_PROGRESS),
        ("Order picked", CANCELED),
        ("New order", NEW),
    ],
)
def test_an_illegal_transition_names_the_order_the_event_and_the_status(event: str, status: str) -> None:
    with pytest.raises(IllegalTransition) as caught:
        DEFAULT_TRANSITIONS.apply("bc-118", event, status, "whatever")
    error = caught.value
    assert str(error) == f"order bc-118: '{event}' is not allowed while the order is in status '{status}'"
    assert (error.order_id, error.business_event, error.status) == ("bc-118", event, status)
    assert isinstance(error, DomainError)


def test_an_illegal_transition_before_the_order_exists_says_so() -> None:
    with pytest.raises(IllegalTransition, match=r"in status '\(no order yet\)'$"):
        DEFAULT_TRANSITIONS.apply("bc-118", "Order picked", None, None)


@pytest.mark.parametrize("event", ["Order data assigned", "Channel status updated"])
@pytest.mark.parametrize("status", STATUSES)
def test_an_event_without_rows_leaves_status_and_reason_unchanged(event: str, status: str) -> None:
    assert event not in {r.event for r in ROWS}
    assert DEFAULT_TRANSITIONS.apply("bc-118", event, status, "Some reason") == (
        status,
        "Some reason",
    )


def test_an_event_without_rows_still_needs_an_order() -> None:
    with pytest.raises(IllegalTransition, match="no order yet"):
        DEFAULT_TRANSITIONS.apply("bc-118", "Channel status updated", None, None)


def test_a_from_event_reason_takes_the_events_reason_or_else_the_event_name() -> None:
    assert DEFAULT_TRANSITIONS.apply("o", "Order put on hold", NEW, "Created", "Fraud check") == (
        ON_HOLD,
        "Fraud check",
    )
    assert DEFAULT_TRANSITIONS.apply("o", "Order put on hold", NEW, "Created", None) == (
        ON_HOLD,
        "Order put on hold",
    )
    assert {r.reason for r in ROWS if r.event in ("Order canceled", "Order put on hold")} == {FROM_EVENT}


# --- configuration ---------------------------------------------------------------------------

DONE = Transition(event="Order invoiced", source=FULFILLMENT_IN_PROGRESS, target=COMPLETED, reason="Done")


def test_configuration_can_say_done_instead_of_fulfilled() -> None:
    """Scenario 1 says 'Done', scenario 6 and the product say 'Fulfilled'."""
    scenario_1 = DEFAULT_TRANSITIONS.with_rows([DONE])
    assert scenario_1.apply("o", "Order invoiced", FULFILLMENT_IN_PROGRESS, "Packed") == (
        COMPLETED,
        "Done",
    )
    assert DEFAULT_TRANSITIONS.apply("o", "Order invoiced", FULFILLMENT_IN_PROGRESS, "Packed") == (
        COMPLETED,
        "Fulfilled",
    )
    assert len(scenario_1.transitions) == len(ROWS)
    assert set(scenario_1.transitions) - set(ROWS) == {DONE}


def test_the_decider_uses_the_configured_table() -> None:
    scenario_1 = DEFAULT_TRANSITIONS.with_rows([DONE])
    history = (
        create_order("o-1", channel="fno"),
        cmd(RecordValidation, "o-1", policy="p", passed=True),
        cmd(RecordPicked, "o-1", provider="fno"),
    )
    invoiced = cmd(RecordInvoiced, "o-1", provider="fno", invoice_id="INV-9", amount=Decimal("10"))
    for table, reason in ((scenario_1, "Done"), (DEFAULT_TRANSITIONS, "Fulfilled")):
        given(*history, table=table).when(invoiced).then(
            expect(
                OrderInvoiced,
                seq=4,
                status=COMPLETED,
                status_reason=reason,
                provider="fno",
                invoice_id="INV-9",
                amount=Decimal("10"),
            ),
        )


def test_with_rows_can_open_a_new_path() -> None:
    reopen = Transition(event="Order put on hold", source=CANCELED, target=ON_HOLD, reason=FROM_EVENT)
    table = DEFAULT_TRANSITIONS.with_rows([reopen])
    assert table.apply("o", "Order put on hold", CANCELED, "Customer request", "Reopened") == (
        ON_HOLD,
        "Reopened",
    )
    with pytest.raises(IllegalTransition):
        DEFAULT_TRANSITIONS.apply("o", "Order put on hold", CANCELED, "Customer request", "Reopened")


def test_a_table_loaded_from_plain_data_behaves_like_the_original() -> None:
    loaded = TransitionTable.model_validate(DEFAULT_TRANSITIONS.model_dump(mode="json"))
    assert loaded == DEFAULT_TRANSITIONS
    for row in ROWS:
        assert loaded.apply("o", row.event, row.source, "r", "e") == DEFAULT_TRANSITIONS.apply(
            "o", row.event, row.source, "r", "e"
        )


def test_duplicate_rows_are_refused_at_construction() -> None:
    picked = Transition(event="Order picked", source=NEW, target=FULFILLMENT_IN_PROGRESS, reason="Picked")
    also = Transition(event="Order picked", source=NEW, target=IN_PROGRESS, reason="Picked early")
    with pytest.raises(ValidationError, match="two rows for event 'Order picked' from status 'New'"):
        TransitionTable(transitions=(picked, also))
    with pytest.raises(ValidationError, match="two rows for event 'Order picked' from status 'New'"):
        TransitionTable.model_validate({"transitions": [picked.model_dump(), also.model_dump()]})


def test_a_misspelt_field_in_a_configured_row_is_refused() -> None:
    with pytest.raises(ValidationError, match="targt"):
        TransitionTable.model_validate(
            {"transitions": [{"event": "Order picked", "source": NEW, "targt": NEW, "reason": "x"}]}
        )
