"""The BigCommerce simulator against the documented contract (provider-apis.md sections 1
and 6): auth, rate-limit headers, orders, status write-backs, shipments, hooks, and signed
callbacks retried with the same hash."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import pytest
from sim_testing import Client, Receiver, Start, drained

from simulators import standard_webhooks
from simulators.bigcommerce import BigCommerceSettings, BigCommerceSimulator

TOKEN = {"X-Auth-Token": "sim-bc-token"}
V2 = "/stores/simstore/v2"
V3 = "/stores/simstore/v3"
RATE_HEADERS = (
    "X-Rate-Limit-Time-Window-Ms",
    "X-Rate-Limit-Time-Reset-Ms",
    "X-Rate-Limit-Requests-Quota",
    "X-Rate-Limit-Requests-Left",
)


def store(receiver: Receiver | None = None, **overrides: Any) -> BigCommerceSimulator:
    options: dict[str, Any] = {"time_scale": 0.001, **overrides}
    return BigCommerceSimulator(
        BigCommerceSettings(webhook_url=receiver.url if receiver else None, **options)
    )


async def new_order(client: Client, **spec: Any) -> dict[str, Any]:
    response = await client.post("/_sim/orders", json=spec)
    assert response.status == 201
    view: dict[str, Any] = await response.json()
    return view


@pytest.mark.asyncio
async def test_a_request_without_the_token_gets_401_in_the_v2_and_v3_shapes(start: Start) -> None:
    client = await start(store())

    v2 = await client.get(f"{V2}/orders")
    v3 = await client.get(f"{V3}/hooks", headers={"X-Auth-Token": "wrong"})

    assert v2.status == 401
    assert await v2.json() == [{"status": 401, "message": "You are not authorized to access this resource."}]
    assert v3.status == 401
    body = await v3.json()
    assert (
        body["status"] == 401 and body["title"] and body["type"].startswith("https://developer.bigcommerce")
    )
    assert all(name in v2.headers for name in RATE_HEADERS)


@pytest.mark.asyncio
async def test_every_response_counts_down_the_quota_and_the_next_one_is_429(start: Start) -> None:
    client = await start(store(rate_limit_quota=2, rate_limit_window_ms=60000))

    first = await client.get(f"{V2}/order_statuses", headers=TOKEN)
    second = await client.get(f"{V2}/order_statuses", headers=TOKEN)
    third = await client.get(f"{V2}/order_statuses", headers=TOKEN)

    assert [r.status for r in (first, second, third)] == [200, 200, 429]
    assert first.headers["X-Rate-Limit-Requests-Quota"] == "2"
    assert [r.headers["X-Rate-Limit-Requests-Left"] for r in (first, second, third)] == ["1", "0", "0"]
    assert third.headers["X-Rate-Limit-Time-Window-Ms"] == "60000"
    assert 0 < int(third.headers["X-Rate-Limit-Time-Reset-Ms"]) <= 60000


@pytest.mark.asyncio
async def test_an_injected_429_carries_the_four_headers(start: Start) -> None:
    client = await start(store())
    await client.post("/_sim/faults", json={"kind": "429", "retry_after": 0.25})

    response = await client.get(f"{V2}/orders", headers=TOKEN)

    assert response.status == 429
    assert response.headers["X-Rate-Limit-Requests-Left"] == "0"
    assert response.headers["X-Rate-Limit-Time-Reset-Ms"] == "250"
    assert all(name in response.headers for name in RATE_HEADERS)


@pytest.mark.asyncio
async def test_an_order_reads_with_link_objects_products_and_shipping_addresses(start: Start) -> None:
    client = await start(store())
    await new_order(client, products=[{"sku": "TOWEL", "quantity": 2, "price": "12.50"}])

    order = await (await client.get(f"{V2}/orders/100", headers=TOKEN)).json()
    products = await (await client.get(f"{V2}/orders/100/products", headers=TOKEN)).json()
    addresses = await (await client.get(f"{V2}/orders/100/shipping_addresses", headers=TOKEN)).json()

    assert order["status_id"] == 11 and order["status"] == "Awaiting Fulfillment"
    assert order["total_inc_tax"] == "25.0000"
    assert order["date_created"].endswith("+0000")
    assert order["products"]["resource"] == "/orders/100/products"
    assert order["shipping_addresses"]["url"].endswith(f"{V2}/orders/100/shippingaddresses")
    assert [(p["sku"], p["quantity"], p["order_address_id"]) for p in products] == [
        ("TOWEL", 2, addresses[0]["id"])
    ]
    assert addresses[0]["order_id"] == 100 and addresses[0]["items_total"] == 2


@pytest.mark.asyncio
async def test_listing_filters_by_status_pages_and_answers_204_when_empty(start: Start) -> None:
    client = await start(store())
    await new_order(client)
    await new_order(client, status_id=0)
    await new_order(client)

    awaiting = await client.get(f"{V2}/orders?status_id=11&sort=id:desc", headers=TOKEN)
    page_two = await client.get(f"{V2}/orders?limit=2&page=2", headers=TOKEN)
    none = await client.get(f"{V2}/orders?status_id=2", headers=TOKEN)
    modified = await client.get(f"{V2}/orders?min_date_modified=2000-01-01T00:00:00Z", headers=TOKEN)
    too_many = await client.get(f"{V2}/orders?limit=251", headers=TOKEN)

    assert [o["id"] for o in await awaiting.json()] == [102, 100]
    assert [o["id"] for o in await page_two.json()] == [102]
    assert none.status == 204 and await none.read() == b""
    assert len(await modified.json()) == 3
    assert too_many.status == 413


@pytest.mark.asyncio
async def test_a_status_write_back_returns_the_order_and_fires_status_updated(
    start: Start, receiver: Receiver
) -> None:
    client = await start(store(receiver))
    await new_order(client)

    bad = await client.put(f"{V2}/orders/100", json={"status_id": 15}, headers=TOKEN)
    good = await client.put(f"{V2}/orders/100", json={"status_id": 2}, headers=TOKEN)
    await drained(client)
    view = await (await client.get("/_sim/orders/100")).json()

    assert bad.status == 400 and (await bad.json())[0]["status"] == 400
    assert good.status == 200 and (await good.json())["status"] == "Shipped"
    payloads = {call.json()["scope"]: call.json() for call in receiver.calls}
    assert set(payloads) == {"store/order/created", "store/order/statusUpdated", "store/order/updated"}
    assert payloads["store/order/statusUpdated"]["data"] == {
        "type": "order",
        "id": 100,
        "status": {"previous_status_id": 11, "new_status_id": 2},
    }
    assert [(h["previous_status_id"], h["new_status_id"], h["source"]) for h in view["status_history"]] == [
        (None, 11, "create"),
        (11, 2, "api"),
    ]


@pytest.mark.asyncio
async def test_shipments_validate_address_and_products_and_fire_shipment_created(
    start: Start, receiver: Receiver
) -> None:
    client = await start(store(receiver))
    view = await new_order(client, products=[{"sku": "A", "quantity": 2}])
    address_id = view["shipping_addresses"][0]["id"]
    product_id = view["products"][0]["id"]

    before = await client.get(f"{V2}/orders/100/shipments", headers=TOKEN)
    wrong_address = await client.post(
        f"{V2}/orders/100/shipments",
        json={"order_address_id": 999, "items": [{"order_product_id": product_id, "quantity": 1}]},
        headers=TOKEN,
    )
    wrong_product = await client.post(
        f"{V2}/orders/100/shipments",
        json={"order_address_id": address_id, "items": [{"order_product_id": 999, "quantity": 1}]},
        headers=TOKEN,
    )
    created = await client.post(
        f"{V2}/orders/100/shipments",
        json={
            "order_address_id": address_id,
            "items": [{"order_product_id": product_id, "quantity": 2}],
            "tracking_number": "1Z999",
            "shipping_provider": "ups",
        },
        headers=TOKEN,
    )
    after = await client.get(f"{V2}/orders/100/shipments", headers=TOKEN)
    await drained(client)

    assert before.status == 204
    assert wrong_address.status == 400 and wrong_product.status == 400
    assert created.status == 201
    shipment = await created.json()
    assert shipment["items"][0]["order_product_id"] == product_id and shipment["tracking_number"] == "1Z999"
    assert [s["id"] for s in await after.json()] == [shipment["id"]]
    shipped = [c.json() for c in receiver.calls if c.json()["scope"] == "store/shipment/created"]
    assert shipped[0]["data"] == {"type": "shipment", "id": shipment["id"], "orderId": 100}


@pytest.mark.asyncio
async def test_hooks_are_managed_through_v3_in_the_data_envelope(start: Start) -> None:
    client = await start(store())
    hook = {"scope": "store/order/*", "destination": "https://example.test/hooks", "headers": {"X-Key": "k"}}

    created = await client.post(f"{V3}/hooks", json=hook, headers=TOKEN)
    duplicate = await client.post(f"{V3}/hooks", json=hook, headers=TOKEN)
    missing = await client.post(f"{V3}/hooks", json={"scope": "store/order/created"}, headers=TOKEN)
    hook_id = (await created.json())["data"]["id"]
    updated = await client.put(f"{V3}/hooks/{hook_id}", json={"is_active": False}, headers=TOKEN)
    listed = await client.get(f"{V3}/hooks?is_active=false", headers=TOKEN)
    deleted = await client.delete(f"{V3}/hooks/{hook_id}", headers=TOKEN)
    gone = await client.get(f"{V3}/hooks/{hook_id}", headers=TOKEN)

    data = (await created.json())["data"]
    assert created.status == 200 and data["is_active"] is True and data["headers"] == {"X-Key": "k"}
    assert duplicate.status == 422
    assert missing.status == 422 and (await missing.json())["errors"] == {"destination": "error.path.missing"}
    assert (await updated.json())["data"]["is_active"] is False
    assert [h["id"] for h in (await listed.json())["data"]] == [hook_id]
    assert deleted.status == 200
    assert gone.status == 404 and (await gone.json())["status"] == 404


@pytest.mark.asyncio
async def test_callbacks_carry_custom_headers_and_a_valid_standard_webhooks_signature(
    start: Start, receiver: Receiver
) -> None:
    client = await start(store(client_secret="s3cret"))
    await client.post(
        f"{V3}/hooks",
        json={"scope": "store/order/created", "destination": receiver.url, "headers": {"X-Key": "k"}},
        headers=TOKEN,
    )

    await new_order(client)
    [call] = await receiver.wait_for(1)

    assert call.headers["X-Key"] == "k"
    msg_id, stamp = call.headers["webhook-id"], call.headers["webhook-timestamp"]
    # The documented algorithm, by hand: the Standard Webhooks secret is base64(client_secret),
    # which the reference library base64-decodes to the HMAC key.
    key = base64.b64decode(base64.b64encode(b"s3cret"))
    mac = hmac.new(key, f"{msg_id}.{stamp}.".encode() + call.body, hashlib.sha256).digest()
    assert call.headers["webhook-signature"] == "v1," + base64.b64encode(mac).decode()
    standard_webhooks.verify(standard_webhooks.bigcommerce_secret("s3cret"), call.headers, call.body)
    with pytest.raises(standard_webhooks.VerificationError):
        standard_webhooks.verify(standard_webhooks.bigcommerce_secret("other"), call.headers, call.body)


@pytest.mark.asyncio
async def test_a_failed_callback_is_retried_with_the_same_hash_and_webhook_id(
    start: Start, receiver: Receiver
) -> None:
    receiver.fail_next = 2
    client = await start(store(receiver, webhook_scopes="store/order/created"))

    await new_order(client)
    deliveries = (await drained(client))["deliveries"]

    assert len(receiver.calls) == 3
    assert len({c.json()["hash"] for c in receiver.calls}) == 1
    assert len({c.headers["webhook-id"] for c in receiver.calls}) == 1
    assert [a["status"] for a in deliveries[0]["attempts"]] == [500, 500, 200]


@pytest.mark.asyncio
async def test_after_the_last_retry_the_hook_is_deactivated(start: Start, receiver: Receiver) -> None:
    receiver.fail_next = 1000
    client = await start(store(receiver, webhook_scopes="store/order/created", time_scale=0.000001))

    await new_order(client)
    deliveries = (await drained(client))["deliveries"]
    hooks = (await (await client.get(f"{V3}/hooks", headers=TOKEN)).json())["data"]

    assert len(deliveries[0]["attempts"]) == 12
    assert deliveries[0]["state"] == "failed"
    assert hooks[0]["is_active"] is False


@pytest.mark.asyncio
async def test_an_injected_503_comes_in_the_v2_error_shape_with_rate_limit_headers(start: Start) -> None:
    client = await start(store())
    await client.post("/_sim/faults", json={"kind": "5xx", "status": 503, "path_prefix": f"{V2}/orders"})

    failed = await client.get(f"{V2}/orders", headers=TOKEN)
    statuses = await client.get(f"{V2}/order_statuses", headers=TOKEN)

    assert failed.status == 503
    assert await failed.json() == [{"status": 503, "message": "Service Unavailable"}]
    assert all(name in failed.headers for name in RATE_HEADERS)
    assert statuses.status == 200 and len(await statuses.json()) == 15


@pytest.mark.asyncio
async def test_the_same_status_written_again_changes_nothing_and_fires_nothing(
    start: Start, receiver: Receiver
) -> None:
    client = await start(store(receiver))
    await new_order(client)
    await client.put(f"{V2}/orders/100", json={"status_id": 2}, headers=TOKEN)
    await drained(client)
    fired = len(receiver.calls)

    again = await client.put(f"{V2}/orders/100", json={"status_id": 2}, headers=TOKEN)
    await drained(client)
    view = await (await client.get("/_sim/orders/100")).json()

    assert again.status == 200 and (await again.json())["status_id"] == 2
    assert len(receiver.calls) == fired
    assert [h["new_status_id"] for h in view["status_history"] if h["source"] == "api"] == [2]


@pytest.mark.asyncio
async def test_a_shipment_sent_again_is_refused_and_holdings_count_shipments_per_order(start: Start) -> None:
    client = await start(store())
    view = await new_order(client, products=[{"sku": "A", "quantity": 2}])
    await new_order(client)
    body = {
        "order_address_id": view["shipping_addresses"][0]["id"],
        "items": [{"order_product_id": view["products"][0]["id"], "quantity": 2}],
        "tracking_number": "1Z999",
        "shipping_provider": "ups",
    }

    first = await client.post(f"{V2}/orders/100/shipments", json=body, headers=TOKEN)
    again = await client.post(f"{V2}/orders/100/shipments", json=body, headers=TOKEN)
    holdings = await (await client.get("/_sim/holdings")).json()

    assert first.status == 201
    assert again.status == 400 and "left to ship" in (await again.json())[0]["message"]
    assert (holdings["kind"], holdings["key"], holdings["holdings"]) == ("shipments", "order id", {"100": 1})
