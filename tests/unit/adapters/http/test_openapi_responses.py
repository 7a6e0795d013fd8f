"""The API's real answers match /openapi.json: each response body is validated (JSON Schema
2020-12, as OpenAPI 3.1 uses it) against the schema the document gives for its route,
method and status, so the document cannot drift from the handlers unnoticed."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator
from read_side_fixtures import Feed, flat, held_order, journeys

from streams.adapters.http.openapi import openapi
from streams.services.projection import Projection

Client = TestClient  # type: ignore[type-arg]
SPEC = openapi()

CALLS: list[tuple[str, str, str, dict[str, Any] | None]] = [
    # (method, path as requested, path as documented, JSON body)
    ("GET", "/orders", "/orders", None),
    ("GET", "/orders?status=Completed&limit=2", "/orders", None),
    ("GET", "/orders?status=Bogus", "/orders", None),
    ("GET", "/orders/ORD-000001", "/orders/{order_id}", None),
    ("GET", "/orders/ORD-404", "/orders/{order_id}", None),
    ("GET", "/orders/ORD-000001/history", "/orders/{order_id}/history", None),
    ("GET", "/orders/ORD-404/history", "/orders/{order_id}/history", None),
    ("POST", "/orders/ORD-000001/reprocess", "/orders/{order_id}/reprocess", {}),
    ("POST", "/orders/HELD-1/reprocess", "/orders/{order_id}/reprocess", {"reason": "fixed"}),
    ("GET", "/stats", "/stats", None),
    ("GET", "/healthz", "/healthz", None),
    ("GET", "/errors", "/errors", None),
    ("GET", "/alerts", "/alerts", None),
    ("GET", "/insights", "/insights", None),
    ("GET", "/pauses", "/pauses", None),
]


def _schema(documented: str, method: str, status: int) -> dict[str, Any] | None:
    responses = SPEC["paths"][documented][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {documented} answered {status}, which is not documented"
    content = responses[str(status)].get("content", {}).get("application/json")
    if content is None:
        return None
    return {**content["schema"], "components": SPEC["components"]}


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("method", "path", "documented", "body"), CALLS, ids=[f"{c[0]} {c[1]}" for c in CALLS]
)
async def test_each_answer_matches_the_document(
    client: Client,
    projection: Projection,
    feed: Feed,
    method: str,
    path: str,
    documented: str,
    body: dict[str, Any] | None,
) -> None:
    projection.apply(feed.records(flat([*journeys(2), held_order("HELD-1", failed_step="send")])))

    response = await client.request(method, path, json=body)

    schema = _schema(documented, method, response.status)
    if schema is None:
        return
    if response.content_type != "application/json":
        pytest.fail(f"{method} {path}: documented as JSON, answered {response.content_type}")
    errors = sorted(Draft202012Validator(schema).iter_errors(await response.json()), key=str)
    assert not errors, f"{method} {path} ({response.status}): " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5]
    )
