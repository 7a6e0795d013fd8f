"""The Flexe simulator against the ASSUMED contract of provider-apis.md section 6:
token auth, the 100-per-60-s limit, idempotent create, 422 validation and the
at-least-once ``order_shipped`` webhook."""

from __future__ import annotations

from typing import Any

import pytest
from sim_testing import Receiver, Start, drained

from simulators.flexe import FlexeSettings, FlexeSimulator

AUTH = {"Authorization": "Bearer sim-flexe-token"}


def flexe(receiver: Receiver | None = None, **overrides: Any) -> FlexeSimulator:
    options: dict[str, Any] = {"time_scale": 0.001, **overrides}
    return FlexeSimulator(FlexeSettings(webhook_url=receiver.url if receiver else None, **options))


def outbound(external_id: str = "IOM-1", **fields: Any) -> dict[str, Any]:
    return {
        "ownerId": "sim-owner",
        "externalId": external_id,
        "shipTo": {
            "name": "Jane Doe",
            "line1": "455 Main St",
            "city": "Austin",
            "state": "TX",
            "postalCode": "78751",
            "country": "US",
        },
        "lines": [
            {"lineId": "1", "sku": "TOWEL", "quantity": 2},
            {"lineId": "2", "sku": "MUG", "quantity": 1},
        ],
        "shippingMethod": "ground",
        **fields,
    }


@pytest.mark.asyncio
async def test_a_wrong_token_is_401(start: Start) -> None:
    client = await start(flexe())

    response = await client.post(
        "/outbound_orders", json=outbound(), headers={"Authorization": "Bearer nope"}
    )

    assert response.status == 401
    assert (await response.json())["error"] == "unauthorized"


@pytest.mark.asyncio
async def test_the_101st_request_in_a_window_is_429(start: Start) -> None:
    client = await start(flexe(rate_limit=3, rate_window=60.0))

    statuses = [(await client.get("/outbound_orders/none", headers=AUTH)).status for _ in range(4)]
    throttled = await client.get("/outbound_orders/none", headers=AUTH)

    assert statuses == [404, 404, 404, 429]
    assert throttled.status == 429 and 0 < int(throttled.headers["Retry-After"]) <= 60


@pytest.mark.asyncio
async def test_creating_twice_with_one_external_id_returns_the_first_order(start: Start) -> None:
    client = await start(flexe())

    first = await client.post("/outbound_orders", json=outbound(), headers=AUTH)
    second = await client.post("/outbound_orders", json=outbound(), headers=AUTH)
    other = await client.post("/outbound_orders", json=outbound("IOM-2"), headers=AUTH)

    created = await first.json()
    assert first.status == 201 and created["status"] == "pending" and created["externalId"] == "IOM-1"
    assert second.status == 200 and await second.json() == created
    assert (await other.json())["id"] != created["id"]
    listing = await (await client.get("/_sim/outbound_orders")).json()
    assert listing["count"] == 2


@pytest.mark.asyncio
async def test_an_invalid_order_is_422_with_every_field_named(start: Start) -> None:
    client = await start(flexe())
    bad = outbound(shipTo={"name": "Jane"}, lines=[{"lineId": "1", "sku": "", "quantity": 0}])

    response = await client.post("/outbound_orders", json=bad, headers=AUTH)

    body = await response.json()
    assert response.status == 422 and body["error"] == "validation_failed"
    fields = {e["field"] for e in body["errors"]}
    assert {"shipTo.line1", "shipTo.postalCode", "lines[0].sku", "lines[0].quantity"} <= fields


