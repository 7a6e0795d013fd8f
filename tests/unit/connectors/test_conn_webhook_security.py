"""Bad webhooks are refused with the right 4xx and publish nothing: unsigned, wrongly
signed, replayed long after (stale timestamp), malformed, oversized, or without the
shared key; the connectors' web apps driven by aiohttp's TestClient, Kafka faked."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from conn_testing import RecordingPublisher

from connectors.bigcommerce import BigCommerceConnector, BigCommerceOptions, bigcommerce_webhook_key
from connectors.config import Secret
from connectors.flexe import FlexeConnector, FlexeOptions
from connectors.fno import FnoConnector, FnoOptions
from connectors.http import ProviderHttp
from connectors.sap import SapConnector, SapOptions, SapSession
from connectors.state import ConnectorStore
from connectors.webhooks import make_web_app
from streams.adapters.alert_webhook import signed_headers

CLIENT_SECRET = "bc-client-secret"
KEY = Secret("WEBHOOK_KEY", "s3cret-key")
LIMIT = 4096
Client = TestClient[web.Request, web.Application]

CREATED = {
    "scope": "store/order/created",
    "store_id": "1",
    "data": {"type": "order", "id": 250},
    "hash": "dd70c0976e06b67aaf671e73f49dcb79230ebf9d",
    "created_at": 1561479335,
    "producer": "stores/abc",
}


def signed(
    body: bytes, *, secret: str = CLIENT_SECRET, at: int | None = None, msg_id: str = "msg_1"
) -> dict[str, str]:
    """Signed as the BigCommerce simulator signs, with the reference library."""
    sent_at = datetime.now(UTC) if at is None else datetime.fromtimestamp(at, UTC)
    return signed_headers(bigcommerce_webhook_key(secret), msg_id, body.decode(), sent_at)


@pytest_asyncio.fixture
async def clients(store: ConnectorStore, publisher: RecordingPublisher) -> AsyncIterator[dict[str, Client]]:
    """Each connector's web app, its provider unreachable (a refusal must not need it)."""
    nowhere = "http://127.0.0.1:9"
    api = ProviderHttp(nowhere, "test")
    sap_api = ProviderHttp(nowhere, "test")
    connectors: dict[str, Any] = {
        "bigcommerce": BigCommerceConnector(
            api, store, publisher, BigCommerceOptions(), bigcommerce_webhook_key(CLIENT_SECRET)
        ),
        "fno": FnoConnector(api, store, publisher, FnoOptions(), KEY),
        "flexe": FlexeConnector(api, store, publisher, FlexeOptions("owner"), KEY),
        "sap": SapConnector(
            sap_api, SapSession(sap_api, Secret("A", "Basic x")), store, publisher, SapOptions(), KEY
        ),
    }
    out: dict[str, Client] = {}
    for name, connector in connectors.items():
        client: Client = TestClient(
            TestServer(make_web_app(name, connector.routes(), LIMIT), host="127.0.0.1")
        )
        await client.start_server()
        out[name] = client
    yield out
    for client in out.values():
        await client.close()
    await api.close()
    await sap_api.close()


def body_of(data: Any) -> bytes:
    return json.dumps(data).encode()


@pytest.mark.asyncio
async def test_an_unsigned_bigcommerce_webhook_is_refused(
    clients: dict[str, Client], publisher: RecordingPublisher
) -> None:
    reply = await clients["bigcommerce"].post("/webhooks/bigcommerce", data=body_of(CREATED))
    assert reply.status == 401
    assert "unsigned" in await reply.text()
    assert publisher.commands == []


@pytest.mark.asyncio
async def test_a_wrongly_signed_bigcommerce_webhook_is_refused(
    clients: dict[str, Client], publisher: RecordingPublisher
) -> None:
    body = body_of(CREATED)
    reply = await clients["bigcommerce"].post(
        "/webhooks/bigcommerce", data=body, headers=signed(body, secret="someone-else")
    )
    assert reply.status == 401
    assert publisher.commands == []


@pytest.mark.asyncio
async def test_a_tampered_bigcommerce_webhook_is_refused(
    clients: dict[str, Client], publisher: RecordingPublisher
) -> None:
    headers = signed(body_of(CREATED))
    tampered = body_of({**CREATED, "data": {"type": "order", "id": 251}})
    reply = await clients["bigcommerce"].post("/webhooks/bigcommerce", data=tampered, headers=headers)
    assert reply.status == 401
    assert publisher.commands == []


@pytest.mark.asyncio
async def test_a_bigcommerce_webhook_replayed_with_its_old_timestamp_is_refused(
    clients: dict[str, Client], publisher: RecordingPublisher
) -> None:
    body = body_of(CREATED)
    reply = await clients["bigcommerce"].post(
        "/webhooks/bigcommerce", data=body, headers=signed(body, at=int(time.time()) - 3600)
    )
    assert reply.status == 401
    assert "too old" in await reply.text()
    assert publisher.commands == []


