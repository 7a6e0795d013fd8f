"""The F&O simulator against the documented contract (provider-apis.md sections 3 and 6):
the Entra token, bearer auth, OData entities and filters, all-or-nothing $batch, business
events with rising ControlNumbers, the error list and the dual-write feed."""

from __future__ import annotations

import json
import re
from itertools import pairwise
from typing import Any

import pytest
from sim_testing import Client, Receiver, Start, drained

from simulators.fno import FnoSettings, FnoSimulator

HEADERS = "/data/SalesOrderHeadersV2"
TOKEN_FORM = {
    "grant_type": "client_credentials",
    "client_id": "sim-fno-client",
    "client_secret": "sim-fno-secret",
    "scope": "https://sim.operations.dynamics.com/.default",
}


def fno(receiver: Receiver | None = None, **overrides: Any) -> FnoSimulator:
    options: dict[str, Any] = {"time_scale": 0.001, **overrides}
    return FnoSimulator(FnoSettings(webhook_url=receiver.url if receiver else None, **options))


async def bearer(client: Client) -> dict[str, str]:
    response = await client.post("/sim-tenant/oauth2/v2.0/token", data=TOKEN_FORM)
    assert response.status == 200
    token = await response.json()
    assert token["token_type"] == "Bearer" and token["expires_in"] == 3599
    return {"Authorization": f"Bearer {token['access_token']}"}


def line(number: str, item: str = "A0001", **fields: Any) -> dict[str, Any]:
    return {
        "dataAreaId": "usmf",
        "SalesOrderNumber": number,
        "ItemNumber": item,
        "OrderedSalesQuantity": 2,
        "SalesPrice": 10,
        "ShippingSiteId": "1",
        "ShippingWarehouseId": "11",
        **fields,
    }


async def sales_order(client: Client, auth: dict[str, str], reference: str = "BC-100") -> str:
    header = await client.post(
        HEADERS,
        json={"OrderingCustomerAccountNumber": "US-001", "CustomersOrderReference": reference},
        headers=auth,
    )
    assert header.status == 201
    number: str = (await header.json())["SalesOrderNumber"]
    created = await client.post("/data/SalesOrderLines", json=line(number), headers=auth)
    assert created.status == 201
    return number


def batch_body(*requests: tuple[str, str, dict[str, Any]]) -> str:
    parts = []
    for index, (method, url, body) in enumerate(requests, start=1):
        parts.append(
            "--changeset_x\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
            f"Content-ID: {index}\r\n\r\n{method} {url} HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
            f"{json.dumps(body)}\r\n"
        )
    changeset = "".join(parts) + "--changeset_x--\r\n"
    return (
        f"--batch_x\r\nContent-Type: multipart/mixed; boundary=changeset_x\r\n\r\n{changeset}--batch_x--\r\n"
    )


BATCH = {"Content-Type": "multipart/mixed; boundary=batch_x"}


@pytest.mark.asyncio
async def test_the_token_endpoint_refuses_bad_clients_in_the_entra_shape(start: Start) -> None:
    client = await start(fno())

    bad_secret = await client.post("/sim-tenant/oauth2/v2.0/token", data={**TOKEN_FORM, "client_secret": "x"})
    bad_client = await client.post("/sim-tenant/oauth2/v2.0/token", data={**TOKEN_FORM, "client_id": "x"})
    bad_scope = await client.post("/sim-tenant/oauth2/v2.0/token", data={**TOKEN_FORM, "scope": "https://x"})

    assert bad_secret.status == 401 and (await bad_secret.json())["error"] == "invalid_client"
    assert bad_client.status == 400 and (await bad_client.json())["error_codes"] == [700016]
    assert bad_scope.status == 400 and (await bad_scope.json())["error"] == "invalid_scope"
    logged = (await (await client.get("/_sim/requests")).json())["requests"][0]
    assert logged["body"]["client_secret"] == "[redacted]"


@pytest.mark.asyncio
async def test_data_needs_a_live_bearer_token(start: Start) -> None:
    client = await start(fno())
    auth = await bearer(client)

    without = await client.get(HEADERS)
    with_token = await client.get(HEADERS, headers=auth)
    await client.post("/_sim/tokens/expire")
    expired = await client.get(HEADERS, headers=auth)

    assert without.status == 401 and without.headers["WWW-Authenticate"] == "Bearer"
    assert with_token.status == 200
    assert expired.status == 401


