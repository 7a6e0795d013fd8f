"""The F&O connector against the F&O simulator: sales orders in one $batch changeset,
idempotent by their SalesOrderNumber; the status of F&O's own orders sent back; business events
and dual-write orders turned into commands, deduplicated and in ControlNumber order."""

from __future__ import annotations

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
    drain,
    journey_state,
    one_command,
    request_for,
    requests_to,
    second_instance,
)

from connectors.actions import answer
from connectors.config import Secret
from connectors.fno import EntraToken, FnoConnector, FnoOptions, sales_order_number
from connectors.http import ProviderHttp, RetryPolicy
from connectors.state import ConnectorStore
from connectors.webhooks import make_web_app
from simulators.fno import FnoSettings, FnoSimulator
from streams.domain.commands import (
    CancelOrder,
    ConfirmOrder,
    CreateOrder,
    RecordInvoiced,
    RecordPicked,
    RecordReturnReceived,
    RecordShipped,
    RequestReturn,
)
from streams.domain.order import OrderState
from streams.domain.values import ExternalRef


@dataclass
class Fno:
    sim: str
    url: str
    connector: FnoConnector
    publisher: RecordingPublisher

    @property
    def webhook(self) -> str:
        return f"{self.url}/webhooks/fno"

    async def act(self, state: OrderState, action: str, **params: str) -> Any:
        return await answer(self.connector, request_for(state, "fno", action, params), self.publisher)

    async def orders_for(self, order_id: str) -> list[dict[str, Any]]:
        listing = await control(self.sim, "GET", "/_sim/salesorders")
        return [o for o in listing["salesorders"] if o["header"]["CustomersOrderReference"] == order_id]

    async def post(self, payload: dict[str, Any]) -> int:
        async with ClientSession() as http, http.post(self.webhook, json=payload) as reply:
            return reply.status


def make_connector(sim: str, store: ConnectorStore, publisher: RecordingPublisher) -> FnoConnector:
    api = ProviderHttp(sim, "fno", RetryPolicy(tries=3, timeout=0.3, backoff=0.01))
    api.auth = EntraToken(
        api,
        f"{sim}/sim-tenant/oauth2/v2.0/token",
        "sim-fno-client",
        Secret("S", "sim-fno-secret"),
        f"{sim}/.default",
    )
    return FnoConnector(api, store, publisher, FnoOptions())


@pytest_asyncio.fixture
async def fno(serve: Serve, store: ConnectorStore, publisher: RecordingPublisher) -> AsyncIterator[Fno]:
    sim = await serve(FnoSimulator(FnoSettings(time_scale=0.001, hang_seconds=1.0)).make_app())
    connector = make_connector(sim, store, publisher)
    url = await serve(make_web_app("fno", connector.routes(), 256 * 1024))
    await control(sim, "PUT", "/_sim/config", {"webhook_url": f"{url}/webhooks/fno"})
    yield Fno(sim, url, connector, publisher)
    await connector.close()


@pytest.mark.asyncio
async def test_an_order_goes_to_fulfillment_as_header_and_lines_in_one_changeset(fno: Fno) -> None:
    state = journey_state(1, "BC-500")
    result = await fno.act(state, "send_to_fulfillment")

    assert result.success and result.data == {"provider_order_id": "BC-500"}
    [order] = await fno.orders_for("BC-500")
    header = order["header"]
    assert (header["dataAreaId"], header["SalesOrderNumber"]) == ("usmf", "BC-500")
    assert header["OrderingCustomerAccountNumber"] == header["InvoiceCustomerAccountNumber"] == "US-001"
    assert header["DeliveryAddressCountryRegionId"] == "USA"
    assert header["DeliveryAddressZipCode"] == state.ship_to.postal_code
    assert [
        (x["ItemNumber"], x["OrderedSalesQuantity"], x["ShippingSiteId"], x["ShippingWarehouseId"])
        for x in order["lines"]
    ] == [(line.sku, float(line.quantity), "1", "11") for line in state.lines]
    [batch] = await requests_to(fno.sim, "POST", "/data/$batch")
    inner = await requests_to(fno.sim, "POST", "/data/SalesOrderLines")
    assert all(r["via_batch"] == batch["seq"] for r in inner)