@pytest.mark.asyncio
async def test_a_signed_but_malformed_bigcommerce_webhook_is_a_bad_request(
    clients: dict[str, Client], publisher: RecordingPublisher
) -> None:
    body = b'{"scope": "store/order/created", "data": '
    reply = await clients["bigcommerce"].post("/webhooks/bigcommerce", data=body, headers=signed(body))
    assert reply.status == 400
    assert publisher.commands == []


@pytest.mark.asyncio
async def test_a_signed_bigcommerce_webhook_without_an_order_id_is_unprocessable(
    clients: dict[str, Client], publisher: RecordingPublisher
) -> None:
    body = body_of({**CREATED, "data": {"type": "order"}})
    reply = await clients["bigcommerce"].post("/webhooks/bigcommerce", data=body, headers=signed(body))
    assert reply.status == 422
    assert publisher.commands == []


@pytest.mark.asyncio
@pytest.mark.parametrize("provider", ["bigcommerce", "fno", "flexe", "sap"])
async def test_an_oversized_webhook_is_refused_before_it_is_read(
    clients: dict[str, Client], publisher: RecordingPublisher, provider: str
) -> None:
    body = body_of({"padding": "x" * LIMIT})
    headers = {"Content-Type": "application/cloudevents+json", **signed(body)}
    reply = await clients[provider].post(
        f"/webhooks/{provider}?key={KEY.reveal()}", data=body, headers=headers
    )
    assert reply.status == 413
    assert publisher.commands == []


@pytest.mark.asyncio
@pytest.mark.parametrize("provider", ["fno", "flexe", "sap"])
@pytest.mark.parametrize("query", ["", "?key=wrong"])
async def test_a_webhook_without_the_shared_key_is_refused(
    clients: dict[str, Client], publisher: RecordingPublisher, provider: str, query: str
) -> None:
    reply = await clients[provider].post(
        f"/webhooks/{provider}{query}",
        data=body_of({"eventId": "e1", "eventType": "order_shipped"}),
        headers={"Content-Type": "application/cloudevents+json"},
    )
    assert reply.status == 401
    assert publisher.commands == []


@pytest.mark.asyncio
@pytest.mark.parametrize("provider", ["fno", "flexe", "sap"])
@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"\xff\xfe"])
async def test_a_malformed_webhook_is_a_bad_request(
    clients: dict[str, Client], publisher: RecordingPublisher, provider: str, body: bytes
) -> None:
    reply = await clients[provider].post(
        f"/webhooks/{provider}?key={KEY.reveal()}",
        data=body,
        headers={"Content-Type": "application/cloudevents+json"},
    )
    assert reply.status == 400
    assert publisher.commands == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("provider", "payload"),
    [
        ("fno", {"BusinessEventId": "SalesInvoicePostedBusinessEvent", "EventId": "E1"}),
        ("fno", {"entity": "salesorders", "operation": "confirmed", "EventId": "E2", "dataAreaId": "usmf"}),
        ("fno", {"something": "else"}),
        ("flexe", {"eventId": "e1", "eventType": "order_shipped", "externalId": "O-1"}),
        ("sap", {"specversion": "1.0", "id": "c1", "source": "/x"}),
        (
            "sap",
            {
                "specversion": "1.0",
                "id": "c1",
                "source": "/x",
                "type": "sap.s4.beh.billingdocument.v1.BillingDocument.Created.v1",
                "data": {},
            },
        ),
    ],
)
async def test_a_webhook_missing_what_the_provider_always_sends_is_unprocessable(
    clients: dict[str, Client], publisher: RecordingPublisher, provider: str, payload: dict[str, Any]
) -> None:
    reply = await clients[provider].post(
        f"/webhooks/{provider}?key={KEY.reveal()}",
        data=body_of(payload),
        headers={"Content-Type": "application/cloudevents+json"},
    )
    assert reply.status == 422
    assert publisher.commands == []


@pytest.mark.asyncio
async def test_a_cloudevent_in_another_content_type_is_refused(
    clients: dict[str, Client], publisher: RecordingPublisher
) -> None:
    reply = await clients["sap"].post(
        f"/webhooks/sap?key={KEY.reveal()}", data=b"<xml/>", headers={"Content-Type": "application/xml"}
    )
    assert reply.status == 415
    assert publisher.commands == []


@pytest.mark.asyncio
async def test_health_answers_without_credentials(clients: dict[str, Client]) -> None:
    reply = await clients["fno"].get("/health")
    assert reply.status == 200
    assert await reply.json() == {"connector": "fno", "ok": True}