@pytest.mark.asyncio
async def test_a_header_and_its_lines_are_created_and_read_back_by_key_and_filter(start: Start) -> None:
    client = await start(fno(lines_collections="SalesOrderLines,SalesOrderLinesV2"))
    auth = await bearer(client)

    header = await client.post(
        HEADERS,
        json={"OrderingCustomerAccountNumber": "US-001", "CustomersOrderReference": "BC-100"},
        headers=auth,
    )
    number = (await header.json())["SalesOrderNumber"]
    created = await client.post("/data/SalesOrderLinesV2", json=line(number), headers=auth)
    by_key = await client.get(f"{HEADERS}(dataAreaId='usmf',SalesOrderNumber='{number}')", headers=auth)
    partial_key = await client.get(f"{HEADERS}(SalesOrderNumber='{number}')", headers=auth)
    found = await client.get(
        f"{HEADERS}?$filter=CustomersOrderReference eq 'BC-100' and SalesOrderStatus eq "
        "Microsoft.Dynamics.DataEntities.SalesStatus'Backorder'&cross-company=true",
        headers=auth,
    )
    lines = await client.get(f"/data/SalesOrderLines?$filter=SalesOrderNumber eq '{number}'", headers=auth)

    assert header.status == 201 and header.headers["Location"].endswith(f"SalesOrderNumber='{number}')")
    assert created.status == 201 and (await created.json())["InventoryLotId"]
    assert (await by_key.json())["SalesOrderStatus"] == "Backorder"
    assert partial_key.status == 400
    assert [h["SalesOrderNumber"] for h in (await found.json())["value"]] == [number]
    assert [(x["ItemNumber"], x["LineAmount"]) for x in (await lines.json())["value"]] == [("A0001", 20.0)]


@pytest.mark.asyncio
async def test_a_line_without_site_or_warehouse_is_refused_in_the_odata_shape(start: Start) -> None:
    client = await start(fno())
    auth = await bearer(client)
    number = await sales_order(client, auth)

    response = await client.post(
        "/data/SalesOrderLines", json=line(number, ShippingSiteId=None, ShippingWarehouseId=""), headers=auth
    )

    error = (await response.json())["error"]
    assert response.status == 400
    assert set(error) == {"code", "message", "innererror"}
    assert "Site" in error["innererror"]["message"] and "Warehouse" in error["innererror"]["message"]


@pytest.mark.asyncio
async def test_only_the_default_company_is_visible_without_cross_company(start: Start) -> None:
    client = await start(fno())
    auth = await bearer(client)
    await client.post(
        HEADERS, json={"dataAreaId": "usrt", "OrderingCustomerAccountNumber": "US-9"}, headers=auth
    )

    default = await client.get(HEADERS, headers=auth)
    everywhere = await client.get(f"{HEADERS}?cross-company=true&$filter=dataAreaId eq 'usrt'", headers=auth)
    unknown = await client.get(f"{HEADERS}?$filter=Nope eq 'x'", headers=auth)

    assert (await default.json())["value"] == []
    assert [h["dataAreaId"] for h in (await everywhere.json())["value"]] == ["usrt"]
    assert unknown.status == 400 and "Nope" in (await unknown.json())["error"]["message"]


