"""Every route of the app is described in /openapi.json, and nothing else is."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from streams.adapters.http.app import create_app
from streams.adapters.http.openapi import openapi
from streams.services.projection import Projection


def test_every_route_is_described_and_every_description_is_a_route(projection: Projection) -> None:
    app = create_app(projection)
    routes = {
        (route.resource.canonical, route.method.lower())
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    described = {(path, method) for path, item in openapi()["paths"].items() for method in item}
    assert routes == described


def test_every_reference_resolves() -> None:
    spec = openapi()
    refs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec["paths"])
    walk(spec["components"])
    for ref in refs:
        _, section, name = ref.removeprefix("#/").split("/")
        assert name in spec["components"][section], ref


@pytest.mark.asyncio
async def test_the_document_is_served(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/openapi.json")
    assert response.status == 200
    assert (await response.json())["openapi"].startswith("3.")
