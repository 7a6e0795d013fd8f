"""The six journeys of scenarios.md, run by the flow engine on the shipped flow files:
``process()`` decides each command and the flow's reactions, stand-in providers answer
every request at once and then report what they did (pick, pack, ship, invoice)."""

from __future__ import annotations

import pytest
from journey_driver import (
    DONE,
    FULFILLED,
    NEW,
    PACKED,
    PICKED,
    SENT,
    VALIDATED,
    Journey,
    Providers,
    journey_6_engine,
    shipped_flows,
)

from streams.domain.commands import RecordInvoiced, RecordShipped
from streams.domain.events import FlowStarted, OrderAssigned, OrderCreated
from streams.domain.transitions import COMPLETED, DEFAULT_TRANSITIONS, Transition

VALIDATE = [("validate-header", "succeeded"), ("validate-lines", "succeeded")]


def test_the_shipped_folder_holds_one_flow_per_journey() -> None:
    assert sorted(f.name for f in shipped_flows() if f.kind == "order") == [
        "bigcommerce-dom-fno",
        "bigcommerce-flexe-fno",
        "bigcommerce-fno",
        "fno-flexe-fno",
        "fno-flexe-sap",
        "fno-fno",
    ]


@pytest.mark.parametrize(
    ("journey", "flow"),
    [
        (1, "bigcommerce-fno"),
        (2, "bigcommerce-flexe-fno"),
        (3, "fno-flexe-fno"),
        (4, "fno-fno"),
        (5, "fno-flexe-sap"),
        (6, "bigcommerce-dom-fno"),
    ],
)
def test_each_journey_order_starts_in_its_own_flow_at_version_1(journey: int, flow: str) -> None:
    j = Journey()
    j.process(j.order(journey))

    started = j.of(FlowStarted)
    assert [(e.flow, e.flow_version) for e in started] == [(flow, 1)]
    assert j.state is not None and (j.state.flow, j.state.flow_version) == (flow, 1)


def test_journey_1_bigcommerce_order_fulfilled_and_invoiced_by_fno() -> None:
    j = Journey()
    created = j.order(1)
    assert created.company is None  # e-commerce orders arrive without a company code

    state = j.run(created)

    assert j.statuses() == [NEW, VALIDATED, SENT, PICKED, PACKED, DONE]
    assert j.actions() == [
        ("fno", "send_to_fulfillment", ""),
        ("bigcommerce", "update_channel_status", "2"),  # shipped
        ("bigcommerce", "update_channel_status", "10"),  # completed
    ]
    assert j.step_results() == [
        *VALIDATE,
        ("assign-data", "succeeded"),
        ("send-to-fno", "succeeded"),
        ("tell-bigcommerce-shipped", "succeeded"),
        ("tell-bigcommerce-completed", "succeeded"),
    ]
    # step 4: company, site and warehouse assigned before the order went to F&O
    assigned = j.of(OrderAssigned)[0]
    assert (assigned.company, assigned.invoice_customer) == ("USMF", "US-001")
    assert {(line.site, line.warehouse) for line in state.lines} == {("1", "11")}
    assert state.fulfillment_provider == "fno"
    assert state.invoice_id == "INV-ORD-1"
    assert state.channel_status == "10"
    assert state.pending_actions == ()
    assert j.refused == []


def test_journey_1_ends_done_where_the_brief_spells_it_so_the_reason_is_configuration() -> None:
    done = Transition(
        event="Order invoiced", source="Fulfillment in progress", target=COMPLETED, reason="Done"
    )
    j = Journey(table=DEFAULT_TRANSITIONS.with_rows([done]))

    j.run(j.order(1))

    assert j.statuses()[-1] == (COMPLETED, "Done")


def test_journey_2_flexe_ships_then_the_order_is_assigned_and_billed_in_fno() -> None:
    j = Journey()
    state = j.run(j.order(2))

    assert j.statuses() == [NEW, VALIDATED, SENT, PACKED, FULFILLED]
    assert j.actions() == [
        ("flexe", "send_to_fulfillment", ""),
        ("fno", "send_to_billing", ""),
        ("bigcommerce", "update_channel_status", "10"),
    ]
    # step 6 comes after the shipment: the assignment waits for "Order shipped"
    assert j.step_results() == [
        *VALIDATE,
        ("send-to-flexe", "succeeded"),
        ("assign-data", "succeeded"),
        ("send-to-fno-billing", "succeeded"),
        ("tell-bigcommerce-completed", "succeeded"),
    ]
    assert (state.company, state.fulfillment_provider, state.billing_provider) == ("USMF", "flexe", "fno")
    assert state.channel_status == "10"