@pytest.mark.asyncio
async def test_a_request_delivered_again_finds_the_order_instead_of_making_another(fno: Fno) -> None:
    state = journey_state(1, "BC-501")
    first = await fno.act(state, "send_to_fulfillment")
    again = await fno.act(state, "send_to_fulfillment")

    assert first.success and again.success
    assert again.details == "sales order BC-501 already has these lines"
    assert len(await fno.orders_for("BC-501")) == 1


@pytest.mark.asyncio
async def test_an_answer_lost_after_the_create_is_not_a_second_order(fno: Fno) -> None:
    await control(
        fno.sim, "POST", "/_sim/faults", {"kind": "timeout", "when": "after", "path_prefix": "/data/$batch"}
    )
    state = journey_state(1, "BC-502")
    result = await fno.act(state, "send_to_fulfillment")

    assert result.success and result.data == {"provider_order_id": "BC-502"}
    assert len(await fno.orders_for("BC-502")) == 1
    assert len(await requests_to(fno.sim, "POST", "/data/$batch")) == 2


@pytest.mark.asyncio
async def test_every_attempt_of_one_step_names_one_sales_order_even_when_all_answers_are_lost(
    fno: Fno,
) -> None:
    lost = {"kind": "timeout", "when": "after", "count": 3, "path_prefix": "/data/$batch"}
    await control(fno.sim, "POST", "/_sim/faults", lost)
    state = journey_state(1, "BC-520")
    first = request_for(state, "fno", "send_to_fulfillment", action_id="step-run-1")
    second = first.model_copy(update={"attempt": 2})

    failed = await answer(fno.connector, first, fno.publisher)
    retried = await answer(fno.connector, second, fno.publisher)

    assert failed is not None and not failed.success and "no answer after 3 tries" in failed.details
    assert retried is not None and retried.success and retried.data == {"provider_order_id": "BC-520"}
    assert retried.details == "sales order BC-520 already has these lines"
    [order] = await fno.orders_for("BC-520")
    assert len(order["lines"]) == len(state.lines)
    holdings = await control(fno.sim, "GET", "/_sim/holdings?ref=BC-520")
    assert holdings["holdings"] == {"BC-520": 1}


@pytest.mark.asyncio
async def test_a_sales_order_of_our_number_made_for_another_order_is_never_taken_as_ours(fno: Fno) -> None:
    await control(
        fno.sim,
        "POST",
        "/_sim/salesorders",
        {
            "SalesOrderNumber": "BC-521",
            "OrderingCustomerAccountNumber": "US-001",
            "CustomersOrderReference": "X-9",
        },
    )

    result = await fno.act(journey_state(1, "BC-521"), "send_to_fulfillment")

    assert not result.success
    assert result.details == "sales order BC-521 in usmf belongs to 'X-9', not BC-521"
    assert await requests_to(fno.sim, "POST", "/data/$batch") == []


