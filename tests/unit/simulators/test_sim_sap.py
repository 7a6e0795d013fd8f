"""The SAP S/4HANA simulator against the documented contract (provider-apis.md sections 4
and 6): auth, the CSRF token flow, deep insert, V2 JSON, ETags, read-only billing and the
BillingDocument.Created CloudEvent."""

from __future__ import annotations

import asyncio
import base64
import re
from typing import Any

import aiohttp
import pytest
from sim_testing import Client, Receiver, Start, drained

from simulators.sap import SapSettings, SapSimulator

SO = "/sap/opu/odata/sap/API_SALES_ORDER_SRV"
BD = "/sap/opu/odata/sap/API_BILLING_DOCUMENT_SRV"
BASIC = {"Authorization": "Basic " + base64.b64encode(b"SIM_USER:sim-sap-password").decode()}
ORDER = {
    "SalesOrderType": "OR",
    "SalesOrganization": "1710",
    "DistributionChannel": "10",
    "OrganizationDivision": "00",
    "SoldToParty": "17100001",
    "PurchaseOrderByCustomer": "IOM-250",
    "to_Item": [
        {"Material": "TG11", "RequestedQuantity": "2"},
        {"Material": "TG12", "RequestedQuantity": "1"},
    ],
}


def sap(receiver: Receiver | None = None, **overrides: Any) -> SapSimulator:
    options: dict[str, Any] = {"time_scale": 0.001, **overrides}
    return SapSimulator(SapSettings(webhook_url=receiver.url if receiver else None, **options))


async def csrf(client: Client) -> dict[str, str]:
    """Fetch a token (the session cookie lands in the client's cookie jar)."""
    response = await client.get(f"{SO}/", headers={**BASIC, "X-CSRF-Token": "Fetch"})
    assert response.status == 200
    return {**BASIC, "X-CSRF-Token": response.headers["X-CSRF-Token"]}