@pytest.mark.asyncio
async def test_a_batch_changeset_is_all_or_nothing(start: Start) -> None:
    client = await start(fno())
    auth = await bearer(client)
    header = {"SalesOrderNumber": "SO-1", "OrderingCustomerAccountNumber": "US-001"}

    failed = await client.post(
        "/data/$batch",
        data=batch_body(
            ("POST", "SalesOrderHeadersV2", header), ("POST", "SalesOrderLines", line("SO-1", ItemNumber=""))
        ),
        headers={**auth, **BATCH},
    )
    after_failure = await client.get(f"{HEADERS}?cross-company=true", headers=auth)
    succeeded = await client.post(
        "/data/$batch",
        data=batch_body(
            ("POST", "SalesOrderHeadersV2", header), ("POST", "/data/SalesOrderLines", line("SO-1"))
        ),
        headers={**auth, **BATCH},
    )
    after_success = await client.get("/data/SalesOrderLines?$filter=SalesOrderNumber eq 'SO-1'", headers=auth)

    failure_text = await failed.text()
    assert failed.status == 200 and failed.headers["Content-Type"].startswith("multipart/mixed")
    assert "HTTP/1.1 400 Bad Request" in failure_text and "201 Created" not in failure_text
    assert (await after_failure.json())["value"] == []
    assert re.findall(r"HTTP/1\.1 (\d+)", await succeeded.text()) == ["201", "201"]
    assert len((await after_success.json())["value"]) == 1
    logged = (await (await client.get("/_sim/requests?path=/data/SalesOrderHeadersV2&method=POST")).json())[
        "requests"
    ]
    assert [(r["status"], r["via_batch"] is not None) for r in logged] == [(201, True), (201, True)]


@pytest.mark.asyncio
async def test_a_failed_changeset_leaves_an_existing_order_as_it_was(start: Start) -> None:
    client = await start(fno())
    auth = await bearer(client)
    for number in ("SO-1", "SO-2"):
        await client.post(
            HEADERS,
            json={"SalesOrderNumber": number, "OrderingCustomerAccountNumber": "US-001"},
            headers=auth,
        )
        await client.post("/data/SalesOrderLines", json=line(number), headers=auth)
    before = await (
        await client.get(f"{HEADERS}(dataAreaId='usmf',SalesOrderNumber='SO-1')", headers=auth)
    ).json()

    failed = await client.post(
        "/data/$batch",
        data=batch_body(
            (
                "PATCH",
                "SalesOrderHeadersV2(dataAreaId='usmf',SalesOrderNumber='SO-1')",
                {"SalesOrderName": "x"},
            ),
            ("POST", "SalesOrderLines", line("SO-1")),
            ("POST", "SalesOrderLines", line("SO-1", ItemNumber="")),
        ),
        headers={**auth, **BATCH},
    )
    after = await (
        await client.get(f"{HEADERS}(dataAreaId='usmf',SalesOrderNumber='SO-1')", headers=auth)
    ).json()
    lines = await (await client.get("/data/SalesOrderLines", headers=auth)).json()

    assert "HTTP/1.1 400 Bad Request" in await failed.text()
    assert after == before  # the name, and the version in its ETag, as before
    assert sorted(r["SalesOrderNumber"] for r in lines["value"]) == ["SO-1", "SO-2"]


@pytest.mark.asyncio
async def test_an_injected_429_says_when_to_retry(start: Start) -> None:
    client = await start(fno())
    auth = await bearer(client)
    await client.post("/_sim/faults", json={"kind": "429", "path_prefix": "/data", "retry_after": 2})

    throttled = await client.get(HEADERS, headers=auth)
    then = await client.get(HEADERS, headers=auth)

    assert throttled.status == 429 and throttled.headers["Retry-After"] == "2"
    assert "error" in await throttled.json()
    assert then.status == 200


@pytest.mark.asyncio
async def test_picked_packed_invoiced_send_business_events_with_rising_control_numbers(
    start: Start, receiver: Receiver
) -> None:
    client = await start(fno(receiver, tax_rate="0.1"))
    auth = await bearer(client)
    number = await sales_order(client, auth)

    for step in ("picked", "packed", "invoiced"):
        response = await client.post(f"/_sim/salesorders/{number}/advance", json={"to": step})
        assert response.status == 200, await response.text()
    again = await client.post(f"/_sim/salesorders/{number}/advance", json={"to": "packed"})
    await drained(client)
    header = await (
        await client.get(f"{HEADERS}(dataAreaId='usmf',SalesOrderNumber='{number}')", headers=auth)
    ).json()

    events = [call.json() for call in receiver.calls]
    assert [e["BusinessEventId"] for e in events] == [
        "SalesOrderPickingListPostedBusinessEvent",
        "SalesOrderPackingSlipPostedBusinessEvent",
        "SalesInvoicePostedBusinessEvent",
    ]
    numbers = [e["ControlNumber"] for e in events]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3
    assert any(b - a > 1 for a, b in pairwise(numbers))
    invoice = events[2]
    assert re.fullmatch(r"/Date\(\d+\)/", invoice["EventTime"]) and invoice["EventTimeIso8601"].endswith("Z")
    assert invoice["SalesOrderId"] == number and invoice["InvoiceAccount"] == "US-001"
    assert invoice["InvoiceAmountInAccountingCurrency"] == 22.0 and invoice["InvoiceTaxAmount"] == 2.0
    assert {"BusinessEventLegalEntity", "EventId", "MajorVersion", "ParentContextRecordSubjects"} <= set(
        invoice
    )
    assert header["SalesOrderStatus"] == "Invoiced"
    assert again.status == 409


