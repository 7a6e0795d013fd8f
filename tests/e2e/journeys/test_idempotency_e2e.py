"""One idempotency key per step action, end to end: every provider loses the answers to
its creates (and BigCommerce to its status writes) as often as a connector tries within
one attempt, so each step fails its first attempt although the provider did the work, and
the flow retries it.

Asserted: every attempt of a step carries the same action id (the key; only ``attempt``
changes), each provider holds exactly one order or document per order (``/_sim/holdings``)
however often it was asked, every SAP create of an order carried one ``RequestID``, and
every order completes as its journey describes. Journeys are driven one at a time so that
each provider's lost answers fall on the order driven.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from conn_e2e_stack import Stack

from devkit.world import drive_journeys, settled
from streams.domain.events import Event, FlowStepRecorded, ProviderActionRequested

TRIES = 3  # start_world(http_tries=3) in conftest: every try of the first attempt loses its answer
SALES_ORDERS = "/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder"
BC_ORDERS = "/stores/simstore/v2/orders"


def lost(path: str, method: str = "POST") -> dict[str, Any]:
    """The provider does the request, then its answer never comes (``hang_seconds``)."""
    return {"kind": "timeout", "when": "after", "count": TRIES, "method": method, "path_prefix": path}


ANSWERS_LOST: dict[int, dict[str, list[dict[str, Any]]]] = {
    1: {"fno": [lost("/data/$batch")], "bigcommerce": [lost(BC_ORDERS, "PUT")]},
    2: {"flexe": [lost("/outbound_orders")], "fno": [lost("/data/$batch")], "bigcommerce": [lost(BC_ORDERS)]},
    5: {"flexe": [lost("/outbound_orders")], "sap": [lost(SALES_ORDERS)]},
}
RETRIED_STEPS = {
    1: {"send-to-fno", "tell-bigcommerce-shipped"},
    2: {"send-to-flexe", "send-to-fno-billing", "tell-bigcommerce-completed"},
    5: {"send-to-flexe", "send-to-sap-billing"},
}


@pytest.fixture(scope="module")
def driven(stack: Stack) -> dict[int, str]:
    """One order per journey, each driven while its providers lose their answers."""
    orders: dict[int, str] = {}
    for journey, faults in ANSWERS_LOST.items():
        for provider, specs in faults.items():
            for spec in specs:
                stack.sim(provider, "POST", "/_sim/faults", spec)
        [orders[journey]] = drive_journeys(
            stack.world,
            stack.settings,
            1,
            journeys=[journey],
            watch=stack.watch,
            step_timeout=120,
            seed=journey,
        )[journey]
    return orders


def _requests_by_step(events: list[Event]) -> dict[str, list[ProviderActionRequested]]:
    by_step: dict[str, list[ProviderActionRequested]] = defaultdict(list)
    for e in events:
        if isinstance(e, ProviderActionRequested):
            by_step[e.step].append(e)
    return by_step


def test_every_order_completes_although_its_providers_lost_every_first_answer(
    stack: Stack, driven: dict[int, str]
) -> None:
    assert stack.world.notes == {}
    for journey, order_id in driven.items():
        state = stack.watch.state(order_id)
        assert state is not None and settled(state), (journey, order_id, state)


def test_the_flow_retried_each_step_whose_answers_were_lost(stack: Stack, driven: dict[int, str]) -> None:
    for journey, order_id in driven.items():
        events = stack.watch.timeline(order_id)
        retried = {e.step for e in events if isinstance(e, FlowStepRecorded) and e.result == "retrying"}
        assert RETRIED_STEPS[journey] <= retried, (journey, order_id, retried)
        for step in RETRIED_STEPS[journey]:
            attempts = [r.attempt for r in _requests_by_step(events)[step]]
            assert attempts == list(range(1, len(attempts) + 1)) and len(attempts) >= 2, (step, attempts)


def test_every_attempt_of_one_step_carries_one_action_id(stack: Stack, driven: dict[int, str]) -> None:
    """The idempotency key of a step run: the same for attempt 1, 2, ...; needs the core's
    stable action ids (until then a retry's id is ``<result command id>/retry``)."""
    differing = {}
    for order_id in driven.values():
        for step, requests in _requests_by_step(stack.watch.timeline(order_id)).items():
            ids = [r.action_id for r in requests]
            if len(set(ids)) != 1:
                differing[f"{order_id} {step}"] = ids
    assert differing == {}


def test_each_provider_holds_exactly_one_order_or_document_per_order(
    stack: Stack, driven: dict[int, str]
) -> None:
    expected = {
        "fno": {driven[1]: 1, driven[2]: 1},
        "flexe": {driven[2]: 1, driven[5]: 1},
        "sap": {driven[5]: 1},
        "bigcommerce": {driven[2].removeprefix(stack.world.bigcommerce_prefix): 1},  # Flexe's tracking number
    }
    for provider, holdings in expected.items():
        held = stack.sim(provider, "GET", "/_sim/holdings")
        assert held["holdings"] == holdings and held["duplicates"] == {}, provider


def test_the_providers_were_asked_again_and_answered_the_repeats_as_the_vendor_does(
    stack: Stack, driven: dict[int, str]
) -> None:
    batches = stack.sim("fno", "GET", "/_sim/requests?method=POST&path=/data/$batch")["requests"]
    creates = stack.sim("flexe", "GET", "/_sim/requests?method=POST&path=/outbound_orders")["requests"]
    sap = stack.sim("sap", "GET", f"/_sim/requests?method=POST&path={SALES_ORDERS}")["requests"]
    assert len(batches) > 2 and len(creates) > 2 and len(sap) >= TRIES
    assert len({r["headers"].get("RequestID") for r in sap}) == 1  # one sales order, one key
    bc_id = driven[1].removeprefix(stack.world.bigcommerce_prefix)
    view = stack.sim("bigcommerce", "GET", f"/_sim/orders/{bc_id}")
    assert [h["new_status_id"] for h in view["status_history"] if h["source"] == "api"] == [2, 10]