@pytest.mark.asyncio
async def test_lines_another_try_added_first_are_refused_as_existing_and_count_as_done(
    fno: Fno, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = journey_state(6, "BC-522")
    first = state.lines[0]
    released = first.model_copy(update={"line_id": "2", "sku": "SKU-RELEASED"})
    state = state.model_copy(update={"lines": (first, released)})
    await fno.act(state, "send_to_billing", sync_lines="with_warehouse", lines="1")
    send = fno.connector._changeset

    async def raced(requests: Any, deadline: float) -> str | None:
        await send(requests, deadline)  # the other try, whose answer we never see
        return await send(requests, deadline)

    monkeypatch.setattr(fno.connector, "_changeset", raced)
    result = await fno.act(state, "send_to_billing", sync_lines="with_warehouse", lines="2")

    assert result.success and result.details == "1 lines added to sales order BC-522"
    [order] = await fno.orders_for("BC-522")
    assert [x["LineNumber"] for x in order["lines"]] == [1.0, 2.0]


@pytest.mark.asyncio
async def test_f_and_o_failing_for_good_fails_the_action_with_the_status_and_tries(fno: Fno) -> None:
    await control(
        fno.sim,
        "POST",
        "/_sim/faults",
        {"kind": "5xx", "status": 503, "count": 3, "path_prefix": "/data/$batch"},
    )
    result = await fno.act(journey_state(1, "BC-503"), "send_to_fulfillment")

    assert not result.success
    assert result.details.startswith("HTTP 503 after 3 tries: POST /data/$batch: ")
    assert await fno.orders_for("BC-503") == []


@pytest.mark.asyncio
async def test_a_line_f_and_o_refuses_fails_the_whole_changeset(fno: Fno) -> None:
    state = journey_state(1, "BC-504")
    broken = state.model_copy(
        update={"lines": (state.lines[0].model_copy(update={"site": None}), *state.lines[1:])}
    )
    result = await fno.act(broken, "send_to_fulfillment")

    assert not result.success
    assert (
        "HTTP 400 from the $batch changeset" in result.details and "Site' must be filled in" in result.details
    )
    assert await fno.orders_for("BC-504") == []  # the header was rolled back with the line


@pytest.mark.asyncio
async def test_journey_6_sends_the_lines_the_flow_names_and_later_the_released_ones(fno: Fno) -> None:
    state = journey_state(6, "BC-505")
    first = state.lines[0]
    held = first.model_copy(update={"line_id": "2", "sku": "SKU-BACKORDERED"})
    state = state.model_copy(update={"lines": (first, held)})

    sourced = await fno.act(state, "send_to_billing", sync_lines="with_warehouse", lines="1")
    released = await fno.act(state, "send_to_billing", sync_lines="with_warehouse", lines="2")
    again = await fno.act(state, "send_to_billing", sync_lines="with_warehouse", lines="2")

    assert sourced.success and released.success and again.success
    assert released.details == "1 lines added to sales order BC-505"
    assert again.details == "sales order BC-505 already has these lines"
    [order] = await fno.orders_for("BC-505")
    assert [(x["LineNumber"], x["ItemNumber"]) for x in order["lines"]] == [
        (1.0, first.sku),
        (2.0, "SKU-BACKORDERED"),
    ]


@pytest.mark.asyncio
async def test_without_named_lines_only_lines_with_a_warehouse_go(fno: Fno) -> None:
    state = journey_state(6, "BC-509")
    first = state.lines[0]
    unsourced = first.model_copy(update={"line_id": "2", "sku": "SKU-OUT-OF-STOCK", "warehouse": None})
    result = await fno.act(
        state.model_copy(update={"lines": (first, unsourced)}), "send_to_billing", sync_lines="with_warehouse"
    )

    assert result.success
    [order] = await fno.orders_for("BC-509")
    assert [x["ItemNumber"] for x in order["lines"]] == [first.sku]


@pytest.mark.asyncio
async def test_billing_an_order_that_came_from_f_and_o_sends_its_status_back(fno: Fno) -> None:
    line = {"ItemNumber": "X", "OrderedSalesQuantity": 1, "ShippingSiteId": "1", "ShippingWarehouseId": "11"}
    made = await control(
        fno.sim, "POST", "/_sim/salesorders", {"OrderingCustomerAccountNumber": "US-001", "lines": [line]}
    )
    number = made["header"]["SalesOrderNumber"]
    state = journey_state(
        3,
        f"FNO-USMF-{number}",
        status="Fulfillment in progress",
        status_reason="Packed",
        external_refs=(ExternalRef(system="fno", ref=number),),
    )

    result = await fno.act(state, "send_to_billing")

    assert result.success and result.data == {"provider_order_id": number}
    view = await control(fno.sim, "GET", f"/_sim/salesorders/{number}")
    assert view["header"]["IOMOrderStatus"] == "Packed"
    assert await requests_to(fno.sim, "POST", "/data/$batch") == []


@pytest.mark.asyncio
async def test_the_token_is_fetched_once_and_again_when_f_and_o_refuses_it(fno: Fno) -> None:
    await fno.act(journey_state(1, "BC-506"), "send_to_fulfillment")
    await fno.act(journey_state(1, "BC-507"), "send_to_fulfillment")
    await control(fno.sim, "POST", "/_sim/tokens/expire")
    result = await fno.act(journey_state(1, "BC-508"), "send_to_fulfillment")

    assert result.success
    assert len(await requests_to(fno.sim, "POST", "/sim-tenant/oauth2/v2.0/token")) == 2


async def _fulfilled(
    fno: Fno, order_id: str, steps: tuple[str, ...] = ("picked", "packed", "invoiced")
) -> None:
    await fno.act(journey_state(1, order_id), "send_to_fulfillment")
    number = sales_order_number(order_id)
    for step in steps:
        await control(fno.sim, "POST", f"/_sim/salesorders/{number}/advance", {"to": step})
        await drain(fno.sim)


@pytest.mark.asyncio
async def test_picked_packed_and_invoiced_become_commands_for_our_order(fno: Fno) -> None:
    await _fulfilled(fno, "BC-510")

    [picked] = fno.publisher.of(RecordPicked)
    [shipped] = fno.publisher.of(RecordShipped)
    [invoiced] = fno.publisher.of(RecordInvoiced)
    assert {c.envelope.order_id for c in (picked, shipped, invoiced)} == {"BC-510"}
    assert picked.provider == shipped.provider == invoiced.provider == "fno"
    assert picked.picking_id and shipped.shipment_id and invoiced.invoice_id.startswith("CIV-")
    order = journey_state(1, "BC-510")
    assert invoiced.amount == sum((line.unit_price * line.quantity for line in order.lines), Decimal(0))


@pytest.mark.asyncio
async def test_a_business_event_delivered_twice_is_one_command(fno: Fno) -> None:
    await control(
        fno.sim, "POST", "/_sim/faults", {"kind": "duplicate_webhook", "count": 3, "path_prefix": "Sales"}
    )
    await _fulfilled(fno, "BC-511")

    assert len(fno.publisher.of(RecordPicked)) == len(fno.publisher.of(RecordShipped)) == 1
    assert len(fno.publisher.of(RecordInvoiced)) == 1


def _event(
    kind: str, control_number: int, event_id: str, number: str = "BC-512", **fields: Any
) -> dict[str, Any]:
    return {
        "BusinessEventId": kind,
        "BusinessEventLegalEntity": "usmf",
        "ControlNumber": control_number,
        "EventId": event_id,
        "EventTime": "/Date(1767225600000)/",
        "SalesOrderId": number,
        "LegalEntity": "usmf",
        **fields,
    }


@pytest.mark.asyncio
async def test_an_event_older_than_one_already_applied_is_dropped(fno: Fno) -> None:
    await fno.act(journey_state(1, "BC-512"), "send_to_fulfillment")
    packed = _event("SalesOrderPackingSlipPostedBusinessEvent", 5637144600, "E-2", PackingSlipId="PS-1")
    picked = _event("SalesOrderPickingListPostedBusinessEvent", 5637144590, "E-1", PickingRouteId="00001")

    assert await fno.post(packed) == 204
    assert await fno.post(picked) == 204  # acknowledged: F&O must not send it again

    assert fno.publisher.of(RecordPicked) == []
    assert [c.shipment_id for c in fno.publisher.of(RecordShipped)] == ["PS-1"]


@pytest.mark.asyncio
async def test_events_of_sales_orders_that_are_not_ours_publish_nothing(fno: Fno) -> None:
    assert (
        await fno.post(
            _event("SalesInvoicePostedBusinessEvent", 1, "E-9", number="UNKNOWN-1", InvoiceId="CIV-9")
        )
        == 204
    )
    assert (
        await fno.post(
            {
                "BusinessEventId": "CustFreeTextInvoicePostedBusinessEvent",
                "EventId": "E-10",
                "ControlNumber": 2,
            }
        )
        == 204
    )
    assert [type(c) for c in fno.publisher.commands] == []


@pytest.mark.asyncio
async def test_an_order_made_in_f_and_o_is_taken_in_once_at_its_creation_and_then_confirmed(fno: Fno) -> None:
    await control(fno.sim, "POST", "/_sim/faults", {"kind": "duplicate_webhook", "path_prefix": "dualwrite"})
    made = await control(
        fno.sim,
        "POST",
        "/_sim/salesorders",
        {
            "OrderingCustomerAccountNumber": "US-002",
            "SalesOrderOriginCode": "FLEXE-SAP",
            "CurrencyCode": "USD",
            "DeliveryAddressName": "Contoso",
            "DeliveryAddressStreet": "1 Main St\nFloor 2",
            "DeliveryAddressCity": "Austin",
            "DeliveryAddressStateId": "TX",
            "DeliveryAddressZipCode": "73301",
            "DeliveryAddressCountryRegionId": "USA",
            "lines": [
                {
                    "ItemNumber": "MUG",
                    "OrderedSalesQuantity": 2,
                    "SalesPrice": 12.5,
                    "ShippingSiteId": "1",
                    "ShippingWarehouseId": "11",
                },
                {
                    "ItemNumber": "CAP",
                    "OrderedSalesQuantity": 1,
                    "SalesPrice": 7,
                    "ShippingSiteId": "2",
                    "ShippingWarehouseId": "21",
                },
            ],
        },
    )
    number = made["header"]["SalesOrderNumber"]
    await control(fno.sim, "POST", f"/_sim/salesorders/{number}/confirm")
    await drain(fno.sim)

    [created] = fno.publisher.of(CreateOrder)
    assert created.envelope.order_id == f"FNO-USMF-{number}"
    assert created.awaiting_confirmation  # taken in at its creation in F&O, then confirmed
    [confirmed] = fno.publisher.of(ConfirmOrder)
    assert confirmed.envelope.order_id == created.envelope.order_id
    assert (created.channel, created.company, created.customer_id, created.invoice_customer) == (
        "fno",
        "USMF",
        "US-002",
        "US-002",
    )
    assert created.attributes == {"fulfillment": "flexe", "billing": "sap", "origin": "FLEXE-SAP"}
    assert [(r.system, r.ref) for r in created.external_refs] == [("fno", number)]
    assert (created.ship_to.line1, created.ship_to.line2, created.ship_to.country) == (
        "1 Main St",
        "Floor 2",
        "US",
    )
    assert [(x.line_id, x.sku, x.quantity, x.unit_price, x.site, x.warehouse) for x in created.lines] == [
        ("1", "MUG", 2, Decimal("12.5000"), "1", "11"),
        ("2", "CAP", 1, Decimal("7.0000"), "2", "21"),
    ]

    await control(fno.sim, "POST", f"/_sim/salesorders/{number}/advance", {"to": "packed"})
    await drain(fno.sim)
    [shipped] = fno.publisher.of(RecordShipped)
    assert shipped.envelope.order_id == f"FNO-USMF-{number}"


# --- the order desk: cancels, returns, credit notes -----------------------------------------


@pytest.mark.asyncio
async def test_a_cancel_cancels_our_sales_order_once_and_its_event_is_not_a_cancel_from_fno(fno: Fno) -> None:
    state = journey_state(1, "BC-700")
    await fno.act(state, "send_to_fulfillment")

    first = await fno.act(state, "cancel_order", reason="customer")
    again = await fno.act(state, "cancel_order", reason="customer")
    await drain(fno.sim)

    assert first.success and again.success and "canceled already" in again.details
    [order] = await fno.orders_for("BC-700")
    assert order["header"]["SalesOrderStatus"] == "Canceled"
    assert fno.publisher.of(CancelOrder) == []  # the event of our own cancel


@pytest.mark.asyncio
async def test_a_line_cancel_cancels_that_line_by_its_line_number(fno: Fno) -> None:
    state = journey_state(1, "BC-701")
    two = (state.lines[0], state.lines[0].model_copy(update={"line_id": "L2", "sku": "SKU-MUG-01"}))
    state = state.model_copy(update={"lines": two})
    await fno.act(state, "send_to_fulfillment")

    result = await fno.act(state, "cancel_lines", line_ids="L2")

    assert result.success
    [order] = await fno.orders_for("BC-701")
    assert [x["SalesOrderLineStatus"] for x in order["lines"]] == ["Backorder", "Canceled"]
    assert order["header"]["SalesOrderStatus"] == "Backorder"


@pytest.mark.asyncio
async def test_a_delivered_order_cannot_be_canceled_and_fno_says_why(fno: Fno) -> None:
    state = journey_state(1, "BC-702")
    await fno.act(state, "send_to_fulfillment")
    await control(fno.sim, "POST", "/_sim/salesorders/BC-702/advance", {"to": "packed", "emit": False})

    result = await fno.act(state, "cancel_order", reason="too late")

    assert not result.success and "delivered and cannot be canceled" in result.details


@pytest.mark.asyncio
async def test_an_order_fno_never_got_needs_no_cancel(fno: Fno) -> None:
    result = await fno.act(journey_state(1, "BC-703"), "cancel_order", reason="r")
    assert result.success and "F&O has no sales order BC-703" in result.details


@pytest.mark.asyncio
async def test_a_cancel_made_in_fno_becomes_a_cancel_of_the_order(fno: Fno) -> None:
    state = journey_state(1, "BC-704")
    await fno.act(state, "send_to_fulfillment")

    await control(fno.sim, "POST", "/_sim/salesorders/BC-704/cancel")
    await drain(fno.sim)

    (cancel,) = fno.publisher.of(CancelOrder)
    assert (cancel.envelope.order_id, cancel.reason, cancel.envelope.source) == (
        "BC-704",
        "Canceled in F&O",
        "connector:fno",
    )


@pytest.mark.asyncio
async def test_a_return_order_is_made_once_received_by_the_warehouse_and_credited(fno: Fno) -> None:
    state = journey_state(1, "BC-705")
    await fno.act(state, "send_to_fulfillment")
    line = state.lines[0]
    params = {"rma_id": "RMA-9", "return_lines": f"{line.line_id}:1"}

    made = await fno.act(state, "create_return", **params)
    again = await fno.act(state, "create_return", **params)
    early = await fno.act(state, "issue_credit_note", **params)
    await control(fno.sim, "POST", "/_sim/returnorders/RMA-9/receive", {"warehouse": "12"})
    await drain(fno.sim)
    credited = await fno.act(state, "issue_credit_note", **params)

    assert made.success and again.success and made.data == {"provider_order_id": "RMA-9"}
    returns = (await control(fno.sim, "GET", "/_sim/returnorders"))["returns"]
    assert len(returns) == 1 and len(returns[0]["lines"]) == 1
    assert returns[0]["header"]["CustomersOrderReference"] == "BC-705"
    assert not early.success and "not been received yet" in early.details
    (received,) = fno.publisher.of(RecordReturnReceived)
    assert (received.envelope.order_id, received.rma_id, received.warehouse) == ("BC-705", "RMA-9", "12")
    assert credited.success and credited.data["credit_note_id"].startswith("CCN-")


@pytest.mark.asyncio
async def test_two_instances_both_given_a_business_event_publish_one_command(
    fno: Fno, serve: Serve, second_store: ConnectorStore
) -> None:
    recorded = RecordingPublisher()
    second = make_connector(fno.sim, second_store, recorded)  # never made the order: looks it up
    front = await second_instance(serve, fno.sim, fno.url, second)
    await _fulfilled(fno, "BC-520", steps=())
    fno.publisher.commands.clear()
    await control(
        fno.sim, "POST", f"/_sim/salesorders/{sales_order_number('BC-520')}/advance", {"to": "picked"}
    )
    await drain(fno.sim)
    await second.close()

    assert sorted(front.answered.values()) == [1, 1]
    picked = one_command(fno.publisher, recorded)
    assert isinstance(picked, RecordPicked) and picked.envelope.order_id == "BC-520"
    assert picked.envelope.command_id.startswith("fno/event/")


@pytest.mark.asyncio
async def test_two_instances_both_given_a_dual_write_order_publish_one_create_order(
    fno: Fno, serve: Serve, second_store: ConnectorStore
) -> None:
    recorded = RecordingPublisher()
    second = make_connector(fno.sim, second_store, recorded)
    await second_instance(serve, fno.sim, fno.url, second)
    line = {"ItemNumber": "X", "OrderedSalesQuantity": 1, "ShippingSiteId": "1", "ShippingWarehouseId": "11"}
    made = await control(
        fno.sim, "POST", "/_sim/salesorders", {"OrderingCustomerAccountNumber": "US-002", "lines": [line]}
    )
    number = made["header"]["SalesOrderNumber"]
    await control(fno.sim, "POST", f"/_sim/salesorders/{number}/confirm")
    await drain(fno.sim)
    await second.close()

    for kind, what in ((CreateOrder, "create"), (ConfirmOrder, "confirm")):  # F&O's two steps
        ids = [c.envelope.command_id for p in (fno.publisher, recorded) for c in p.of(kind)]
        assert ids == [f"fno/salesorder/usmf/{number}/{what}"] * 2, (kind, ids)
    assert [type(c) for c in fno.publisher.commands] == [CreateOrder, ConfirmOrder]


@pytest.mark.asyncio
async def test_a_return_order_made_in_fno_becomes_a_return_of_our_order_and_runs_its_flow_there(
    fno: Fno,
) -> None:
    base = journey_state(1, "BC-720")
    state = base.model_copy(
        update={"lines": tuple(x.model_copy(update={"line_id": f"L{x.line_id}"}) for x in base.lines)}
    )
    await fno.act(state, "send_to_fulfillment")
    number = sales_order_number("BC-720")
    for step in ("picked", "packed", "invoiced"):
        await control(fno.sim, "POST", f"/_sim/salesorders/{number}/advance", {"to": step})
    await control(
        fno.sim, "POST", "/_sim/faults", {"kind": "duplicate_webhook", "path_prefix": "ReturnOrder"}
    )
    made = await control(
        fno.sim,
        "POST",
        "/_sim/returnorders",
        {
            "SalesOrderNumber": number,
            "ReturnReasonCodeId": "DAMAGED",
            "lines": [{"LineNumber": 2, "ReturnQuantity": -1}],
        },
    )
    await drain(fno.sim)
    rma = made["header"]["ReturnOrderNumber"]

    (request,) = fno.publisher.of(RequestReturn)
    assert (request.envelope.order_id, request.rma_id, request.return_source) == ("BC-720", rma, "fno")
    assert [(x.line_id, x.quantity) for x in request.lines] == [("L2", 1)]  # the line at position 2
    assert "DAMAGED" in request.reason

    params = {"rma_id": rma, "return_lines": "L2:1"}
    flow_step = await fno.act(state, "create_return", **params)
    await control(fno.sim, "POST", f"/_sim/returnorders/{rma}/receive", {"warehouse": "12"})
    await drain(fno.sim)
    credited = await fno.act(state, "issue_credit_note", **params)

    assert flow_step.success and "made in F&O" in flow_step.details
    (held,) = (await control(fno.sim, "GET", "/_sim/returnorders"))["returns"]
    assert len(held["lines"]) == 1  # the flow added nothing to F&O's return order
    (received,) = fno.publisher.of(RecordReturnReceived)
    assert (received.envelope.order_id, received.rma_id, received.warehouse) == ("BC-720", rma, "12")
    assert credited.success


@pytest.mark.asyncio
async def test_a_return_order_we_made_is_not_taken_as_a_return_and_fno_refuses_more_than_ordered(
    fno: Fno,
) -> None:
    state = journey_state(1, "BC-721")
    await fno.act(state, "send_to_fulfillment")
    await fno.act(state, "create_return", rma_id="RMA-21", return_lines="1:1")
    ours = _event("ReturnOrderCreatedBusinessEvent", 7, "E-RET-1", ReturnOrderNumber="RMA-21")
    number = sales_order_number("BC-721")
    too_many = {"SalesOrderNumber": number, "lines": [{"LineNumber": 1, "ReturnQuantity": 4}]}

    assert await fno.post(ours) == 204
    async with ClientSession() as http, http.post(f"{fno.sim}/_sim/returnorders", json=too_many) as reply:
        refused = reply.status  # 4 ordered, 1 returned already by RMA-21

    assert fno.publisher.of(RequestReturn) == []
    assert refused == 409