@pytest.mark.asyncio
async def test_control_numbers_keep_rising_across_a_reset(start: Start, receiver: Receiver) -> None:
    client = await start(fno(receiver))
    auth = await bearer(client)
    number = await sales_order(client, auth)
    first = await (await client.post(f"/_sim/salesorders/{number}/advance", json={"to": "packed"})).json()

    await client.post("/_sim/reset")
    auth = await bearer(client)
    number = await sales_order(client, auth)
    second = await (await client.post(f"/_sim/salesorders/{number}/advance", json={"to": "packed"})).json()

    assert second["event"]["ControlNumber"] > first["event"]["ControlNumber"]
    assert second["event"]["EventId"] != first["event"]["EventId"]


@pytest.mark.asyncio
async def test_an_unreachable_endpoint_gets_three_retries_then_the_error_list_then_resend(
    start: Start, receiver: Receiver
) -> None:
    receiver.fail_next = 4
    client = await start(fno(receiver))
    auth = await bearer(client)
    number = await sales_order(client, auth)

    await client.post(f"/_sim/salesorders/{number}/advance", json={"to": "packed"})
    await drained(client)
    parked = (await (await client.get("/_sim/parked")).json())["deliveries"]
    await client.post("/_sim/parked/replay", json={"ids": [parked[0]["id"]]})
    deliveries = (await drained(client))["deliveries"]

    assert len(parked) == 1 and len(parked[0]["attempts"]) == 4
    assert deliveries[0]["state"] == "delivered"
    assert len(receiver.calls) == 5
    assert receiver.calls[0].json()["ControlNumber"] == receiver.calls[4].json()["ControlNumber"]


@pytest.mark.asyncio
async def test_advancing_without_emitting_is_for_connectors_that_poll(
    start: Start, receiver: Receiver
) -> None:
    client = await start(fno(receiver))
    auth = await bearer(client)
    number = await sales_order(client, auth)

    await client.post(f"/_sim/salesorders/{number}/advance", json={"to": "packed", "emit": False})
    delivered = await client.get(
        f"{HEADERS}?$filter=SalesOrderStatus eq Microsoft.Dynamics.DataEntities.SalesStatus'Delivered'",
        headers=auth,
    )

    assert (await drained(client))["deliveries"] == []
    assert [h["SalesOrderNumber"] for h in (await delivered.json())["value"]] == [number]


@pytest.mark.asyncio
async def test_an_order_made_in_fno_tells_its_creation_and_confirmation_and_is_sent_through_dual_write(
    start: Start, receiver: Receiver
) -> None:
    client = await start(fno(receiver))
    made = await client.post(
        "/_sim/salesorders",
        json={
            "dataAreaId": "usmf",
            "OrderingCustomerAccountNumber": "US-003",
            "lines": [
                {
                    "ItemNumber": "A0002",
                    "OrderedSalesQuantity": 3,
                    "ShippingSiteId": "2",
                    "ShippingWarehouseId": "21",
                }
            ],
        },
    )
    number = (await made.json())["header"]["SalesOrderNumber"]
    [created] = await receiver.wait_for(1)

    confirmed = await client.post(f"/_sim/salesorders/{number}/confirm")
    calls = await receiver.wait_for(3)

    assert made.status == 201 and created.json()["BusinessEventId"] == "SalesOrderCreatedBusinessEvent"
    assert confirmed.status == 200 and (await confirmed.json())["confirmed"] is True
    kinds = [c.json().get("BusinessEventId") or c.json().get("entity") for c in calls]
    assert kinds == ["SalesOrderCreatedBusinessEvent", "SalesOrderConfirmedBusinessEvent", "salesorders"]
    assert calls[1].json()["SalesOrderId"] == number
    payload = calls[2].json()
    assert (payload["entity"], payload["operation"]) == ("salesorders", "confirmed")
    assert (payload["dataAreaId"], payload["SalesOrderNumber"]) == ("usmf", number)
    assert payload["OrderingCustomerAccountNumber"] == "US-003"
    assert [(x["ItemNumber"], x["ShippingWarehouseId"]) for x in payload["lines"]] == [("A0002", "21")]


