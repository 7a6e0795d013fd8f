"""The OpenAPI 3.1 document of an app, generated from its route table and the routes'
declarations (``routes.py``): each route's parameters, request body and answers come from
its pydantic models (``bodies.py``), their JSON schemas shared under components.

A route another package added without a declaration (the process shell's ``/metrics``,
``/health``, ``/ready``) is listed with its handler's docstring and no schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from streams.adapters.http.bodies import ErrorBody
from streams.adapters.http.routes import Answer, Route, declared

JSON = dict[str, Any]
REF = "#/components/schemas/{model}"

_ERROR = Answer("an error; the message says what is wrong", ErrorBody)
_DESCRIPTION = (
    "Orders as the projection of the event topics sees them (current and past state, "
    "history, listing, stats, live events), the order desk's writes and the operator's "
    "routes. Every data route needs 'Authorization: Bearer <token>' when the server has "
    "OMS_API_TOKEN set (access_token=<token> as a parameter also works, for EventSource). "
    'Errors are JSON: {"error": "..."}.'
)


def table(app: web.Application) -> list[tuple[str, str, Route | None]]:
    """(method, path, declaration) of every route of the app's table, HEAD left out."""
    out = []
    for route in app.router.routes():
        resource = route.resource
        if resource is None or route.method == "HEAD":
            continue
        out.append((route.method, resource.canonical, declared(app, route.method, resource.canonical)))
    return out


def openapi(app: web.Application) -> JSON:
    rows = table(app)
    routes = [r for _, _, r in rows if r is not None]
    refs, components = _schemas(routes)
    paths: JSON = {}
    for method, path, route in rows:
        item = _operation(route, refs, components) if route is not None else _undeclared(app, method, path)
        paths.setdefault(path, {})[method.lower()] = item
    for query in {r.query for r in routes if r.query is not None}:
        components.pop(_name(refs[(query, "validation")]), None)  # shown as parameters
    return {
        "openapi": "3.1.0",
        "info": {"title": "kafka-iom API", "version": "1.0.0", "description": _DESCRIPTION},
        "servers": [{"url": "/"}],
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": paths,
    }


Refs = dict[tuple[Any, JsonSchemaMode], JSON]


def _schemas(routes: Iterable[Route]) -> tuple[Refs, JSON]:
    """Every model the routes name, as references into one set of shared schemas."""
    wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {(ErrorBody, "serialization"): None}
    for route in routes:
        for answer in route.answers.values():
            if answer.model is not None:
                wanted[(answer.model, "serialization")] = None
        for model in (route.body, route.query):
            if model is not None:
                wanted[(model, "validation")] = None
        for model in route.mentions:
            wanted[(model, "serialization")] = None
    refs, top = models_json_schema(list(wanted), ref_template=REF)
    components: JSON = top.get("$defs", {})
    return dict(refs), components


def _name(ref: JSON) -> str:
    return str(ref["$ref"]).rsplit("/", 1)[-1]


def _parameters(route: Route, refs: Refs, components: JSON) -> list[JSON]:
    out = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": what}
        for name, what in _path_params(route)
    ]
    if route.query is None:
        return out
    schema = components[_name(refs[(route.query, "validation")])]
    required = set(schema.get("required", ()))
    for name, prop in schema["properties"].items():
        out.append(
            {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": _parameter_schema(prop),
                "description": prop.get("description", ""),
            }
        )
    return out


def _parameter_schema(prop: JSON) -> JSON:
    """A query parameter's schema: a parameter left out is absent, never null."""
    shown = {k: v for k, v in prop.items() if k not in ("title", "description")}
    branches = [b for b in shown.pop("anyOf", ()) if b != {"type": "null"}]
    if shown.get("default", 0) is None:
        del shown["default"]
    return (
        {**branches[0], **shown} if len(branches) == 1 else shown | ({"anyOf": branches} if branches else {})
    )


def _path_params(route: Route) -> list[tuple[str, str]]:
    return [(n, route.path_params.get(n, "")) for n in re.findall(r"{(\w+)}", route.path)]


def _operation(route: Route, refs: Refs, components: JSON) -> JSON:
    answers = dict(route.answers)
    if route.strict_query or route.body is not None:
        answers.setdefault(400, _ERROR)
    if not route.public:
        answers.setdefault(401, _ERROR)
    item: JSON = {
        "summary": route.summary,
        "parameters": _parameters(route, refs, components),
        "responses": {str(status): _response(a, refs) for status, a in sorted(answers.items())},
    }
    if not route.public:
        item["security"] = [{"bearer": []}]
    if route.body is not None:
        item["requestBody"] = {
            "required": route.body_required,
            "content": {"application/json": {"schema": refs[(route.body, "validation")]}},
        }
    return item


def _response(answer: Answer, refs: Refs) -> JSON:
    out: JSON = {"description": answer.description}
    if answer.model is not None:
        out["content"] = {answer.media: {"schema": refs[(answer.model, "serialization")]}}
    elif answer.media != "application/json":
        out["content"] = {answer.media: {"schema": {"type": "string"}}}
    return out


def _undeclared(app: web.Application, method: str, path: str) -> JSON:
    handler = next(
        r.handler for r in app.router.routes() if r.resource is not None and r.resource.canonical == path
    )
    doc = (handler.__doc__ or "").strip().splitlines()
    return {
        "summary": doc[0] if doc else f"{method} {path}",
        "responses": {"200": {"description": "served by the process shell"}},
    }