def test_journey_3_fno_order_fulfilled_by_flexe_and_status_sent_back_to_fno() -> None:
    j = Journey()
    state = j.run(j.order(3))

    assert j.statuses() == [NEW, VALIDATED, SENT, PACKED, FULFILLED]
    assert j.actions() == [("flexe", "send_to_fulfillment", ""), ("fno", "send_to_billing", "")]
    assert j.step_results() == [
        *VALIDATE,
        ("send-to-flexe", "succeeded"),
        ("send-status-to-fno", "succeeded"),
    ]
    assert j.of(OrderAssigned) == []  # a dual-write order already has its company, site, warehouse
    assert (state.billing_provider, state.channel_status) == ("fno", None)


def test_journey_4_fno_ships_and_invoices_and_its_status_handler_raises_the_events() -> None:
    j = Journey()
    oid = "ORD-1"
    j.run(j.order(4, oid))
    assert j.statuses() == [NEW, VALIDATED]
    assert j.actions() == []  # nothing for a provider to do: F&O fulfils on its own

    state = j.run(
        RecordShipped(envelope=j.factory.envelope(oid), provider="fno", shipment_id="PS-1"),
        RecordInvoiced(envelope=j.factory.envelope(oid), provider="fno", invoice_id="INV-1"),
    )

    assert j.statuses() == [NEW, VALIDATED, PACKED, FULFILLED]
    assert j.actions() == []
    assert state.status == COMPLETED and state.invoice_id == "INV-1"


def test_journey_5_fno_order_fulfilled_by_flexe_and_billed_in_sap() -> None:
    j = Journey()
    state = j.run(j.order(5))

    assert j.statuses() == [NEW, VALIDATED, SENT, PACKED, FULFILLED]
    assert j.actions() == [("flexe", "send_to_fulfillment", ""), ("sap", "send_to_billing", "")]
    assert (state.fulfillment_provider, state.billing_provider, state.invoice_id) == (
        "flexe",
        "sap",
        "INV-ORD-1",
    )


def test_journey_6_dom_sources_the_lines_and_fno_fulfils_and_invoices_them() -> None:
    j = Journey()
    state = j.run(j.order(6))

    assert j.statuses() == [NEW, VALIDATED, PICKED, PACKED, FULFILLED]
    assert j.actions() == [
        ("dom", "send_to_fulfillment_optimization", ""),
        ("fno", "send_to_billing", ""),
        ("bigcommerce", "update_channel_status", "2"),
        ("bigcommerce", "update_channel_status", "10"),
    ]
    assert j.step_results() == [
        *VALIDATE,
        ("assign-company-and-site", "succeeded"),
        ("optimize-fulfillment", "succeeded"),
        ("send-lines-to-fno-billing", "succeeded"),
        ("tell-bigcommerce-shipped", "succeeded"),
        ("tell-bigcommerce-completed", "succeeded"),
    ]
    # step 4 assigns company and site only; DOM's answer stamps the shipping warehouse
    first, by_dom = j.of(OrderAssigned)
    assert first.company == "USMF"
    assert {a.warehouse for a in first.lines} == {None}
    assert by_dom.policy == "dom:optimize-fulfillment"
    assert {(line.site, line.warehouse) for line in state.lines} == {("1", "11")}
    assert state.channel_status == "10"


def test_journey_6_without_backorders_an_unsourced_line_gets_no_warehouse_and_the_others_go_on() -> None:
    j = Journey(engine=journey_6_engine(backorders="disabled"))
    created = j.order(6, seed=3)
    assert len(created.lines) > 1, "the seed must give a multi-line order"
    missing = created.lines[0]
    j.providers = Providers(unsourced_skus=frozenset({missing.sku}))

    state = j.run(created)

    warehouses = {line.line_id: line.warehouse for line in state.lines}
    assert warehouses.pop(missing.line_id) is None
    assert set(warehouses.values()) == {"11"}
    assert j.statuses()[-1] == FULFILLED  # the sourced lines were synced, fulfilled and invoiced


def test_a_run_is_reproducible_event_for_event() -> None:
    first, second = Journey(), Journey()
    first.run(first.order(6))
    second.run(second.order(6))

    assert first.events == second.events
    assert len({e.envelope.event_id for e in first.events}) == len(first.events)
    assert [e.envelope.seq for e in first.events] == list(range(1, len(first.events) + 1))


def test_an_order_no_flow_takes_stays_new_and_runs_no_step() -> None:
    j = Journey()
    state = j.run(j.order(1, channel="amazon"))

    assert [type(e) for e in j.events] == [OrderCreated]
    assert (state.status, state.flow) == ("New", None)
