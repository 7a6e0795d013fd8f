"""/openapi.json is generated from the route table: every route is in it, declared with its
models, and nothing else is; a route accepts exactly the query parameters it documents."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from streams.adapters.http.app import create_app
from streams.adapters.http.openapi import openapi, table
from streams.services.projection import Projection
from streams.shell.health import add_routes as add_shell_routes


def _app(projection: Projection) -> web.Application:
    async def publish(command: object) -> None: ...

    return create_app(projection, publish=publish)  # type: ignore[arg-type]


def test_every_route_is_declared_and_the_document_lists_the_route_table(projection: Projection) -> None:
    app = _app(projection)

    rows = table(app)

    assert [f"{m} {p}" for m, p, route in rows if route is None] == []
    described = {(path, method) for path, item in openapi(app)["paths"].items() for method in item}
    assert described == {(p, m.lower()) for m, p, _ in rows}


def test_the_desk_and_operations_routes_are_there(projection: Projection) -> None:
    paths = openapi(_app(projection))["paths"]

    for path in ("/orders/{order_id}/cancel", "/orders/{order_id}/clone", "/what-if", "/pauses/resume"):
        assert "post" in paths[path], path
    assert "post" in paths["/orders"] and "get" in paths["/orders"]
    edit = paths["/orders/{order_id}/edit"]["post"]
    assert edit["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/EditBody"
    }


def test_every_reference_resolves(projection: Projection) -> None:
    spec = openapi(_app(projection))
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

    walk(spec)
    assert refs
    for ref in refs:
        _, section, name = ref.removeprefix("#/").split("/")
        assert name in spec["components"][section], ref


def test_a_route_the_shell_adds_is_listed_from_its_docstring(projection: Projection) -> None:
    app = _app(projection)
    add_shell_routes(app)

    paths = openapi(app)["paths"]

    assert {"/metrics", "/ready"} <= set(paths)
    assert paths["/metrics"]["get"]["summary"]


def _query_routes(spec: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [
        (path, sorted(p["name"] for p in op["parameters"] if p["in"] == "query"))
        for path, item in spec["paths"].items()
        if "{" not in path and (op := item.get("get")) and "400" in op["responses"]
    ]


@pytest.mark.asyncio
async def test_an_undocumented_parameter_is_refused_naming_the_documented_ones(
    projection: Projection,
) -> None:
    app = _app(projection)
    routes = _query_routes(openapi(app))
    assert ("/orders", ["cursor", "external_ref", "limit", "provider", "reason", "status"]) in routes

    async with TestClient(TestServer(app)) as client:
        for path, names in routes:
            answer = await client.get(path, params={"bogus": "1"})
            known = ", ".join(sorted([*names, "access_token"]))
            assert answer.status == 400, path
            assert (await answer.json())["error"] == f"bogus: unknown parameter (known: {known})", path


@pytest.mark.asyncio
async def test_the_document_is_served(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/openapi.json")
    assert response.status == 200
    assert (await response.json())["openapi"] == "3.1.0"
