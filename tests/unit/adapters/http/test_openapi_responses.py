"""The API's real answers match /openapi.json: each response body is validated (JSON Schema
2020-12, as OpenAPI 3.1 uses it) against the schema the document gives for its route,
method and status, so the document cannot drift from the handlers unnoticed. The API runs
with every port wired (the projection, a publisher, the operations engines)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft202012Validator
from read_side_fixtures import Feed, flat, held_order, journeys
from test_api_desk import Published
from test_api_operations import FakeOperations

from streams.adapters.http.app import create_app
from streams.adapters.http.openapi import openapi
from streams.services.projection import Projection

Client = TestClient  # type: ignore[type-arg]
DONE = "ORD-000001"
TAKE = "/alerts/{alert_id}/take"
RECEIVED = "/orders/{order_id}/returns/{rma_id}/received"
LINE = {"line_id": "9", "sku": "TEE", "quantity": 1, "unit_price": "5.00"}
SHIP_TO = {"name": "n", "line1": "l", "city": "c", "postal_code": "1", "country": "US"}

CALLS: list[tuple[str, str, str, dict[str, Any] | None]] = [
    # (method, path as requested, path as documented, JSON body)
    ("GET", "/orders", "/orders", None),
    ("GET", "/orders?status=Completed&limit=2", "/orders", None),
    ("GET", "/orders?status=Bogus", "/orders", None),
    ("GET", f"/orders/{DONE}", "/orders/{order_id}", None),
    ("GET", f"/orders/{DONE}?min_version=99", "/orders/{order_id}", None),
    ("GET", "/orders/ORD-404", "/orders/{order_id}", None),
    ("GET", f"/orders/{DONE}/history", "/orders/{order_id}/history", None),
    ("GET", "/orders/ORD-404/history", "/orders/{order_id}/history", None),
    ("POST", f"/orders/{DONE}/reprocess", "/orders/{order_id}/reprocess", {}),
    ("POST", "/orders/HELD-1/reprocess", "/orders/{order_id}/reprocess", {"reason": "fixed"}),
    ("POST", f"/orders/{DONE}/cancel", "/orders/{order_id}/cancel", {"reason": "late"}),
    ("POST", "/orders/HELD-1/cancel", "/orders/{order_id}/cancel", {"reason": "customer"}),
    ("POST", "/orders/HELD-1/edit", "/orders/{order_id}/edit", {"editor": "e", "reason": "r", "lines": {}}),
    ("POST", f"/orders/{DONE}/returns", "/orders/{order_id}/returns", {"lines": {"1": 1}, "reason": "r"}),
    ("POST", f"/orders/{DONE}/returns/RMA-9/received", RECEIVED, {"provider": "fno", "warehouse": "11"}),
    ("POST", f"/orders/{DONE}/returns/RMA-9/received", RECEIVED, {"provider": "amazon"}),
    ("POST", "/orders/ORD-404/clone", "/orders/{order_id}/clone", {}),
    (
        "POST",
        "/orders",
        "/orders",
        {"customer_id": "C", "currency": "USD", "ship_to": SHIP_TO, "lines": [LINE]},
    ),
    ("POST", "/orders", "/orders", {"customer_id": "C"}),
    ("GET", "/stats", "/stats", None),
    ("GET", "/healthz", "/healthz", None),
    ("GET", "/errors", "/errors", None),
    ("GET", "/errors?category=nonsense", "/errors", None),
    ("POST", "/errors/reprocess", "/errors/reprocess", {"error_ids": ["inbound:a"]}),
    ("POST", "/errors/reprocess", "/errors/reprocess", {"error_ids": ["inbound:b"]}),
    ("GET", "/alerts", "/alerts", None),
    ("POST", "/alerts/dlq:dead-letters/take", TAKE, None),
    ("POST", "/alerts/nope/take", TAKE, None),
    ("GET", "/insights", "/insights", None),
    ("GET", "/pauses", "/pauses", None),
    ("POST", "/pauses", "/pauses", {"kind": "provider", "name": "fno", "reason": "outage"}),
    ("POST", "/pauses/resume", "/pauses/resume", {"kind": "provider", "name": "sap"}),
    ("GET", "/what-if", "/what-if", None),
    ("POST", "/what-if", "/what-if", {"flow": "name: x", "since": "2026-01-01T00:00:00Z"}),
    ("POST", "/what-if", "/what-if", {"flow": "name: x", "since": "2030-01-01T00:00:00Z"}),
]


@pytest_asyncio.fixture
async def api(projection: Projection, feed: Feed) -> AsyncIterator[tuple[Client, dict[str, Any]]]:
    async def reprocess(order_id: str, reason: str) -> str:
        return f"reprocess/{order_id}"

    projection.apply(feed.records(flat([*journeys(2), held_order("HELD-1", failed_step="send")])))
    app = create_app(projection, publish=Published(), reprocess_order=reprocess, operations=FakeOperations())
    async with TestClient(TestServer(app)) as client:
        yield client, openapi(app)


def _schema(spec: dict[str, Any], documented: str, method: str, status: int) -> dict[str, Any] | None:
    responses = spec["paths"][documented][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {documented} answered {status}, which is not documented"
    content = responses[str(status)].get("content", {}).get("application/json")
    if content is None:
        return None
    return {**content["schema"], "components": spec["components"]}


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("method", "path", "documented", "body"), CALLS, ids=[f"{c[0]} {c[1]}" for c in CALLS]
)
async def test_each_answer_matches_the_document(
    api: tuple[Client, dict[str, Any]], method: str, path: str, documented: str, body: dict[str, Any] | None
) -> None:
    client, spec = api

    response = await client.request(method, path, json=body)

    schema = _schema(spec, documented, method, response.status)
    if schema is None:
        return
    if response.content_type != "application/json":
        pytest.fail(f"{method} {path}: documented as JSON, answered {response.content_type}")
    errors = sorted(Draft202012Validator(schema).iter_errors(await response.json()), key=str)
    assert not errors, f"{method} {path} ({response.status}): " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5]
    )


@pytest.mark.asyncio
async def test_the_calls_cover_every_documented_json_route(api: tuple[Client, dict[str, Any]]) -> None:
    _, spec = api
    called = {(m.lower(), d) for m, _, d, _ in CALLS}
    json_routes = {
        (method, path)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if any("application/json" in r.get("content", {}) for s, r in op["responses"].items() if s < "400")
        and path not in ("/openapi.json",)
    }
    assert json_routes - called == set()
