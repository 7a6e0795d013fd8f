"""The SAP connector against the S/4HANA simulator: a sales order per order behind the CSRF
token, and the billing document's CloudEvent turned into "invoiced"."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio
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
from connectors.http import ProviderHttp, RetryPolicy
from connectors.sap import SALES, SapConnector, SapOptions, SapSession, basic, request_id
from connectors.state import ConnectorStore
from connectors.webhooks import make_web_app
from simulators.sap import SapSettings, SapSimulator
from streams.domain.commands import RecordInvoiced


@dataclass
class Sap:
    sim: str
    url: str
    connector: SapConnector
    publisher: RecordingPublisher

    async def bill(self, order_id: str) -> str:
        """Make the order's sales order, then bill it; the CloudEvent's answers are in."""
        result = await answer(
            self.connector, request_for(journey_state(5, order_id), "sap", "send_to_billing"), self.publisher
        )
        assert result is not None and result.success
        billed = await control(
            self.sim, "POST", f"/_sim/salesorders/{result.data['provider_order_id']}/bill", {}
        )
        await drain(self.sim)
        number: str = billed["billing_document"]["BillingDocument"]
        return number


def make_connector(sim: str, store: ConnectorStore, publisher: RecordingPublisher) -> SapConnector:
    api = ProviderHttp(sim, "sap", RetryPolicy(tries=3, timeout=0.3, backoff=0.01), unsafe_cookies=True)
    session = SapSession(api, basic("SIM_USER", Secret("SAP_PASSWORD", "sim-sap-password")))
    api.auth = session
    return SapConnector(api, session, store, publisher, SapOptions())


async def started(serve: Serve, store: ConnectorStore, publisher: RecordingPublisher, **settings: Any) -> Sap:
    """The simulator (``settings`` over short delays) and a connector pointed at it."""
    sim = await serve(SapSimulator(SapSettings(time_scale=0.001, hang_seconds=1.0, **settings)).make_app())
    connector = make_connector(sim, store, publisher)
    url = await serve(make_web_app("sap", connector.routes(), 256 * 1024))
    await control(sim, "PUT", "/_sim/config", {"webhook_url": f"{url}/webhooks/sap"})
    return Sap(sim, url, connector, publisher)


@pytest_asyncio.fixture
async def sap(serve: Serve, store: ConnectorStore, publisher: RecordingPublisher) -> AsyncIterator[Sap]:
    started_sap = await started(serve, store, publisher)
    yield started_sap
    await started_sap.connector.close()


LOST = {"kind": "timeout", "when": "after", "method": "POST", "path_prefix": f"/{SALES}/A_SalesOrder"}


@pytest.mark.asyncio
async def test_an_order_becomes_one_sales_order_created_behind_the_csrf_token(sap: Sap) -> None:
    await control(
        sap.sim,
        "POST",
        "/_sim/faults",
        {"kind": "5xx", "count": 1, "method": "POST", "path_prefix": f"/{SALES}/A_SalesOrder"},
    )
    state = journey_state(5, "FNO-USMF-000042")
    request = request_for(state, "sap", "send_to_billing")

    first = await answer(sap.connector, request, sap.publisher)
    again = await answer(sap.connector, request, sap.publisher)

    listing = await control(sap.sim, "GET", "/_sim/salesorders")
    [order] = listing["salesorders"]
    assert order["PurchaseOrderByCustomer"] == "FNO-USMF-000042"
    assert [(i["Material"], i["RequestedQuantity"]) for i in order["to_Item"]["results"]] == [
        (line.sku, str(line.quantity)) for line in state.lines
    ]
    assert first is not None and again is not None
    assert first.data == again.data == {"provider_order_id": order["SalesOrder"]}
    assert len(await requests_to(sap.sim, "GET", f"/{SALES}/")) == 1  # one token for both


@pytest.mark.asyncio
async def test_an_expired_csrf_token_is_fetched_again_and_the_write_sent_again(sap: Sap) -> None:
    await answer(
        sap.connector, request_for(journey_state(5, "FNO-USMF-1"), "sap", "send_to_billing"), sap.publisher
    )
    await control(sap.sim, "POST", "/_sim/csrf/invalidate")
    result = await answer(
        sap.connector, request_for(journey_state(5, "FNO-USMF-2"), "sap", "send_to_billing"), sap.publisher
    )

    assert result is not None and result.success
    assert [r["status"] for r in await requests_to(sap.sim, "POST", f"/{SALES}/A_SalesOrder")] == [
        201,
        403,
        201,
    ]


@pytest.mark.asyncio
async def test_the_billing_document_event_reports_the_order_invoiced_once(sap: Sap) -> None:
    await control(sap.sim, "POST", "/_sim/faults", {"kind": "duplicate_webhook", "path_prefix": "sap.s4.beh"})
    document = await sap.bill("FNO-USMF-000043")

    [invoiced] = sap.publisher.of(RecordInvoiced)
    assert invoiced.envelope.order_id == "FNO-USMF-000043"
    assert (invoiced.provider, invoiced.invoice_id) == ("sap", document)
    assert invoiced.amount == Decimal(sum(line.quantity for line in journey_state(5, "x").lines) * 10)


@pytest.mark.asyncio
async def test_a_billing_event_sap_cannot_explain_yet_is_refused_and_taken_on_redelivery(sap: Sap) -> None:
    await control(
        sap.sim,
        "POST",
        "/_sim/faults",
        {"kind": "5xx", "count": 3, "path_prefix": "/sap/opu/odata/sap/API_BILLING_DOCUMENT_SRV"},
    )
    await sap.bill("FNO-USMF-000044")

    assert [c.envelope.order_id for c in sap.publisher.of(RecordInvoiced)] == ["FNO-USMF-000044"]
    [delivery] = (await control(sap.sim, "GET", "/_sim/deliveries"))["deliveries"]
    assert [a["status"] for a in delivery["attempts"]] == [503, 204]


def test_the_request_id_is_one_guid_per_action_whatever_the_attempt() -> None:
    state = journey_state(5, "FNO-USMF-000050")
    first = request_for(state, "sap", "send_to_billing", action_id="run-1")
    retry = first.model_copy(update={"attempt": 3})
    rerun = request_for(state, "sap", "send_to_billing", action_id="run-2")

    assert request_id(first) == request_id(retry) != request_id(rerun)
    assert len(request_id(first)) == 32 and int(request_id(first), 16) >= 0


@pytest.mark.asyncio
async def test_a_create_whose_answer_was_lost_is_answered_again_by_its_request_id(sap: Sap) -> None:
    await control(sap.sim, "POST", "/_sim/faults", LOST)
    request = request_for(journey_state(5, "FNO-USMF-000051"), "sap", "send_to_billing")

    result = await answer(sap.connector, request, sap.publisher)

    assert result is not None and result.success and result.details.endswith("(the first answer again)")
    posts = await requests_to(sap.sim, "POST", f"/{SALES}/A_SalesOrder")
    assert len(posts) == 2
    sent = {(p["headers"]["RequestID"], p["headers"]["RepeatabilityCreation"]) for p in posts}
    assert [rid for rid, _ in sent] == [request_id(request)]
    holdings = await control(sap.sim, "GET", "/_sim/holdings")
    assert holdings["holdings"] == {"FNO-USMF-000051": 1}


@pytest.mark.asyncio
async def test_the_next_attempt_of_a_step_whose_answers_were_all_lost_finds_the_order(sap: Sap) -> None:
    await control(sap.sim, "POST", "/_sim/faults", {**LOST, "count": 3})
    first = request_for(journey_state(5, "FNO-USMF-000052"), "sap", "send_to_billing", action_id="run-1")

    failed = await answer(sap.connector, first, sap.publisher)
    retried = await answer(sap.connector, first.model_copy(update={"attempt": 2}), sap.publisher)

    assert failed is not None and not failed.success
    assert retried is not None and retried.success and retried.details.endswith("already exists")
    posts = await requests_to(sap.sim, "POST", f"/{SALES}/A_SalesOrder")
    assert {p["headers"]["RequestID"] for p in posts} == {request_id(first)}
    assert (await control(sap.sim, "GET", "/_sim/holdings"))["holdings"] == {"FNO-USMF-000052": 1}


@pytest.mark.asyncio
async def test_without_idempotent_services_sales_orders_are_created_plainly_and_never_sent_twice(
    serve: Serve, store: ConnectorStore, publisher: RecordingPublisher
) -> None:
    sap = await started(serve, store, publisher, idempotent_services=False)
    first = request_for(journey_state(5, "FNO-USMF-000053"), "sap", "send_to_billing")
    lost = request_for(journey_state(5, "FNO-USMF-000054"), "sap", "send_to_billing")
    try:
        plain = await answer(sap.connector, first, sap.publisher)
        await control(sap.sim, "POST", "/_sim/faults", LOST)
        unanswered = await answer(sap.connector, lost, sap.publisher)
        found = await answer(sap.connector, lost.model_copy(update={"attempt": 2}), sap.publisher)
    finally:
        await sap.connector.close()

    assert plain is not None and plain.success
    assert unanswered is not None and not unanswered.success and "no answer after 1 try" in unanswered.details
    assert found is not None and found.success and found.details.endswith("already exists")
    posts = await requests_to(sap.sim, "POST", f"/{SALES}/A_SalesOrder")
    assert ["RequestID" in p["headers"] for p in posts] == [True, False, False]  # refused, sent, lost
    assert posts[0]["status"] == 400
    holdings = await control(sap.sim, "GET", "/_sim/holdings")
    assert holdings["holdings"] == {"FNO-USMF-000053": 1, "FNO-USMF-000054": 1}


# --- the order desk: cancels and credits ---------------------------------------------------


@pytest.mark.asyncio
async def test_a_cancel_of_a_billed_order_cancels_its_billing_document_once(sap: Sap) -> None:
    document = await sap.bill("FNO-USMF-000050")
    state = journey_state(5, "FNO-USMF-000050")

    first = await answer(sap.connector, request_for(state, "sap", "cancel_order"), sap.publisher)
    again = await answer(sap.connector, request_for(state, "sap", "cancel_order"), sap.publisher)

    assert first is not None and first.success and first.details.startswith(f"{document} cancelled by ")
    assert again is not None and again.success and "cancelled already" in again.details
    listing = await control(sap.sim, "GET", "/_sim/billingdocuments")
    kinds = sorted(
        (d["BillingDocumentType"], d["BillingDocumentIsCancelled"]) for d in listing["billingdocuments"]
    )
    assert kinds == [("F2", True), ("S1", False)]


@pytest.mark.asyncio
async def test_an_order_sap_never_got_needs_no_cancel(sap: Sap) -> None:
    result = await answer(
        sap.connector, request_for(journey_state(5, "FNO-USMF-000051"), "sap", "cancel_order"), sap.publisher
    )
    assert result is not None and result.success and "SAP has no sales order" in result.details


@pytest.mark.asyncio
async def test_a_return_is_credited_by_one_credit_memo_request_against_the_billing_document(sap: Sap) -> None:
    document = await sap.bill("FNO-USMF-000052")
    state = journey_state(5, "FNO-USMF-000052")
    params = {"rma_id": "RMA-1", "return_lines": f"{state.lines[0].line_id}:1"}

    first = await answer(sap.connector, request_for(state, "sap", "issue_credit_note", params), sap.publisher)
    again = await answer(sap.connector, request_for(state, "sap", "issue_credit_note", params), sap.publisher)

    assert first is not None and first.success and again is not None and again.success
    assert first.data["credit_note_id"] == again.data["credit_note_id"]
    posts = await requests_to(
        sap.sim, "POST", "/sap/opu/odata/sap/API_CREDIT_MEMO_REQUEST_SRV/A_CreditMemoRequest"
    )
    assert len(posts) == 1
    assert document  # the memo refers to it (the simulator refuses an unknown reference)


@pytest.mark.asyncio
async def test_two_instances_both_given_the_billing_document_event_publish_one_command(
    sap: Sap, serve: Serve, second_store: ConnectorStore
) -> None:
    recorded = RecordingPublisher()
    second = make_connector(sap.sim, second_store, recorded)  # never made the sales order
    front = await second_instance(serve, sap.sim, sap.url, second)
    await sap.bill("FNO-USMF-000045")
    await second.close()

    assert sorted(front.answered.values()) == [1, 1]
    sap.publisher.commands = sap.publisher.of(RecordInvoiced)  # not the action's own answer
    invoiced = one_command(sap.publisher, recorded)
    assert invoiced.envelope.order_id == "FNO-USMF-000045"
    assert invoiced.envelope.command_id.startswith("sap/event/")