async def create(client: Client, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = await client.post(f"{SO}/A_SalesOrder", json={**ORDER, **fields}, headers=headers)
    assert response.status == 201, await response.text()
    order: dict[str, Any] = (await response.json())["d"]
    return order


@pytest.mark.asyncio
async def test_basic_or_bearer_is_required(start: Start) -> None:
    client = await start(sap())

    anonymous = await client.get(f"{SO}/A_SalesOrder")
    wrong = await client.get(
        f"{SO}/A_SalesOrder", headers={"Authorization": "Basic " + base64.b64encode(b"x:y").decode()}
    )
    basic = await client.get(f"{SO}/A_SalesOrder", headers=BASIC)
    bearer = await client.get(f"{SO}/A_SalesOrder", headers={"Authorization": "Bearer sim-sap-bearer"})

    assert anonymous.status == 401 and anonymous.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert wrong.status == 401
    assert basic.status == 200 and (await basic.json()) == {"d": {"results": []}}
    assert bearer.status == 200


@pytest.mark.asyncio
async def test_a_write_needs_the_fetched_token_and_the_session_cookie(start: Start) -> None:
    client = await start(sap())

    without_token = await client.post(f"{SO}/A_SalesOrder", json=ORDER, headers=BASIC)
    fetched = await client.get(f"{SO}/$metadata", headers={**BASIC, "X-CSRF-Token": "Fetch"})
    token = fetched.headers["X-CSRF-Token"]
    client.session.cookie_jar.clear()
    token_without_cookie = await client.post(
        f"{SO}/A_SalesOrder", json=ORDER, headers={**BASIC, "X-CSRF-Token": token}
    )
    headers = await csrf(client)
    created = await client.post(f"{SO}/A_SalesOrder", json=ORDER, headers=headers)
    await client.post("/_sim/csrf/invalidate")
    stale = await client.post(f"{SO}/A_SalesOrder", json=ORDER, headers=headers)

    assert without_token.status == 403 and without_token.headers["X-CSRF-Token"] == "Required"
    assert await without_token.text() == "CSRF token validation failed"
    assert token and any("SAP_SESSIONID_SIM_100" in c for c in fetched.headers.getall("Set-Cookie"))
    assert token_without_cookie.status == 403
    assert created.status == 201
    assert stale.status == 403


@pytest.mark.asyncio
async def test_a_deep_insert_answers_v2_json_with_the_new_sales_order(start: Start) -> None:
    client = await start(sap())
    headers = await csrf(client)

    response = await client.post(
        f"{SO}/A_SalesOrder", json={**ORDER, "to_Item": {"results": ORDER["to_Item"]}}, headers=headers
    )

    order = (await response.json())["d"]
    assert response.status == 201
    assert response.headers["Location"].endswith(f"A_SalesOrder('{order['SalesOrder']}')")
    assert order["OverallSDProcessStatus"] == "A"
    assert order["TotalNetAmount"] == "30.00"
    assert re.fullmatch(r"/Date\(\d+\)/", order["SalesOrderDate"])
    assert re.fullmatch(r"/Date\(\d+\+0000\)/", order["LastChangeDateTime"])
    assert order["__metadata"]["etag"].startswith('W/"datetimeoffset')
    items = order["to_Item"]["results"]
    assert [(i["SalesOrderItem"], i["Material"], i["RequestedQuantity"]) for i in items] == [
        ("10", "TG11", "2"),
        ("20", "TG12", "1"),
    ]


@pytest.mark.asyncio
async def test_missing_fields_are_refused_in_the_sap_error_shape(start: Start) -> None:
    client = await start(sap())
    headers = await csrf(client)

    response = await client.post(f"{SO}/A_SalesOrder", json={**ORDER, "SoldToParty": ""}, headers=headers)
    unknown = await client.post(f"{SO}/A_SalesOrder", json={**ORDER, "Nope": 1}, headers=headers)

    error = (await response.json())["error"]
    assert response.status == 400
    assert error["message"] == {"lang": "en", "value": "Enter a value for field SoldToParty"}
    assert error["innererror"]["application"]["service_id"] == "API_SALES_ORDER_SRV"
    assert error["innererror"]["errordetails"][0]["severity"] == "error"
    assert unknown.status == 400


@pytest.mark.asyncio
async def test_orders_are_found_by_customer_reference_and_read_with_their_items(start: Start) -> None:
    client = await start(sap())
    headers = await csrf(client)
    order = await create(client, headers)
    await create(client, headers, PurchaseOrderByCustomer="IOM-251")

    found = await client.get(
        f"{SO}/A_SalesOrder?$filter=PurchaseOrderByCustomer eq 'IOM-250'&$inlinecount=allpages", headers=BASIC
    )
    read = await client.get(f"{SO}/A_SalesOrder('{order['SalesOrder']}')?$expand=to_Item", headers=BASIC)
    missing = await client.get(f"{SO}/A_SalesOrder('999')", headers=BASIC)

    body = (await found.json())["d"]
    assert body["__count"] == "1" and [o["SalesOrder"] for o in body["results"]] == [order["SalesOrder"]]
    assert body["results"][0]["to_Item"] == {
        "__deferred": {"uri": body["results"][0]["__metadata"]["uri"] + "/to_Item"}
    }
    assert read.headers["ETag"] == order["__metadata"]["etag"]
    assert len((await read.json())["d"]["to_Item"]["results"]) == 2
    assert missing.status == 404 and "error" in await missing.json()


@pytest.mark.asyncio
async def test_an_update_needs_a_current_if_match(start: Start) -> None:
    client = await start(sap())
    headers = await csrf(client)
    order = await create(client, headers)
    url = f"{SO}/A_SalesOrder('{order['SalesOrder']}')"
    etag = order["__metadata"]["etag"]

    unconditional = await client.patch(url, json={"DeliveryBlockReason": "01"}, headers=headers)
    updated = await client.patch(
        url, json={"DeliveryBlockReason": "01"}, headers={**headers, "If-Match": etag}
    )
    stale = await client.patch(url, json={"DeliveryBlockReason": ""}, headers={**headers, "If-Match": etag})
    merged = await client.request(
        "MERGE",
        url,
        json={"DeliveryBlockReason": ""},
        headers={**headers, "If-Match": updated.headers["ETag"]},
    )

    assert unconditional.status == 428
    assert updated.status == 204 and updated.headers["ETag"] != etag
    assert stale.status == 412
    assert merged.status == 204


@pytest.mark.asyncio
async def test_billing_creates_an_f2_document_sets_statuses_and_sends_the_cloud_event(
    start: Start, receiver: Receiver
) -> None:
    client = await start(sap(receiver))
    headers = await csrf(client)
    order = await create(client, headers)
    number = order["SalesOrder"]

    billed = await client.post(f"/_sim/salesorders/{number}/bill", json={"tax_rate": "0.1"})
    [call] = await receiver.wait_for(1)
    document = (await billed.json())["billing_document"]["BillingDocument"]
    read = await client.get(f"{BD}/A_BillingDocument('{document}')?$expand=to_Item", headers=BASIC)
    items = await client.get(f"{BD}/A_BillingDocumentItem?$filter=SalesDocument eq '{number}'", headers=BASIC)
    after = (
        await (await client.get(f"{SO}/A_SalesOrder('{number}')?$expand=to_Item", headers=BASIC)).json()
    )["d"]
    twice = await client.post(f"/_sim/salesorders/{number}/bill")

    event = call.json()
    assert call.headers["Content-Type"].startswith("application/cloudevents+json")
    assert event["specversion"] == "1.0"
    assert event["type"] == "sap.s4.beh.billingdocument.v1.BillingDocument.Created.v1"
    assert event["data"] == {"BillingDocument": document, "BillingDocumentType": "F2"}
    assert event["id"] and event["source"] == "/default/sap.s4.beh/SIMCLNT100"
    bill = (await read.json())["d"]
    assert (bill["BillingDocumentType"], bill["TotalNetAmount"], bill["TaxAmount"]) == ("F2", "30.00", "3.00")
    assert [(i["SalesDocument"], i["SalesDocumentItem"]) for i in (await items.json())["d"]["results"]] == [
        (number, "10"),
        (number, "20"),
    ]
    assert after["OverallSDProcessStatus"] == "C" and after["OverallOrdReltdBillgStatus"] == "C"
    assert {i["OrderRelatedBillingStatus"] for i in after["to_Item"]["results"]} == {"C"}
    assert twice.status == 409


@pytest.mark.asyncio
async def test_the_billing_service_is_read_only(start: Start) -> None:
    client = await start(sap())
    headers = await csrf(client)

    created = await client.post(f"{BD}/A_BillingDocument", json={}, headers=headers)
    patched = await client.patch(f"{BD}/A_BillingDocument('90000001')", json={}, headers=headers)

    assert created.status == 405 and patched.status == 405
    assert (await created.json())["error"]["innererror"]["application"][
        "service_id"
    ] == "API_BILLING_DOCUMENT_SRV"


@pytest.mark.asyncio
async def test_a_duplicate_webhook_fault_sends_the_cloud_event_twice_with_one_id(
    start: Start, receiver: Receiver
) -> None:
    client = await start(sap(receiver))
    headers = await csrf(client)
    order = await create(client, headers)
    await client.post("/_sim/faults", json={"kind": "duplicate_webhook"})

    await client.post(f"/_sim/salesorders/{order['SalesOrder']}/bill")
    await drained(client)

    assert len(receiver.calls) == 2
    assert receiver.calls[0].json()["id"] == receiver.calls[1].json()["id"]


@pytest.mark.asyncio
async def test_a_timeout_fault_outlasts_the_client_and_creates_nothing(start: Start) -> None:
    client = await start(sap(hang_seconds=5.0))
    headers = await csrf(client)
    await client.post("/_sim/faults", json={"kind": "timeout", "method": "POST"})

    with pytest.raises(asyncio.TimeoutError):
        await client.post(
            f"{SO}/A_SalesOrder", json=ORDER, headers=headers, timeout=aiohttp.ClientTimeout(total=0.2)
        )
    listed = await client.get(f"{SO}/A_SalesOrder", headers=BASIC)

    assert (await listed.json())["d"]["results"] == []


@pytest.mark.asyncio
async def test_a_head_request_fetches_a_token_and_item_uris_resolve(start: Start) -> None:
    client = await start(sap())

    head = await client.head(f"{SO}/", headers={**BASIC, "X-CSRF-Token": "Fetch"})
    order = await create(client, {**BASIC, "X-CSRF-Token": head.headers["X-CSRF-Token"]})
    uri = order["to_Item"]["results"][0]["__metadata"]["uri"]
    item = await client.get(uri.split(str(client.make_url("")).rstrip("/"), 1)[1], headers=BASIC)

    assert head.status == 200
    assert (await item.json())["d"]["Material"] == "TG11"


REPEATABLE = {
    "RequestID": "0A1B2C3D4E5F60718293A4B5C6D7E8F9",
    "RepeatabilityCreation": "2024-03-18T14:39:47Z",
}


@pytest.mark.asyncio
async def test_a_repeatable_create_sent_again_gets_the_first_answer_and_makes_no_second_order(
    start: Start,
) -> None:
    client = await start(sap())
    headers = {**await csrf(client), **REPEATABLE}

    first = await client.post(f"{SO}/A_SalesOrder", json=ORDER, headers=headers)
    again = await client.post(f"{SO}/A_SalesOrder", json=ORDER, headers=headers)
    other = await client.post(f"{SO}/A_SalesOrder", json=ORDER, headers={**headers, "RequestID": "F" * 32})

    assert first.status == again.status == 201
    assert first.headers["RepeatabilityResult"] == again.headers["RepeatabilityResult"] == "accepted"
    assert (await first.json()) == (await again.json())
    assert again.headers["Location"] == first.headers["Location"]
    assert (
        other.status == 201
        and (await other.json())["d"]["SalesOrder"] != (await first.json())["d"]["SalesOrder"]
    )
    holdings = await (await client.get("/_sim/holdings")).json()
    assert holdings["holdings"] == {"IOM-250": 2} and holdings["key"] == "PurchaseOrderByCustomer"


@pytest.mark.asyncio
async def test_a_repeatable_request_keeps_its_first_failure_and_plain_requests_are_not_kept(
    start: Start,
) -> None:
    client = await start(sap())
    headers = {**await csrf(client), **REPEATABLE}
    invalid = {**ORDER, "SoldToParty": ""}

    refused = await client.post(f"{SO}/A_SalesOrder", json=invalid, headers=headers)
    fixed_but_same_id = await client.post(f"{SO}/A_SalesOrder", json=ORDER, headers=headers)
    plain = [
        await client.post(f"{SO}/A_SalesOrder", json=ORDER, headers=await csrf(client)) for _ in range(2)
    ]

    assert refused.status == fixed_but_same_id.status == 400
    assert fixed_but_same_id.headers["RepeatabilityResult"] == "accepted"
    assert "RepeatabilityResult" not in plain[0].headers
    assert [p.status for p in plain] == [201, 201]
    holdings = await (await client.get("/_sim/holdings?ref=IOM-250")).json()
    assert holdings["holdings"] == {"IOM-250": 2} and holdings["duplicates"] == {"IOM-250": 2}


@pytest.mark.asyncio
async def test_an_answer_lost_after_the_create_is_answered_again_from_the_first_execution(
    start: Start,
) -> None:
    client = await start(sap(hang_seconds=0.2))
    headers = {**await csrf(client), **REPEATABLE}
    await client.post(
        "/_sim/faults",
        json={"kind": "timeout", "when": "after", "method": "POST", "path_prefix": f"{SO}/A_SalesOrder"},
    )

    with pytest.raises(asyncio.TimeoutError):
        await client.post(
            f"{SO}/A_SalesOrder", json=ORDER, headers=headers, timeout=aiohttp.ClientTimeout(total=0.05)
        )
    again = await client.post(f"{SO}/A_SalesOrder", json=ORDER, headers=headers)

    assert again.status == 201 and again.headers["RepeatabilityResult"] == "accepted"
    listing = await (await client.get("/_sim/salesorders")).json()
    assert [o["SalesOrder"] for o in listing["salesorders"]] == [(await again.json())["d"]["SalesOrder"]]


@pytest.mark.asyncio
async def test_without_idempotent_services_a_repeatable_request_is_refused_unexecuted(start: Start) -> None:
    client = await start(sap(idempotent_services=False))
    headers = await csrf(client)

    refused = await client.post(f"{SO}/A_SalesOrder", json=ORDER, headers={**headers, **REPEATABLE})

    assert refused.status == 400 and refused.headers["RepeatabilityResult"] == "unsupported"
    assert (await refused.json())["error"]["code"] == "/IWBEP/CM_COS/001"
    assert (await (await client.get("/_sim/holdings")).json())["total"] == 0


@pytest.mark.asyncio
async def test_a_request_id_that_is_not_a_guid_is_refused(start: Start) -> None:
    client = await start(sap())
    headers = {**await csrf(client), **REPEATABLE, "RequestID": "not-a-guid"}

    refused = await client.post(f"{SO}/A_SalesOrder", json=ORDER, headers=headers)

    assert refused.status == 400
    assert (await (await client.get("/_sim/holdings")).json())["holdings"] == {}