@pytest.mark.asyncio
async def test_the_metadata_names_the_configured_line_collections(start: Start) -> None:
    client = await start(fno(lines_collections="SalesOrderLinesV2"))
    auth = await bearer(client)

    metadata = await (await client.get("/data/$metadata", headers=auth)).text()
    v1_lines = await client.get("/data/SalesOrderLines", headers=auth)

    assert 'EntitySet Name="SalesOrderLinesV2"' in metadata
    assert v1_lines.status == 404


@pytest.mark.asyncio
async def test_an_injected_500_comes_in_the_odata_error_shape(start: Start) -> None:
    client = await start(fno())
    auth = await bearer(client)
    await client.post("/_sim/faults", json={"kind": "5xx", "path_prefix": HEADERS, "method": "POST"})

    failed = await client.post(HEADERS, json={"OrderingCustomerAccountNumber": "US-001"}, headers=auth)
    listed = await client.get(f"{HEADERS}?cross-company=true", headers=auth)

    assert failed.status == 500 and set((await failed.json())["error"]) == {"code", "message", "innererror"}
    assert (await listed.json())["value"] == []


@pytest.mark.asyncio
async def test_a_second_header_or_line_under_an_existing_key_is_refused_as_already_existing(
    start: Start,
) -> None:
    client = await start(fno())
    auth = await bearer(client)
    header = {
        "SalesOrderNumber": "BC-100",
        "OrderingCustomerAccountNumber": "US-001",
        "CustomersOrderReference": "BC-100",
    }
    created = await client.post(HEADERS, json=header, headers=auth)
    first_line = await client.post("/data/SalesOrderLines", json=line("BC-100", LineNumber=1), headers=auth)

    again = await client.post(HEADERS, json=header, headers=auth)
    line_again = await client.post("/data/SalesOrderLines", json=line("BC-100", LineNumber=1.0), headers=auth)
    next_line = await client.post("/data/SalesOrderLines", json=line("BC-100", LineNumber=2), headers=auth)

    assert created.status == first_line.status == next_line.status == 201
    for refused, table in ((again, "Sales orders (SalesTable)"), (line_again, "Order lines (SalesLine)")):
        error = (await refused.json())["error"]
        assert refused.status == 400
        assert error["innererror"]["type"].endswith("AxODataWriteException")
        assert f"Cannot create a record in {table}. Sales order: BC-100" in error["innererror"]["message"]
        assert error["innererror"]["message"].endswith("The record already exists.")


@pytest.mark.asyncio
async def test_holdings_count_the_sales_orders_made_over_odata_per_customers_order_reference(
    start: Start,
) -> None:
    client = await start(fno())
    auth = await bearer(client)
    await sales_order(client, auth, "BC-100")
    await sales_order(client, auth, "BC-100")
    await sales_order(client, auth, "BC-101")
    made_in_fno = await client.post(
        "/_sim/salesorders",
        json={"OrderingCustomerAccountNumber": "US-001", "CustomersOrderReference": "BC-102"},
    )

    everything = await (await client.get("/_sim/holdings")).json()
    one = await (await client.get("/_sim/holdings?ref=BC-999")).json()

    assert made_in_fno.status == 201
    assert everything == {
        "simulator": "fno",
        "kind": "sales orders",
        "key": "CustomersOrderReference",
        "total": 3,
        "holdings": {"BC-100": 2, "BC-101": 1},
        "duplicates": {"BC-100": 2},
    }
    assert one["holdings"] == {"BC-999": 0} and one["total"] == 0
