"""The Flexe connector against the Flexe simulator: outbound orders created once per order,
shipments reported once per event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

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
from connectors.flexe import FlexeConnector, FlexeOptions
from connectors.http import ProviderHttp, RetryPolicy, StaticAuth
from connectors.state import ConnectorStore
from connectors.webhooks import make_web_app
from simulators.flexe import FlexeSettings, FlexeSimulator
from streams.domain.commands import RecordShipped

KEY = Secret("FLEXE_WEBHOOK_KEY", "k3y")


@dataclass
class Flexe:
    sim: str
    url: str
    connector: FlexeConnector
    publisher: RecordingPublisher


def make_connector(sim: str, store: ConnectorStore, publisher: RecordingPublisher) -> FlexeConnector:
    api = ProviderHttp(
        sim,
        "flexe",
        RetryPolicy(tries=3, timeout=0.3, backoff=0.01),
        StaticAuth({"Authorization": "Bearer sim-flexe-token"}),
    )
    return FlexeConnector(api, store, publisher, FlexeOptions("sim-owner"), KEY)


@pytest_asyncio.fixture
async def flexe(serve: Serve, store: ConnectorStore, publisher: RecordingPublisher) -> AsyncIterator[Flexe]:
    sim = await serve(FlexeSimulator(FlexeSettings(time_scale=0.001, hang_seconds=1.0)).make_app())
    connector = make_connector(sim, store, publisher)
    url = await serve(make_web_app("flexe", connector.routes(), 256 * 1024))
    await control(sim, "PUT", "/_sim/config", {"webhook_url": f"{url}/webhooks/flexe?key=k3y"})
    yield Flexe(sim, url, connector, publisher)
    await connector.close()


@pytest.mark.asyncio
async def test_an_order_becomes_one_outbound_order_however_often_it_is_sent(flexe: Flexe) -> None:
    await control(
        flexe.sim,
        "POST",
        "/_sim/faults",
        {"kind": "5xx", "count": 1, "status": 502, "path_prefix": "/outbound_orders"},
    )
    await control(
        flexe.sim,
        "POST",
        "/_sim/faults",
        {"kind": "timeout", "when": "after", "path_prefix": "/outbound_orders"},
    )
    state = journey_state(2, "BC-700")
    request = request_for(state, "flexe", "send_to_fulfillment")

    first = await answer(flexe.connector, request, flexe.publisher)
    again = await answer(flexe.connector, request, flexe.publisher)

    listing = await control(flexe.sim, "GET", "/_sim/outbound_orders")
    [order] = listing["outbound_orders"]
    assert order["externalId"] == "BC-700" and order["ownerId"] == "sim-owner"
    assert [(x["lineId"], x["sku"], x["quantity"]) for x in order["lines"]] == [
        (line.line_id, line.sku, line.quantity) for line in state.lines
    ]
    assert order["shipTo"]["postalCode"] == state.ship_to.postal_code
    assert first is not None and again is not None
    assert first.data == again.data == {"provider_order_id": order["id"]}
    assert again.details.endswith("(already there)")
    assert len(await requests_to(flexe.sim, "POST", "/outbound_orders")) == 4


@pytest.mark.asyncio
async def test_the_next_attempt_after_every_answer_was_lost_gets_the_order_flexe_made(flexe: Flexe) -> None:
    lost = {"kind": "timeout", "when": "after", "count": 3, "path_prefix": "/outbound_orders"}
    await control(flexe.sim, "POST", "/_sim/faults", lost)
    first = request_for(journey_state(2, "BC-702"), "flexe", "send_to_fulfillment", action_id="run-1")

    failed = await answer(flexe.connector, first, flexe.publisher)
    retried = await answer(flexe.connector, first.model_copy(update={"attempt": 2}), flexe.publisher)

    assert failed is not None and not failed.success
    [order] = (await control(flexe.sim, "GET", "/_sim/outbound_orders"))["outbound_orders"]
    assert retried is not None and retried.success and retried.data == {"provider_order_id": order["id"]}
    assert (await control(flexe.sim, "GET", "/_sim/holdings"))["holdings"] == {"BC-702": 1}


@pytest.mark.asyncio
async def test_an_order_flexe_finds_invalid_fails_with_flexes_reasons(flexe: Flexe) -> None:
    state = journey_state(2, "BC-701")
    state = state.model_copy(update={"ship_to": state.ship_to.model_copy(update={"postal_code": ""})})
    result = await answer(
        flexe.connector, request_for(state, "flexe", "send_to_fulfillment"), flexe.publisher
    )

    assert result is not None and not result.success
    assert result.details == (
        "Flexe refused the outbound order: The outbound order is invalid.: shipTo.postalCode: is required"
    )


@pytest.mark.asyncio
async def test_a_shipment_is_reported_once_with_its_tracking_number_and_carrier(flexe: Flexe) -> None:
    await control(
        flexe.sim, "POST", "/_sim/faults", {"kind": "duplicate_webhook", "path_prefix": "order_shipped"}
    )
    result = await answer(
        flexe.connector,
        request_for(journey_state(2, "BC-702"), "flexe", "send_to_fulfillment"),
        flexe.publisher,
    )
    assert result is not None
    flexe_id = result.data["provider_order_id"]

    await control(
        flexe.sim,
        "POST",
        f"/_sim/outbound_orders/{flexe_id}/ship",
        {"trackingNumber": "1Z42", "carrier": "FedEx"},
    )
    deliveries = await drain(flexe.sim)

    assert [d["state"] for d in deliveries] == ["delivered", "delivered"]
    [shipped] = flexe.publisher.of(RecordShipped)
    assert shipped.envelope.order_id == "BC-702"
    assert (shipped.provider, shipped.tracking_number, shipped.carrier) == ("flexe", "1Z42", "FedEx")
    assert shipped.shipment_id == f"{flexe_id}/1Z42"


@pytest.mark.asyncio
async def test_a_cancel_cancels_the_outbound_order_found_by_our_order_id(flexe: Flexe) -> None:
    state = journey_state(2, "BC-801")
    await answer(flexe.connector, request_for(state, "flexe", "send_to_fulfillment"), flexe.publisher)

    first = await answer(flexe.connector, request_for(state, "flexe", "cancel_order"), flexe.publisher)
    again = await answer(flexe.connector, request_for(state, "flexe", "cancel_order"), flexe.publisher)
    none = await answer(
        flexe.connector, request_for(journey_state(2, "BC-802"), "flexe", "cancel_order"), flexe.publisher
    )

    assert first is not None and first.success
    assert again is not None and again.success and "cancelled already" in again.details
    assert none is not None and none.success and "no outbound order" in none.details
    listing = await control(flexe.sim, "GET", "/_sim/outbound_orders")
    assert [o["status"] for o in listing["outbound_orders"]] == ["cancelled"]


@pytest.mark.asyncio
async def test_a_shipped_order_cannot_be_cancelled_and_flexe_says_why(flexe: Flexe) -> None:
    state = journey_state(2, "BC-803")
    sent = await answer(flexe.connector, request_for(state, "flexe", "send_to_fulfillment"), flexe.publisher)
    assert sent is not None
    await control(flexe.sim, "POST", f"/_sim/outbound_orders/{sent.data['provider_order_id']}/ship", {})

    result = await answer(flexe.connector, request_for(state, "flexe", "cancel_order"), flexe.publisher)

    assert (
        result is not None and not result.success and "has shipped and cannot be cancelled" in result.details
    )


@pytest.mark.asyncio
async def test_two_instances_both_given_the_shipment_make_one_command_of_it(
    flexe: Flexe, serve: Serve, second_store: ConnectorStore
) -> None:
    recorded = RecordingPublisher()
    second = make_connector(flexe.sim, second_store, recorded)
    front = await second_instance(serve, flexe.sim, flexe.url, second, "?key=k3y")
    result = await answer(
        flexe.connector,
        request_for(journey_state(2, "BC-703"), "flexe", "send_to_fulfillment"),
        flexe.publisher,
    )
    assert result is not None
    flexe.publisher.commands.clear()
    await control(flexe.sim, "POST", f"/_sim/outbound_orders/{result.data['provider_order_id']}/ship", {})
    await drain(flexe.sim)
    await second.close()

    assert sorted(front.answered.values()) == [1, 1]  # each instance took the delivery
    shipped = one_command(flexe.publisher, recorded)
    assert isinstance(shipped, RecordShipped)
    assert shipped.envelope.command_id.startswith("flexe/event/")
