"""The audit: what it reads out of one order's history, and the table's verdicts, row by row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from devkit.soak.audit import (
    COPIES,
    EXPECTED_STATE,
    MILESTONES,
    DeadLetter,
    Evidence,
    OrderFacts,
    Webhook,
    build_table,
    examples,
    facts_of,
    render_examples,
    render_markdown,
    render_text,
    settled_as_expected,
)
from streams.domain.events import (
    Envelope,
    Event,
    FulfillmentPicked,
    OrderCreated,
    OrderInvoiced,
    OrderSentToFulfillment,
    OrderShipped,
    ProviderActionRequested,
)
from streams.domain.order import OrderState, fold
from streams.domain.values import Address, OrderLine

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class History:
    """Events of one order with gapless seqs, as the writer would append them."""

    def __init__(self, order_id: str = "S-BC-100") -> None:
        self.order_id = order_id
        self.events: list[Event] = []

    def add(self, cls: type[Event], status: str, reason: str, **fields: Any) -> History:
        seq = len(self.events) + 1
        env = Envelope(
            event_id=f"{self.order_id}/{seq}",
            order_id=self.order_id,
            seq=seq,
            occurred_at=T0 + timedelta(seconds=seq),
            correlation_id="c",
            causation_id=f"cmd-{seq}",
            source="tests",
            status=status,
            status_reason=reason,
        )
        self.events.append(cls(envelope=env, **fields))
        return self

    def created(self) -> History:
        return self.add(
            OrderCreated,
            "New",
            "Created",
            channel="bigcommerce",
            customer_id="c-1",
            currency="USD",
            ship_to=Address(name="Jane", line1="1 Main St", city="Austin", postal_code="73301", country="US"),
            lines=(OrderLine(line_id="1", sku="SKU-MUG-01", quantity=1, unit_price=Decimal("5.00")),),
        )

    def requested(
        self,
        step: str,
        status: str = "In progress",
        reason: str = "Validation succeeded",
        action: str = "send_to_fulfillment",
    ) -> History:
        return self.add(
            ProviderActionRequested,
            status,
            reason,
            action_id=f"{step}-a{len(self.events)}",
            step=step,
            provider="fno",
            action=action,
            attempt=1,
            max_attempts=4,
            critical=True,
            not_before=T0,
            deadline=T0 + timedelta(minutes=1),
        )

    def journey_1(self) -> History:
        """Journey 1 as it should read; the send-to-fno step settled by its success event."""
        from streams.domain.events import FlowStepRecorded

        self.created().requested("send-to-fno")
        self.add(OrderSentToFulfillment, "In progress", "Sent to fulfillment", provider="fno")
        self.add(
            FlowStepRecorded,
            "In progress",
            "Sent to fulfillment",
            flow="bigcommerce-fno",
            flow_version=1,
            step="send-to-fno",
            result="succeeded",
        )
        self.add(FulfillmentPicked, "Fulfillment in progress", "Picked", provider="fno")
        self.add(OrderShipped, "Fulfillment in progress", "Packed", provider="fno")
        return self.add(OrderInvoiced, "Completed", "Done", provider="fno", invoice_id="CIV-1")

    def state(self) -> OrderState:
        state = fold(self.events)
        assert state is not None
        return state


def test_a_journey_that_went_all_the_way_has_its_milestones_and_nothing_open() -> None:
    history = History().journey_1()

    facts = facts_of(history.state(), history.events)

    assert facts.milestones == MILESTONES[1]
    assert facts.terminal and facts.open_steps == () and facts.timers == 0 and facts.stale_requests == 0
    assert settled_as_expected(history.state(), 1)


def test_a_completed_order_still_waiting_for_its_step_has_an_open_step_and_a_live_timer() -> None:
    history = History().created().requested("send-to-fno")
    history.add(FulfillmentPicked, "Fulfillment in progress", "Picked", provider="fno")
    history.add(OrderInvoiced, "Completed", "Done", provider="fno", invoice_id="CIV-1")

    facts = facts_of(history.state(), history.events)

    assert facts.open_steps == ("send-to-fno",) and facts.timers == 1
    assert ("OrderSentToFulfillment", "fno") not in facts.milestones
    assert not settled_as_expected(history.state(), 1)


def test_a_step_requested_again_after_completion_is_stale_but_a_first_request_then_is_not() -> None:
    history = History().created().requested("send-to-fno")
    history.add(OrderInvoiced, "Completed", "Done", provider="fno", invoice_id="CIV-1")
    history.requested("tell-bigcommerce-completed", "Completed", "Done")
    history.requested("send-to-fno", "Completed", "Done")  # the timer fired on a completed order

    assert facts_of(history.state(), history.events).stale_requests == 1


def test_a_notification_retried_after_completion_is_not_stale() -> None:
    # Given BigCommerce's shipment notice failed once and the order completed meanwhile
    tell = "tell-bigcommerce-shipped"
    history = History().created().requested(tell, action="update_channel_status")
    history.add(OrderInvoiced, "Completed", "Done", provider="fno", invoice_id="CIV-1")
    # When its retry is requested on the completed order
    history.requested(tell, "Completed", "Done", action="update_channel_status")
    # Then the channel still hears, and that is no stale request
    assert facts_of(history.state(), history.events).stale_requests == 0


def _good(journey: int = 1, order_id: str = "S-BC-100") -> OrderFacts:
    return OrderFacts(
        order_id,
        *EXPECTED_STATE[journey],
        milestones=MILESTONES[journey],
        event_types=frozenset(
            {"OrderCreated", "OrderSentToFulfillment", "FulfillmentPicked", "OrderShipped", "OrderInvoiced"}
        ),
    )


def _evidence(**changes: Any) -> Evidence:
    """One journey-1 order that went all the way, one webhook per step, the poison dead-lettered."""
    order = "S-BC-100"
    base: dict[str, Any] = {
        "journeys": {order: 1},
        "facts": {order: _good()},
        "copies": {"fno": {order: 1}},
        "webhooks": [
            Webhook("bigcommerce", "h1", order, "OrderCreated", delivered=True),
            Webhook("fno", "e1", order, "FulfillmentPicked", delivered=True, copies=2),
            Webhook("fno", "e2", order, "OrderInvoiced", delivered=True, resent=True),
            Webhook("bigcommerce", "h2", None, None, delivered=True),
        ],
        "dead_letters": [DeadLetter("soak-poison-1", "soak.order.commands", "unknown framing")],
        "poison": {"soak-poison-1"},
        "convergence": 12.5,
    }
    base.update(changes)
    return Evidence(**base)


def _failed(ev: Evidence) -> list[str]:
    return [row.check for row in build_table(ev).failures()]


def test_a_clean_soak_passes_every_check() -> None:
    table = build_table(_evidence())

    assert table.passed, render_text(table)
    assert "webhooks lost" in render_markdown(table)


def test_an_order_short_of_its_terminal_state_fails_its_journey_row_and_says_where_it_is() -> None:
    stuck = OrderFacts("S-BC-100", "Fulfillment in progress", "Packed", milestones=MILESTONES[1][:4])

    table = build_table(_evidence(facts={"S-BC-100": stuck}))

    row = next(r for r in table.rows if r.check.startswith("J1 "))
    assert row.ok is False and "Fulfillment in progress / Packed" in row.value
    assert any(r.check.startswith("histories") for r in table.failures())


def test_a_missing_or_second_provider_copy_fails_that_providers_row() -> None:
    assert _failed(_evidence(copies={"fno": {}})) == ["provider copies per order: F&O sales orders"]
    assert _failed(_evidence(copies={"fno": {"S-BC-100": 2}})) == [
        "provider copies per order: F&O sales orders"
    ]
    assert COPIES[1] == ("fno",)


def test_a_webhook_that_never_got_through_or_left_no_trace_is_lost() -> None:
    undelivered = Webhook("flexe", "x", "S-BC-100", "OrderShipped", delivered=False)
    traceless = Webhook("sap", "y", "S-BC-100", "OrderSentToBilling", delivered=True)

    for hook in (undelivered, traceless):
        assert _failed(_evidence(webhooks=[hook])) == ["webhooks lost"]


def test_a_dead_letter_that_was_not_injected_fails_and_so_does_poison_that_went_missing() -> None:
    other = DeadLetter("S-BC-100", "soak.order.commands", "unknown framing")

    assert _failed(_evidence(dead_letters=[other], poison=set())) == ["records on the dead-letter topic"]
    assert _failed(_evidence(dead_letters=[])) == ["records on the dead-letter topic"]


def test_gaps_conflicting_seqs_wedged_processes_and_no_convergence_each_fail_their_row() -> None:
    assert _failed(_evidence(gaps={"S-BC-100": [7]})) == ["orders with a seq gap"]
    assert _failed(_evidence(seq_conflicts={"S-BC-100": [3]})) == ["duplicate seqs (two events, one seq)"]
    assert _failed(_evidence(wedged=["order-writer"])) == [
        "processes wedged (a backlog, no progress: restarted)"
    ]
    assert _failed(_evidence(convergence=None, waited=150)) == ["time from the last fault to convergence"]


def test_open_steps_timers_and_stale_requests_on_terminal_orders_fail() -> None:
    facts = _good()
    open_order = OrderFacts(
        **{**facts.__dict__, "open_steps": ("send-to-fno",), "timers": 1, "stale_requests": 2}
    )

    assert _failed(_evidence(facts={"S-BC-100": open_order})) == [
        "open steps on terminal orders",
        "live timers on terminal orders",
        "actions requested again after completion",
    ]


def test_examples_name_the_orders_behind_each_failed_check() -> None:
    stuck = OrderFacts("S-BC-100", "Completed", "Done", open_steps=("send-to-fno",), timers=1)

    found = examples(_evidence(facts={"S-BC-100": stuck}, copies={"fno": {"S-BC-100": 3}}))

    assert found["open steps on terminal orders"] == ["S-BC-100 (send-to-fno)"]
    assert found["F&O sales orders: not exactly 1"] == ["S-BC-100 (3)"]
    assert "S-BC-100" in render_examples(found)
    assert examples(_evidence()) == {}