@pytest.mark.asyncio
async def test_shipping_sets_the_status_and_sends_order_shipped(start: Start, receiver: Receiver) -> None:
    client = await start(flexe(receiver))
    order = await (await client.post("/outbound_orders", json=outbound(), headers=AUTH)).json()

    shipped = await client.post(
        f"/_sim/outbound_orders/{order['id']}/ship", json={"trackingNumber": "1Z1", "carrier": "UPS"}
    )
    [call] = await receiver.wait_for(1)
    read = await (await client.get(f"/outbound_orders/{order['id']}", headers=AUTH)).json()

    assert shipped.status == 200
    event = call.json()
    assert event["eventType"] == "order_shipped" and event["eventId"]
    assert (event["orderId"], event["externalId"], event["ownerId"]) == (order["id"], "IOM-1", "sim-owner")
    assert event["shipment"]["trackingNumber"] == "1Z1"
    assert [(x["lineId"], x["quantity"]) for x in event["shipment"]["lines"]] == [("1", 2), ("2", 1)]
    assert read["status"] == "shipped"
    assert [x["shippedQuantity"] for x in read["lines"]] == [2, 1]
    assert read["shipments"][0]["carrier"] == "UPS"


@pytest.mark.asyncio
async def test_a_partial_shipment_leaves_the_order_processing(start: Start, receiver: Receiver) -> None:
    client = await start(flexe(receiver))
    order = await (await client.post("/outbound_orders", json=outbound(), headers=AUTH)).json()

    await client.post(
        f"/_sim/outbound_orders/{order['id']}/ship", json={"lines": [{"lineId": "1", "quantity": 1}]}
    )
    read = await (await client.get(f"/outbound_orders/{order['id']}", headers=AUTH)).json()

    assert read["status"] == "processing"
    assert [x["shippedQuantity"] for x in read["lines"]] == [1, 0]


@pytest.mark.asyncio
async def test_a_duplicate_webhook_fault_delivers_order_shipped_twice_with_one_event_id(
    start: Start, receiver: Receiver
) -> None:
    client = await start(flexe(receiver))
    order = await (await client.post("/outbound_orders", json=outbound(), headers=AUTH)).json()
    await client.post("/_sim/faults", json={"kind": "duplicate_webhook"})

    await client.post(f"/_sim/outbound_orders/{order['id']}/ship", json={})
    await drained(client)

    assert len(receiver.calls) == 2
    assert receiver.calls[0].json()["eventId"] == receiver.calls[1].json()["eventId"]


@pytest.mark.asyncio
async def test_a_failed_webhook_is_retried_with_the_same_event_id(start: Start, receiver: Receiver) -> None:
    receiver.fail_next = 2
    client = await start(flexe(receiver))
    order = await (await client.post("/outbound_orders", json=outbound(), headers=AUTH)).json()

    await client.post(f"/_sim/outbound_orders/{order['id']}/ship", json={})
    deliveries = (await drained(client))["deliveries"]

    assert [a["status"] for a in deliveries[0]["attempts"]] == [500, 500, 200]
    assert len({c.json()["eventId"] for c in receiver.calls}) == 1


@pytest.mark.asyncio
async def test_a_bad_payload_fault_still_creates_the_order(start: Start) -> None:
    client = await start(flexe())
    await client.post("/_sim/faults", json={"kind": "bad_payload", "path_prefix": "/outbound_orders"})

    garbled = await client.post("/outbound_orders", json=outbound(), headers=AUTH)
    again = await client.post("/outbound_orders", json=outbound(), headers=AUTH)

    assert garbled.status == 201
    with pytest.raises(ValueError):
        await garbled.json()
    assert again.status == 200 and (await again.json())["externalId"] == "IOM-1"


@pytest.mark.asyncio
async def test_holdings_count_outbound_orders_per_external_id(start: Start) -> None:
    client = await start(flexe())
    for external_id in ("IOM-1", "IOM-1", "IOM-2"):
        await client.post("/outbound_orders", json=outbound(external_id), headers=AUTH)

    holdings = await (await client.get("/_sim/holdings")).json()

    assert (holdings["kind"], holdings["key"]) == ("outbound orders", "externalId")
    assert holdings["holdings"] == {"IOM-1": 1, "IOM-2": 1} and holdings["duplicates"] == {}
