"""All six journeys end to end: orders placed in BigCommerce and confirmed in F&O through
the simulators' control planes, carried by the real connectors, the writer and the
flows, while the providers fail for a while (5xx, 429, lost answers, duplicate webhooks).

Asserted: each journey's (status, reason) sequence as in scenarios.md (the same as the
stream-level test_journeys.py), BigCommerce told of shipment and completion, and exactly
one order at F&O, Flexe and SAP per order however often the connectors had to try.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from conn_e2e_stack import Stack

from devkit.world import SIM_CREDENTIALS, drive_journeys, settled
from streams.domain.events import (
    Event,
    FlowStepRecorded,
    FulfillmentPicked,
    OrderCreated,
    OrderInvoiced,
    OrderShipped,
    ProviderActionRequested,
)

NEW = ("New", "Created")
VALIDATED = ("In progress", "Validation succeeded")
SENT = ("In progress", "Sent to fulfillment")
PICKED = ("Fulfillment in progress", "Picked")
PACKED = ("Fulfillment in progress", "Packed")
DONE = ("Completed", "Fulfilled")
DONE_J1 = ("Completed", "Done")
"""Journey 1 ends as the brief words it (its flow's status_reasons)."""

EXPECTED_STATUSES = {
    1: [NEW, VALIDATED, SENT, PICKED, PACKED, DONE_J1],
    2: [NEW, VALIDATED, SENT, PACKED, DONE],
    3: [NEW, VALIDATED, SENT, PACKED, DONE],
    4: [NEW, VALIDATED, PACKED, DONE],
    5: [NEW, VALIDATED, SENT, PACKED, DONE],
    6: [NEW, VALIDATED, PICKED, PACKED, DONE],
}
EXPECTED_ACTIONS = {
    1: [("fno", "send_to_fulfillment", ""), ("bigcommerce", "update_channel_status", "2"),
        ("bigcommerce", "update_channel_status", "10")],
    2: [("flexe", "send_to_fulfillment", ""), ("fno", "send_to_billing", ""),
        ("bigcommerce", "update_channel_status", "10")],
    3: [("flexe", "send_to_fulfillment", ""), ("fno", "send_to_billing", "")],
    4: [],
    5: [("flexe", "send_to_fulfillment", ""), ("sap", "send_to_billing", "")],
    6: [("dom", "send_to_fulfillment_optimization", ""), ("fno", "send_to_billing", ""),
        ("bigcommerce", "update_channel_status", "2"), ("bigcommerce", "update_channel_status", "10")],
}  # fmt: skip
SALES_ORDERS = "/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder"
OUTAGES: dict[str, list[dict[str, Any]]] = {
    "fno": [
        {"kind": "5xx", "status": 503, "count": 2, "path_prefix": "/data/$batch"},
        {"kind": "429", "count": 2, "method": "GET", "path_prefix": "/data/", "retry_after": 1},
        {"kind": "timeout", "when": "after", "count": 1, "path_prefix": "/data/$batch"},
        {"kind": "duplicate_webhook", "count": 3, "path_prefix": "Sales"},
    ],
    "flexe": [
        {"kind": "5xx", "status": 502, "count": 2, "method": "POST", "path_prefix": "/outbound_orders"},
        {"kind": "429", "count": 1, "method": "POST", "path_prefix": "/outbound_orders", "retry_after": 1},
        {"kind": "timeout", "when": "after", "count": 1, "method": "POST", "path_prefix": "/outbound_orders"},
        {"kind": "duplicate_webhook", "count": 2, "path_prefix": "order_shipped"},
    ],
    "sap": [
        {"kind": "5xx", "status": 503, "count": 2, "method": "POST", "path_prefix": SALES_ORDERS},
        {"kind": "429", "count": 1, "method": "GET", "path_prefix": SALES_ORDERS, "retry_after": 1},
        {"kind": "duplicate_webhook", "count": 1, "path_prefix": "sap.s4.beh"},
    ],
    "bigcommerce": [
        {
            "kind": "5xx",
            "status": 500,
            "count": 2,
            "method": "GET",
            "path_prefix": "/stores/simstore/v2/orders",
        },
        {
            "kind": "429",
            "count": 2,
            "method": "PUT",
            "path_prefix": "/stores/simstore/v2/orders",
            "retry_after": 1,
        },
        {"kind": "duplicate_webhook", "count": 2, "path_prefix": "store/order/created"},
    ],
}
ORDERS_PER_JOURNEY = 2


def _statuses(events: list[Event]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for e in events:
        pair = (e.envelope.status, e.envelope.status_reason)
        if not out or out[-1] != pair:
            out.append(pair)
    return out


def _actions(events: list[Event]) -> list[tuple[str, str, str]]:
    """Each action once, retries folded in."""
    seen: list[tuple[str, str, str]] = []
    for e in events:
        if isinstance(e, ProviderActionRequested):
            action = (e.provider, e.action, e.params.get("status_id", ""))
            if action not in seen:
                seen.append(action)
    return seen


@pytest.fixture(scope="module")
def outages(stack: Stack) -> dict[str, list[dict[str, Any]]]:
    for provider, faults in OUTAGES.items():
        for fault in faults:
            stack.sim(provider, "POST", "/_sim/faults", fault)
    return OUTAGES


@pytest.fixture(scope="module")
def driven(stack: Stack, outages: dict[str, Any]) -> dict[int, list[str]]:
    return drive_journeys(stack.world, stack.settings, ORDERS_PER_JOURNEY, watch=stack.watch, step_timeout=90)


def test_every_order_completes_through_the_statuses_its_journey_describes(
    stack: Stack, driven: dict[int, list[str]]
) -> None:
    assert stack.world.notes == {}
    for journey, order_ids in driven.items():
        assert len(order_ids) == ORDERS_PER_JOURNEY
        for order_id in order_ids:
            state = stack.watch.state(order_id)
            assert state is not None and settled(state), (journey, order_id, state)
            events = stack.watch.timeline(order_id)
            assert _statuses(events) == EXPECTED_STATUSES[journey], (journey, order_id)
            assert _actions(events) == EXPECTED_ACTIONS[journey], (journey, order_id)


def test_duplicate_deliveries_made_no_duplicate_history(stack: Stack, driven: dict[int, list[str]]) -> None:
    for journey, order_ids in driven.items():
        for order_id in order_ids:
            kinds = Counter(type(e) for e in stack.watch.timeline(order_id))
            assert kinds[OrderCreated] == kinds[OrderShipped] == kinds[OrderInvoiced] == 1, (
                journey,
                order_id,
            )
            assert kinds[FulfillmentPicked] == (1 if journey in (1, 6) else 0), (journey, order_id)


def test_bigcommerce_heard_of_shipment_and_completion(stack: Stack, driven: dict[int, list[str]]) -> None:
    told = {1: [2, 10], 2: [10], 6: [2, 10]}
    for journey, statuses in told.items():
        for order_id in driven[journey]:
            bc_id = order_id.removeprefix(stack.world.bigcommerce_prefix)
            view = stack.sim("bigcommerce", "GET", f"/_sim/orders/{bc_id}")
            assert [h["new_status_id"] for h in view["status_history"] if h["source"] == "api"] == statuses
            assert view["order"]["status_id"] == 10
            if journey == 2:  # Flexe's tracking number became a BigCommerce shipment
                [shipment] = view["shipments"]
                assert shipment["tracking_number"] == stack.watch.state(order_id).tracking_number  # type: ignore[union-attr]


def test_each_provider_got_exactly_one_order_per_order_despite_retries(
    stack: Stack, driven: dict[int, list[str]]
) -> None:
    fno = (stack.sim("fno", "GET", "/_sim/salesorders"))["salesorders"]
    flexe = (stack.sim("flexe", "GET", "/_sim/outbound_orders"))["outbound_orders"]
    sap = (stack.sim("sap", "GET", "/_sim/salesorders"))["salesorders"]
    fno_made = Counter(o["header"]["CustomersOrderReference"] for o in fno if o["origin"] == "odata")
    flexe_made = Counter(o["externalId"] for o in flexe)
    sap_made = Counter(o["PurchaseOrderByCustomer"] for o in sap)
    assert fno_made == Counter(o for j in (1, 2, 6) for o in driven[j])
    assert flexe_made == Counter(o for j in (2, 3, 5) for o in driven[j])
    assert sap_made == Counter(driven[5])

    batches = (stack.sim("fno", "GET", "/_sim/requests?method=POST&path=/data/$batch"))["requests"]
    creates = (stack.sim("flexe", "GET", "/_sim/requests?method=POST&path=/outbound_orders"))["requests"]
    assert len(batches) > len(fno_made) and len(creates) > len(flexe_made)  # they did retry


def test_every_outage_was_met_and_outlasted(stack: Stack, driven: dict[int, list[str]]) -> None:
    for provider in OUTAGES:
        armed = stack.sim(provider, "GET", "/_sim/faults")["faults"]
        assert [f for f in armed if f["kind"] != "duplicate_webhook"] == [], provider


def test_a_provider_down_past_the_connectors_tries_is_retried_by_the_flow(stack: Stack) -> None:
    tries = 3  # start_world(http_tries=3) in conftest
    outage = {"kind": "5xx", "status": 503, "count": tries, "path_prefix": "/data/$batch"}
    stack.sim("fno", "POST", "/_sim/faults", outage)
    ids = drive_journeys(
        stack.world, stack.settings, 1, journeys=[1], watch=stack.watch, step_timeout=90, seed=11
    )
    [order_id] = ids[1]

    events = stack.watch.timeline(order_id)
    steps = [
        (e.step, e.result, e.details)
        for e in events
        if isinstance(e, FlowStepRecorded) and e.step == "send-to-fno"
    ]
    assert steps[0][:2] == ("send-to-fno", "retrying")
    assert steps[0][2].startswith(f"HTTP 503 after {tries} tries: POST /data/$batch")
    assert steps[-1][:2] == ("send-to-fno", "succeeded")
    assert _statuses(events) == EXPECTED_STATUSES[1]


def test_no_secret_reaches_a_log(stack: Stack, driven: dict[int, list[str]]) -> None:
    secrets = [value for variables in SIM_CREDENTIALS.values() for value in variables.values()]
    for log in (stack.world.workdir / "logs").glob("connector-*.log"):
        text = log.read_text(errors="replace")
        assert not [s for s in secrets if s in text], log.name
