"""Routes declared once: the handler, and what it takes and answers, as models.

A ``Route`` names its query parameters (a pydantic model: each field a parameter), its
request body and its answers per status (a pydantic model, or any type pydantic
describes, for a JSON body). ``add_routes`` puts it in the aiohttp route table and keeps
the declaration beside it: the OpenAPI document (``openapi.py``) is generated from the
route table and these declarations, and the API refuses a query parameter its route does
not declare (``unknown_parameter``), so the document lists exactly what is accepted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web
from pydantic import BaseModel

from streams.adapters.http import params

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

TOKEN_PARAMETER = "access_token"
"""The bearer token as a parameter, for EventSource (which cannot send headers)."""


@dataclass(frozen=True)
class Answer:
    """One documented response: ``model`` describes its JSON body (None: no JSON body;
    ``media`` says what it is then)."""

    description: str
    model: type[BaseModel] | None = None
    media: str = "application/json"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    answers: Mapping[int, Answer]
    query: type[BaseModel] | None = None
    """Its query parameters; any other one is refused (400)."""
    body: type[BaseModel] | None = None
    body_required: bool = True
    path_params: Mapping[str, str] = field(default_factory=dict)
    """Path parameter -> what it is."""
    public: bool = False
    """No token needed (pages, assets, health, this document)."""
    strict_query: bool = True
    """False: parameters are not checked (the dashboard's pages read theirs in the browser)."""
    mentions: tuple[type[BaseModel], ...] = ()
    """Models its summary names that no answer carries (a server-sent event's data)."""

    @property
    def key(self) -> tuple[str, str]:
        return self.method.upper(), self.path


ROUTES: web.AppKey[dict[tuple[str, str], Route]] = web.AppKey("routes")


def add_routes(app: web.Application, *routes: Route) -> None:
    """Each route into the route table, its declaration kept for the document and checks."""
    declared = app.setdefault(ROUTES, {})
    for route in routes:
        if route.method.upper() == "GET":
            app.router.add_get(route.path, route.handler)  # and HEAD, as aiohttp does
        else:
            app.router.add_route(route.method, route.path, route.handler)
        declared[route.key] = route


def declared(app: web.Application, method: str, path: str) -> Route | None:
    """The declaration of a route of the table (``path`` as the table spells it)."""
    method = "GET" if method.upper() == "HEAD" else method.upper()
    return app.get(ROUTES, {}).get((method, path))


def route_of(request: web.Request) -> Route | None:
    """The declaration of the route ``request`` matched (None: no route, or an undeclared one)."""
    resource = request.match_info.route.resource
    if resource is None:
        return None
    return declared(request.app, request.method, resource.canonical)


def check_query(request: web.Request, route: Route) -> None:
    """Unknown or repeated parameters are errors (``?staus=x`` must not list everything)."""
    if not route.strict_query:
        return
    known = {*(route.query.model_fields if route.query is not None else ()), TOKEN_PARAMETER}
    params.check_known(request.query, known)
