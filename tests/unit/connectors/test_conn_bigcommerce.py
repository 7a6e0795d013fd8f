"""The BigCommerce connector against the BigCommerce simulator: intake by signed webhook
and by polling, and the order status written back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import ClientSession
from conn_testing import (
    RecordingPublisher,
    Serve,
    control,
    created_state,
    drain,
    one_command,
    request_for,
    requests_to,
    second_instance,
)

from connectors.actions import answer
from connectors.bigcommerce import (
    BigCommerceConnector,
    BigCommerceOptions,
    bigcommerce_webhook_key,
    parse_attributes,
)
from connectors.http import ProviderHttp, RetryPolicy, StaticAuth
from connectors.state import ConnectorStore
from connectors.webhooks import make_web_app
from simulators.bigcommerce import BigCommerceSettings, BigCommerceSimulator
from streams.domain.commands import CancelOrder, CreateOrder, RecordActionResult, RequestReturn


@dataclass
class Store:
    sim: str
    url: str
    connector: BigCommerceConnector
    publisher: RecordingPublisher

    async def new_order(self, **spec: Any) -> int:
        created = await control(self.sim, "POST", "/_sim/orders", spec)
        await drain(self.sim)
        order_id: int = created["order"]["id"]
        return order_id


def make_connector(
    sim: str, store: ConnectorStore, publisher: RecordingPublisher, timeout: float = 10.0, **options: Any
) -> BigCommerceConnector:
    api = ProviderHttp(
        f"{sim}/stores/simstore",
        "bigcommerce",
        RetryPolicy(tries=3, backoff=0.01, timeout=timeout),
        StaticAuth({"X-Auth-Token": "sim-bc-token"}),
    )
    return BigCommerceConnector(
        api,
        store,
        publisher,
        BigCommerceOptions(**options),
        bigcommerce_webhook_key("sim-bc-client-secret"),
    )


@pytest_asyncio.fixture
async def bc(serve: Serve, store: ConnectorStore, publisher: RecordingPublisher) -> AsyncIterator[Store]:
    sim = await serve(
        BigCommerceSimulator(BigCommerceSettings(time_scale=0.001, hang_seconds=1.0)).make_app()
    )
    connector = make_connector(sim, store, publisher, timeout=0.3, default_attributes={"billing": "fno"})
    url = await serve(make_web_app("bigcommerce", connector.routes(), 256 * 1024))
    await control(sim, "PUT", "/_sim/config", {"webhook_url": f"{url}/webhooks/bigcommerce"})
    yield Store(sim, url, connector, publisher)
    await connector.close()


ADDRESS = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "street_1": "12 Analytical Way",
    "street_2": "Suite 3",
    "city": "Seattle",
    "state": "WA",
    "zip": "98101",
    "country": "United States",
    "country_iso2": "US",
    "phone": "555-0100",
    "email": "ada@example.com",
}


@pytest.mark.asyncio
async def test_a_new_order_is_taken_in_from_its_signed_webhook(bc: Store) -> None:
    bc_id = await bc.new_order(
        customer_id=42,
        staff_notes="gift wrap please; fulfillment=flexe\npriority = high",
        shipping_addresses=[ADDRESS],
        products=[
            {"sku": "MUG", "quantity": 2, "price": "12.50"},
            {"sku": "CAP", "quantity": 1, "price": "7"},
        ],
    )

    [created] = bc.publisher.of(CreateOrder)
    assert created.envelope.order_id == f"BC-{bc_id}"
    assert created.envelope.command_id == f"bigcommerce/order/{bc_id}/create"
    assert created.channel == "bigcommerce"
    assert created.customer_id == "42"
    assert [(r.system, r.ref) for r in created.external_refs] == [("bigcommerce", str(bc_id))]
    assert created.attributes == {"billing": "fno", "fulfillment": "flexe", "priority": "high"}
    assert created.ship_to.model_dump() == {
        "name": "Ada Lovelace",
        "line1": "12 Analytical Way",
        "line2": "Suite 3",
        "city": "Seattle",
        "state": "WA",
        "postal_code": "98101",
        "country": "US",
        "phone": "555-0100",
        "email": "ada@example.com",
    }
    assert [(line.sku, line.quantity, line.unit_price) for line in created.lines] == [
        ("MUG", 2, Decimal("12.5000")),
        ("CAP", 1, Decimal("7.0000")),
    ]


@pytest.mark.asyncio
async def test_a_webhook_delivered_twice_takes_the_order_in_once(bc: Store) -> None:
    await control(
        bc.sim, "POST", "/_sim/faults", {"kind": "duplicate_webhook", "path_prefix": "store/order/created"}
    )
    await bc.new_order()
    deliveries = await drain(bc.sim)

    assert [d["state"] for d in deliveries] == ["delivered", "delivered"]
    assert len(bc.publisher.of(CreateOrder)) == 1


@pytest.mark.asyncio
async def test_an_incomplete_order_waits_until_its_status_says_it_is_an_order(bc: Store) -> None:
    bc_id = await bc.new_order(status_id=7)
    assert bc.publisher.commands == []

    await control(bc.sim, "POST", f"/_sim/orders/{bc_id}/status", {"status_id": 11})
    await drain(bc.sim)
    [created] = bc.publisher.of(CreateOrder)
    assert created.envelope.order_id == f"BC-{bc_id}"


@pytest.mark.asyncio
async def test_while_bigcommerce_cannot_answer_the_webhook_is_refused_and_taken_in_on_redelivery(
    bc: Store,
) -> None:
    await control(
        bc.sim,
        "POST",
        "/_sim/faults",
        {"kind": "5xx", "count": 3, "status": 503, "path_prefix": "/stores/simstore/v2/orders"},
    )
    bc_id = await bc.new_order()
    [delivery] = await drain(bc.sim)

    assert [a["status"] for a in delivery["attempts"]] == [503, 204]
    assert [c.envelope.order_id for c in bc.publisher.commands] == [f"BC-{bc_id}"]


@pytest.mark.asyncio
async def test_while_kafka_is_down_the_webhook_is_refused_and_nothing_is_lost(bc: Store) -> None:
    bc.publisher.fail = True
    await control(bc.sim, "PUT", "/_sim/config", {"time_scale": 0.01})
    created = await control(bc.sim, "POST", "/_sim/orders", {})
    async with asyncio.timeout(10):  # until the first delivery was tried (and refused)
        while not (await control(bc.sim, "GET", "/_sim/deliveries"))["deliveries"][0]["attempts"]:
            await asyncio.sleep(0.01)
    bc.publisher.fail = False
    [delivery] = await drain(bc.sim)

    assert delivery["attempts"][0]["status"] == 503
    assert delivery["state"] == "delivered"
    assert [c.envelope.order_id for c in bc.publisher.commands] == [f"BC-{created['order']['id']}"]


@pytest.mark.asyncio
async def test_the_status_is_written_back_and_our_own_echo_is_ignored(bc: Store) -> None:
    bc_id = await bc.new_order()
    state = created_state(bc.publisher.of(CreateOrder)[0])

    result = await answer(
        bc.connector,
        request_for(state, "bigcommerce", "update_channel_status", {"status_id": "2"}),
        bc.publisher,
    )
    await drain(bc.sim)  # the statusUpdated echo came back

    assert result is not None and result.success and result.data == {"channel_status": "2"}
    view = await control(bc.sim, "GET", f"/_sim/orders/{bc_id}")
    assert [(h["new_status_id"], h["source"]) for h in view["status_history"]] == [(11, "create"), (2, "api")]
    assert view["shipments"] == []  # no tracking number known
    assert [type(c) for c in bc.publisher.commands] == [CreateOrder, RecordActionResult]


@pytest.mark.asyncio
async def test_a_known_tracking_number_becomes_a_shipment_once(bc: Store) -> None:
    bc_id = await bc.new_order(products=[{"sku": "MUG", "quantity": 2}, {"sku": "CAP", "quantity": 1}])
    state = created_state(bc.publisher.of(CreateOrder)[0], tracking_number="1ZSIM0000000042")
    request = request_for(state, "bigcommerce", "update_channel_status", {"status_id": "10"})

    first = await answer(bc.connector, request, bc.publisher)
    again = await answer(bc.connector, request, bc.publisher)

    view = await control(bc.sim, "GET", f"/_sim/orders/{bc_id}")
    [shipment] = view["shipments"]
    assert shipment["tracking_number"] == "1ZSIM0000000042" and shipment["shipping_provider"] == "ups"
    assert sorted((i["order_product_id"], i["quantity"]) for i in shipment["items"]) == [
        (p["id"], p["quantity"]) for p in view["products"]
    ]
    assert first is not None and again is not None and first.success and again.success
    assert view["order"]["status_id"] == 10


@pytest.mark.asyncio
async def test_a_shipment_whose_answer_was_lost_is_not_made_twice_and_every_attempt_writes_one_status(
    bc: Store,
) -> None:
    bc_id = await bc.new_order(products=[{"sku": "MUG", "quantity": 2}])
    state = created_state(bc.publisher.of(CreateOrder)[0], tracking_number="1ZSIM0000000043")
    lost = {
        "kind": "timeout",
        "when": "after",
        "method": "POST",
        "path_prefix": f"/stores/simstore/v2/orders/{bc_id}/shipments",
    }
    await control(bc.sim, "POST", "/_sim/faults", lost)
    first = request_for(state, "bigcommerce", "update_channel_status", {"status_id": "2"}, action_id="run-1")

    results = [
        await answer(bc.connector, first.model_copy(update={"attempt": n}), bc.publisher) for n in (1, 2)
    ]

    assert all(r is not None and r.success for r in results)
    view = await control(bc.sim, "GET", f"/_sim/orders/{bc_id}")
    assert [s["tracking_number"] for s in view["shipments"]] == ["1ZSIM0000000043"]
    assert [h["new_status_id"] for h in view["status_history"] if h["source"] == "api"] == [2]
    posts = await requests_to(bc.sim, "POST", f"/stores/simstore/v2/orders/{bc_id}/shipments")
    assert [p["status"] for p in posts][1:] == [400]  # the retry, refused: nothing left to ship
    assert (await control(bc.sim, "GET", "/_sim/holdings"))["holdings"] == {str(bc_id): 1}


@pytest.mark.asyncio
async def test_a_late_retry_of_an_earlier_status_never_moves_the_order_back(bc: Store) -> None:
    bc_id = await bc.new_order()
    state = created_state(bc.publisher.of(CreateOrder)[0])
    shipped = request_for(
        state, "bigcommerce", "update_channel_status", {"status_id": "2"}, action_id="shipped"
    )
    completed = request_for(
        state, "bigcommerce", "update_channel_status", {"status_id": "10"}, action_id="done"
    )

    await answer(bc.connector, completed, bc.publisher)
    late = await answer(bc.connector, shipped.model_copy(update={"attempt": 2}), bc.publisher)

    assert late is not None and late.success and late.data == {"channel_status": "10"}
    assert late.details == f"BigCommerce order {bc_id} is already Completed (10): status 2 not written back"
    view = await control(bc.sim, "GET", f"/_sim/orders/{bc_id}")
    assert [h["new_status_id"] for h in view["status_history"] if h["source"] == "api"] == [10]


@pytest.mark.asyncio
async def test_a_throttled_status_update_waits_for_the_quota_and_succeeds(bc: Store) -> None:
    await bc.new_order()
    state = created_state(bc.publisher.of(CreateOrder)[0])
    await control(
        bc.sim,
        "POST",
        "/_sim/faults",
        {"kind": "429", "count": 1, "method": "PUT", "retry_after": 0.2, "path_prefix": "/stores"},
    )
    result = await answer(
        bc.connector,
        request_for(state, "bigcommerce", "update_channel_status", {"status_id": "2"}),
        bc.publisher,
    )
    assert result is not None and result.success


@pytest.mark.asyncio
async def test_a_status_update_bigcommerce_refuses_fails_the_action_with_its_words(bc: Store) -> None:
    await bc.new_order()
    state = created_state(bc.publisher.of(CreateOrder)[0])
    result = await answer(
        bc.connector,
        request_for(state, "bigcommerce", "update_channel_status", {"status_id": "99"}),
        bc.publisher,
    )
    assert result is not None and not result.success
    assert (
        result.details
        == "HTTP 400 after 1 try: PUT /stores/simstore/v2/orders/100: The field 'status_id' is invalid."
    )


@pytest.mark.asyncio
async def test_polling_takes_in_what_changed_since_the_checkpoint(
    serve: Serve, store: ConnectorStore, publisher: RecordingPublisher
) -> None:
    sim = await serve(BigCommerceSimulator(BigCommerceSettings(time_scale=0.001)).make_app())
    connector = make_connector(sim, store, publisher, poll=True)
    for status in (11, 0, 11):
        await control(sim, "POST", "/_sim/orders", {"status_id": status})

    assert await connector.poll_once() == 2
    assert store.get("poll", "min_date_modified")
    await control(sim, "POST", "/_sim/orders/101/status", {"status_id": 11})
    await control(sim, "POST", "/_sim/orders", {"staff_notes": "fulfillment=fno"})
    assert await connector.poll_once() == 2
    assert await connector.poll_once() == 0
    await connector.close()

    assert [c.envelope.order_id for c in publisher.commands] == ["BC-100", "BC-102", "BC-101", "BC-103"]


@pytest.mark.asyncio
async def test_two_instances_both_given_the_new_order_webhook_publish_one_create_order(
    bc: Store, serve: Serve, second_store: ConnectorStore
) -> None:
    recorded = RecordingPublisher()
    second = make_connector(bc.sim, second_store, recorded, default_attributes={"billing": "fno"})
    front = await second_instance(serve, bc.sim, bc.url, second)
    bc_id = await bc.new_order(products=[{"sku": "MUG", "quantity": 1, "price": "3"}])
    await second.close()

    assert sorted(front.answered.values()) == [1, 1]
    created = one_command(bc.publisher, recorded)
    assert created.envelope.command_id == f"bigcommerce/order/{bc_id}/create"


@pytest.mark.asyncio
async def test_two_instances_polling_one_store_take_each_order_in_under_the_same_ids(
    serve: Serve, store: ConnectorStore, second_store: ConnectorStore
) -> None:
    sim = await serve(BigCommerceSimulator(BigCommerceSettings(time_scale=0.001)).make_app())
    first, second = RecordingPublisher(), RecordingPublisher()
    pollers = [
        make_connector(sim, store, first, poll=True),
        make_connector(sim, second_store, second, poll=True),
    ]
    for _ in range(3):
        await control(sim, "POST", "/_sim/orders", {"status_id": 11})
    taken = await asyncio.gather(*(poller.poll_once() for poller in pollers))
    for poller in pollers:
        await poller.close()

    assert taken == [3, 3]
    ids = [c.envelope.command_id for c in first.commands]
    assert ids == [c.envelope.command_id for c in second.commands]
    assert ids == [f"bigcommerce/order/{n}/create" for n in (100, 101, 102)]


def test_attributes_are_key_value_pairs_and_other_notes_are_ignored() -> None:
    assert parse_attributes("call before delivery; fulfillment=dom;\n billing = sap ;x=;=y") == {
        "fulfillment": "dom",
        "billing": "sap",
    }


# --- the order desk: cancels and refunds ---------------------------------------------------


@pytest.mark.asyncio
async def test_a_cancel_writes_status_cancelled_once_and_its_echo_is_not_a_cancel_from_the_store(
    bc: Store,
) -> None:
    bc_id = await bc.new_order()
    state = created_state(bc.publisher.of(CreateOrder)[0])

    first = await answer(bc.connector, request_for(state, "bigcommerce", "cancel_order"), bc.publisher)
    again = await answer(bc.connector, request_for(state, "bigcommerce", "cancel_order"), bc.publisher)
    await drain(bc.sim)

    assert first is not None and first.success and first.data == {"channel_status": "5"}
    assert again is not None and again.success and "cancelled already" in again.details
    view = await control(bc.sim, "GET", f"/_sim/orders/{bc_id}")
    assert [h["new_status_id"] for h in view["status_history"]] == [11, 5]
    assert bc.publisher.of(CancelOrder) == []  # our own echo


@pytest.mark.asyncio
async def test_a_merchant_cancel_in_the_store_becomes_a_cancel_of_the_order(bc: Store) -> None:
    bc_id = await bc.new_order()
    order_id = bc.publisher.of(CreateOrder)[0].envelope.order_id

    await control(bc.sim, "POST", f"/_sim/orders/{bc_id}/status", {"status_id": 5})
    await drain(bc.sim)

    (cancel,) = bc.publisher.of(CancelOrder)
    assert (cancel.envelope.order_id, cancel.reason, cancel.requested_by) == (
        order_id,
        "Cancelled in BigCommerce",
        "bigcommerce",
    )
    assert cancel.envelope.source == "connector:bigcommerce"  # so the OMS does not echo it back


@pytest.mark.asyncio
async def test_a_line_cancel_and_an_order_the_store_never_had_need_no_call(bc: Store) -> None:
    bc_id = await bc.new_order()
    state = created_state(bc.publisher.of(CreateOrder)[0])
    manual = state.model_copy(update={"external_refs": ()})

    lines = await answer(
        bc.connector, request_for(state, "bigcommerce", "cancel_lines", {"line_ids": "1"}), bc.publisher
    )
    none = await answer(
        bc.connector,
        request_for(manual, "bigcommerce", "update_channel_status", {"status_id": "2"}),
        bc.publisher,
    )

    assert lines is not None and lines.success and "whole orders only" in lines.details
    assert none is not None and none.success and "not a BigCommerce order" in none.details
    assert await requests_to(bc.sim, "PUT", f"/stores/simstore/v2/orders/{bc_id}") == []


@pytest.mark.asyncio
async def test_a_return_is_refunded_once_through_a_quote_and_the_order_reads_partially_refunded(
    bc: Store,
) -> None:
    bc_id = await bc.new_order(products=[{"sku": "MUG", "quantity": 2, "price": "12.00"}])
    state = created_state(bc.publisher.of(CreateOrder)[0])
    line = state.lines[0].line_id
    params = {"rma_id": "RMA-1", "return_lines": f"{line}:1"}

    first = await answer(
        bc.connector, request_for(state, "bigcommerce", "refund_payment", params), bc.publisher
    )
    again = await answer(
        bc.connector, request_for(state, "bigcommerce", "refund_payment", params), bc.publisher
    )

    assert first is not None and first.success and first.details == "refunded 12.0 for RMA-1"
    assert again is not None and again.success and "exists" in again.details
    view = await control(bc.sim, "GET", f"/_sim/orders/{bc_id}")
    assert view["order"]["status_id"] == 14 and view["order"]["refunded_amount"] == "12.0000"
    assert (
        len(await requests_to(bc.sim, "POST", f"/stores/simstore/v3/orders/{bc_id}/payment_actions/refunds"))
        == 1
    )


def _return_item(product_id: int, quantity: int, *, reason: int = 4, outcome: int = 3) -> dict[str, Any]:
    """An item of the V3 ``CreateReturnRequest``: outcome 2 is Replace, 3 Receive Store Credit."""
    return {
        "reference_id": {"type": "ORDER_PRODUCT", "value": str(product_id)},
        "quantity": quantity,
        "reason_id": reason,
        "preferred_outcome_id": outcome,
    }


@pytest.mark.asyncio
async def test_a_shoppers_return_in_the_store_becomes_one_return_request_of_the_order(bc: Store) -> None:
    bc_id = await bc.new_order(
        status_id=2,
        customer_id=42,
        products=[
            {"sku": "MUG", "quantity": 2, "price": "12.00"},
            {"sku": "CAP", "quantity": 1, "price": "7"},
        ],
    )
    (created,) = bc.publisher.of(CreateOrder)
    mug, cap = (int(line.line_id) for line in created.lines)
    body = {"items": [_return_item(mug, 1, outcome=2), _return_item(cap, 1)], "comment": "the mug is cracked"}
    first = await control(bc.sim, "POST", f"/_sim/orders/{bc_id}/returns", body)

    taken = await bc.connector.poll_returns_once()
    again = await bc.connector.poll_returns_once()
    later = await control(bc.sim, "POST", f"/_sim/orders/{bc_id}/returns", {"items": [_return_item(mug, 1)]})
    newer = await bc.connector.poll_returns_once()

    assert (taken, again, newer) == (1, 0, 1)
    request, second = bc.publisher.of(RequestReturn)
    assert request.envelope.order_id == created.envelope.order_id
    assert request.envelope.command_id == f"bigcommerce/return/{first['id']}"  # the same from every instance
    assert request.rma_id == f"BC-RMA-{first['id']}" and second.rma_id == f"BC-RMA-{later['id']}"
    assert {(x.line_id, x.quantity) for x in request.lines} == {(str(mug), 1), (str(cap), 1)}
    assert request.return_source == "bigcommerce" and request.requested_by == "customer:42"
    assert request.replacement and not second.replacement  # the mug's preferred outcome: Replace
    assert request.reason == "There is a Problem with the Product: the mug is cracked"


@pytest.mark.asyncio
async def test_the_store_refuses_a_return_of_more_than_shipped(bc: Store) -> None:
    bc_id = await bc.new_order(products=[{"sku": "MUG", "quantity": 2, "price": "12.00"}])
    (created,) = bc.publisher.of(CreateOrder)
    mug = int(created.lines[0].line_id)
    url = f"{bc.sim}/stores/simstore/v3/orders/{bc_id}/returns"
    headers = {"X-Auth-Token": "sim-bc-token"}

    async with ClientSession() as http:
        async with http.post(url, json={"items": [_return_item(mug, 1)]}, headers=headers) as unshipped:
            refused = (unshipped.status, await unshipped.json())
        await control(bc.sim, "POST", f"/_sim/orders/{bc_id}/status", {"status_id": 2})
        async with http.post(url, json={"items": [_return_item(mug, 2)]}, headers=headers) as shipped:
            made = (shipped.status, await shipped.json())
        async with http.post(url, json={"items": [_return_item(mug, 1)]}, headers=headers) as more:
            beyond = more.status

    assert refused[0] == 422 and refused[1]["errors"] == {"items": "0 left"}
    assert made[0] == 201 and made[1]["data"]["status"] == "OPEN"
    assert beyond == 422
    assert await bc.connector.poll_returns_once() == 1
