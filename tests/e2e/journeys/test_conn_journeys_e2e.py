"""All six journeys end to end: orders placed in BigCommerce and confirmed in F&O through
the simulators' control planes, carried by the real connectors, the writer and the
flows, while the providers fail for a while (5xx, 429, lost answers, duplicate webhooks).

Asserted: each journey's (status, reason) sequence as in scenarios.md (the same as the
stream-level test_journeys.py), BigCommerce told of shipment and completion, and exactly
one order at F&O, Flexe and SAP per order however often the connectors had to try.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from conn_e2e_stack import EXPECTED_STATUSES, SALES_ORDERS, Stack
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from timelines import statuses

from devkit.world import SIM_CREDENTIALS, WEBHOOK_KEY, drive_journeys, settled
from streams.domain.events import (
    Event,
    FlowStepRecorded,
    FulfillmentPicked,
    OrderCreated,
    OrderInvoiced,
    OrderShipped,
    ProviderActionRequested,
)
from streams.domain.order import OrderState, ReturnStatus

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
            assert statuses(events) == EXPECTED_STATUSES[journey], (journey, order_id)
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
    for journey, status_ids in told.items():
        for order_id in driven[journey]:
            bc_id = order_id.removeprefix(stack.world.bigcommerce_prefix)
            view = stack.sim("bigcommerce", "GET", f"/_sim/orders/{bc_id}")
            assert [h["new_status_id"] for h in view["status_history"] if h["source"] == "api"] == status_ids
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
    assert statuses(events) == EXPECTED_STATUSES[1]


# -- the process shell: every process kind serves /metrics, /health, /ready; no log holds a secret


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return answer.status, answer.read().decode()


def scrape(base: str) -> list[Sample]:
    status, text = _get(f"{base}/metrics")
    assert status == 200
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def total(samples: Iterable[Sample], name: str, **labels: str) -> float:
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


def test_the_writer_counted_its_commands_and_transactions(stack: Stack, driven: dict[int, list[str]]) -> None:
    samples = scrape(stack.writer_url)
    assert total(samples, "oms_commands_total", command="CreateOrder", outcome="appended") >= len(
        [o for orders in driven.values() for o in orders]
    )
    assert total(samples, "oms_records_consumed_total") > 0
    assert total(samples, "oms_transaction_commit_seconds_count") > 0
    assert total(samples, "oms_flow_step_seconds_count", step="send-to-fno", result="succeeded") > 0
    lag = [
        s for s in samples if s.name == "oms_consumer_lag" and s.labels["group"].endswith("oms-order-writer")
    ]
    assert len(lag) == stack.settings.partitions  # one gauge per partition of order.commands
    assert _get(f"{stack.writer_url}/ready")[0] == 200


def test_each_connector_counted_its_provider_calls_and_webhooks(
    stack: Stack, driven: dict[int, list[str]]
) -> None:
    for provider, base in stack.world.connectors.items():
        samples = scrape(base)
        assert total(samples, "oms_provider_calls_total", provider=provider, outcome="ok") > 0, provider
        assert total(samples, "oms_provider_call_seconds_count", provider=provider) > 0, provider
        assert total(samples, "oms_webhooks_total", provider=provider, outcome="accepted") > 0, provider
        assert _get(f"{base}/ready")[0] == 200, provider


def test_each_simulator_serves_the_shell_routes(stack: Stack, driven: dict[int, list[str]]) -> None:
    for provider, base in stack.world.simulators.items():
        assert total(scrape(base), "python_gc_collections_total") > 0, provider
        assert _get(f"{base}/health")[0] == 200, provider
        assert _get(f"{base}/ready")[0] == 200, provider


def test_no_log_of_any_process_holds_a_secret(stack: Stack, driven: dict[int, list[str]]) -> None:
    secrets = [value for variables in SIM_CREDENTIALS.values() for value in variables.values()]
    logs = [stack.workdir / "writer.log", *(stack.workdir / "world" / "logs").glob("*.log")]
    assert len(logs) > 8
    for log in logs:
        text = log.read_text(errors="replace")
        assert not [s for s in secrets if s in text], log.name
        if log.name.startswith("connector-"):
            assert WEBHOOK_KEY not in text, log.name


def test_one_filter_follows_an_order_through_the_json_logs(
    stack: Stack, driven: dict[int, list[str]]
) -> None:
    """``jq 'select(.order_id == X)'`` over every process's log finds the order in each
    connector that acted on it, with its correlation id."""
    order_id = driven[1][0]  # BigCommerce > F&O fulfillment > F&O accounting
    seen: dict[str, set[str]] = {}
    for log in (stack.workdir / "world" / "logs").glob("connector-*.log"):
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("{") and json.loads(line).get("order_id") == order_id:
                entry = json.loads(line)
                seen.setdefault(entry["process"], set()).add(entry.get("correlation_id", ""))
                assert "partition" in entry and "offset" in entry, entry
    assert {"connector-bigcommerce", "connector-fno"} <= set(seen), seen
    assert all(ids - {""} for ids in seen.values()), seen


# -- a return the shopper asks for in BigCommerce, carried by the real connectors


def _until(stack: Stack, order_id: str, what: str, done: Callable[[OrderState], bool]) -> OrderState:
    deadline = time.monotonic() + 90
    while True:
        state = stack.watch.state(order_id)
        if state is not None and done(state):
            return state
        stack.world.check()
        assert time.monotonic() < deadline, f"{order_id}: no {what} ({state and state.returns})"
        time.sleep(0.2)


def _step_succeeded(state: OrderState, step: str) -> bool:
    outcome = state.steps.get(step)
    return outcome is not None and outcome.result == "succeeded"


def test_a_shoppers_return_in_bigcommerce_is_received_credited_by_fno_and_refunded_in_the_store(
    stack: Stack, driven: dict[int, list[str]]
) -> None:
    order_id = driven[1][0]
    bc_id = order_id.removeprefix(stack.world.bigcommerce_prefix)
    line = stack.watch.state(order_id).lines[0]  # type: ignore[union-attr]
    item = {
        "reference_id": {"type": "ORDER_PRODUCT", "value": line.line_id},
        "quantity": 1,
        "reason_id": 3,
        "preferred_outcome_id": 3,  # Receive Store Credit: no replacement
    }
    made = stack.sim("bigcommerce", "POST", f"/_sim/orders/{bc_id}/returns", {"items": [item]})
    rma = f"BC-RMA-{made['id']}"

    _until(stack, order_id, "F&O return order", lambda s: _step_succeeded(s, f"{rma}:create-return-order"))
    stack.sim("fno", "POST", f"/_sim/returnorders/{rma}/receive", {"warehouse": "11"})
    done = _until(
        stack, order_id, "refund in the store", lambda s: _step_succeeded(s, f"{rma}:refund-payment")
    )

    found = done.return_(rma)
    assert (
        found is not None and found.status is ReturnStatus.REFUNDED and found.return_source == "bigcommerce"
    )
    assert [(x.line_id, x.quantity) for x in found.lines] == [(line.line_id, 1)]
    assert found.replacement_order_id is None
    assert done.status == "Completed"  # a return leaves a completed order completed
    store = stack.sim("bigcommerce", "GET", f"/_sim/orders/{bc_id}")
    (product,) = [p for p in store["products"] if str(p["id"]) == line.line_id]
    assert product["quantity_refunded"] == 1
    assert store["order"]["status_id"] in (4, 14)  # Refunded, or Partially Refunded if more is left
