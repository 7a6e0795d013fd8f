"""Bad requests get a 400 that names what is wrong; tokens guard the data routes."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer
from read_side_fixtures import Feed, flat, journeys

from streams.adapters.http.app import create_app
from streams.services.projection import Projection

Client = TestClient  # type: ignore[type-arg]


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/orders/ORD-000001?as_of=yesterday", "as_of: not an ISO-8601 time: 'yesterday'"),
        ("/orders/ORD-000001?min_version=two", "min_version: not an integer: 'two'"),
        ("/orders/ORD-000001?min_version=0", "min_version: 0 is out of range [1, 2147483648]"),
        ("/orders/ORD-000001?min_version=2&wait=31", "wait: 31 is out of range [0, 30] seconds"),
        ("/orders/ORD-000001?min_version=2&wait=soon", "wait: not a number of seconds: 'soon'"),
        ("/orders/ORD-000001?wait=1", "wait: only with min_version (wait for which version?)"),
        (
            "/orders/ORD-000001?as_of=2026-11-28T09:00:00Z&min_version=1",
            "as_of: cannot be combined with min_version or wait",
        ),
        ("/orders?limit=0", "limit: 0 is out of range [1, 500]"),
        ("/orders?limit=501", "limit: 501 is out of range [1, 500]"),
        ("/orders?status=", "status: empty; leave the parameter out instead"),
        ("/orders?status=New&status=Completed", "status: given more than once"),
        ("/orders?cursor=not-a-cursor", "cursor: not a cursor this API issued: 'not-a-cursor'"),
        (
            "/orders?staus=New",
            "staus: unknown parameter (known: access_token, cursor, external_ref, limit, "
            "provider, reason, status)",
        ),
        ("/events/stream?stats=maybe", "stats: not a boolean (true/false): 'maybe'"),
    ],
)
@pytest.mark.asyncio
async def test_a_bad_parameter_is_a_400_naming_it(client: Client, path: str, error: str) -> None:
    response = await client.get(path)
    assert response.status == 400
    assert await response.json() == {"error": error}


@pytest.mark.asyncio
async def test_a_cursor_only_continues_the_listing_it_came_from(
    client: Client, projection: Projection, feed: Feed
) -> None:
    projection.apply(feed.records(flat(journeys(3))))
    page = await (await client.get("/orders?status=Completed&limit=1")).json()

    response = await client.get(f"/orders?status=New&limit=1&cursor={page['next_cursor']}")

    assert response.status == 400
    assert (await response.json())["error"].startswith("cursor: issued for other filters")


@pytest.mark.asyncio
async def test_an_unknown_route_answers_in_json(client: Client) -> None:
    response = await client.get("/nowhere")
    assert response.status == 404
    assert await response.json() == {"error": "Not Found: GET /nowhere; see /openapi.json"}


@pytest.mark.asyncio
async def test_with_a_token_configured_data_needs_the_bearer_token(
    projection: Projection, feed: Feed
) -> None:
    projection.apply(feed.records(flat(journeys(1))))
    app = create_app(projection, token="s3cret")
    async with TestClient(TestServer(app)) as client:
        for path in ("/orders/ORD-000001", "/orders", "/stats", "/orders/ORD-000001/history"):
            refused = await client.get(path)
            assert refused.status == 401, path
            assert "bearer token" in (await refused.json())["error"]
            assert refused.headers["WWW-Authenticate"].startswith("Bearer")
            wrong = await client.get(path, headers={"Authorization": "Bearer nope"})
            assert wrong.status == 401
            right = await client.get(path, headers={"Authorization": "Bearer s3cret"})
            assert right.status == 200, path
        assert (await client.get("/orders/ORD-000001?access_token=s3cret")).status == 200
        assert (await client.post("/orders/ORD-000001/reprocess")).status == 401
        for public in ("/openapi.json", "/healthz", "/dashboard/", "/dashboard/orders/X"):
            assert (await client.get(public)).status == 200, public


@pytest.mark.asyncio
async def test_the_dashboard_is_served_with_its_assets(client: Client) -> None:
    page = await client.get("/dashboard/orders/ORD-000001")
    assert page.status == 200
    html = await page.text()
    assert "/dashboard/assets/dashboard.js" in html and "/dashboard/assets/dashboard.css" in html
    for name, kind in (("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")):
        asset = await client.get(f"/dashboard/assets/{name}")
        assert asset.status == 200 and asset.content_type == kind
    assert (await client.get("/dashboard/assets/..%2Fapp.py")).status == 404
    root = await client.get("/", allow_redirects=False)
    assert (root.status, root.headers["Location"]) == (302, "/dashboard/")
