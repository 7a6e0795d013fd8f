"""Query filters and request bodies are validated: a 400 that names the field."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from streams.adapters.http.app import create_app
from streams.services.projection import Projection


async def _published(order_id: str, reason: str) -> str:
    return f"cmd-{order_id}"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=Bogus", "status"),
        ("external_ref=nocolon", "external_ref"),
        ("external_ref=fno:", "external_ref"),
    ],
)
async def test_a_bad_filter_is_a_400_naming_it(projection: Projection, query: str, field: str) -> None:
    async with TestClient(TestServer(create_app(projection))) as client:
        answer = await client.get(f"/orders?{query}")
        assert answer.status == 400
        assert (await answer.json())["error"].startswith(f"{field}:")


@pytest.mark.asyncio
async def test_a_known_status_filter_is_accepted(projection: Projection) -> None:
    async with TestClient(TestServer(create_app(projection))) as client:
        answer = await client.get("/orders?status=Completed&external_ref=bigcommerce:100")
        assert answer.status == 200


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "field"),
    [("[1]", "body"), ("not json", "body"), ('{"reason": 3}', "reason"), ('{"why": "x"}', "why")],
)
async def test_a_bad_reprocess_body_is_a_400_naming_it(projection: Projection, body: str, field: str) -> None:
    async with TestClient(TestServer(create_app(projection, reprocess_order=_published))) as client:
        answer = await client.post("/orders/ANY/reprocess", data=body)
        assert answer.status == 400
        assert (await answer.json())["error"].startswith(f"{field}:")
