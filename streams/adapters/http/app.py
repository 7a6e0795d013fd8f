"""The read side's HTTP API and the operations dashboard, on aiohttp.

``create_app`` takes a ``ReadModel`` (the projection, wired by ``oms api``) and serves:
orders and their history (with time travel and read-your-writes), listing with filters
and cursors, stats, a server-sent event stream, a reprocess hook, the OpenAPI document
(``/openapi.json``, generated from the routes declared here, see ``routes.py``) and the
dashboard's static pages.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from streams.adapters.http import bodies, params, representation
from streams.adapters.http.bodies import OrderView
from streams.adapters.http.desk import ACCEPTED, Publish, add_desk_routes
from streams.adapters.http.live import LiveHub
from streams.adapters.http.openapi import openapi
from streams.adapters.http.operations import OperationsPort, add_operations_routes
from streams.adapters.http.read_model import OrderQuery, ReadModel
from streams.adapters.http.representation import error, respond
from streams.adapters.http.routes import Answer, Route, add_routes, check_query, route_of
from streams.domain.order import OrderState
from streams.domain.order_handling import DEFAULT_HANDLING, OrderHandling
from streams.domain.transitions import STATUSES

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
Reprocess = Callable[[str, str], Awaitable[str]]
"""Publishes a reprocess command for an order, with its reason; returns the command's id."""
DEFAULT_REPROCESS_REASON = "requested through the read-side API"
MAX_REASON = 500

MAX_WAIT = 30.0
MAX_LIMIT = 500
DEFAULT_LIMIT = 50
SHELL_PUBLIC = frozenset({"/metrics", "/health", "/ready"})
"""The process shell's routes on the same app (not declared here): no token needed. A
declared route says so itself (``Route.public``: the pages, assets, health, the spec)."""

_READ_MODEL = web.AppKey("read_model", ReadModel)
_HUB = web.AppKey("hub", LiveHub)
_REPROCESS: web.AppKey[Reprocess | None] = web.AppKey("reprocess")
_TOKEN: web.AppKey[str | None] = web.AppKey("token")
_STATS_INTERVAL = web.AppKey("stats_interval", float)

_ASSETS = {
    "dashboard.css": "text/css",
    "dashboard.js": "text/javascript",
    "favicon.svg": "image/svg+xml",
    "operations.js": "text/javascript",
    "chart.umd.min.js": "text/javascript",
    "chart.js-LICENSE.md": "text/markdown",
}


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every failure answers in JSON: ``{"error": "what is wrong"}``."""
    try:
        return await handler(request)
    except params.BadParameter as exc:
        return error(400, str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.text == f"{exc.status}: {exc.reason}":  # aiohttp's own: no route, no method
            return error(
                exc.status,
                f"{exc.reason}: {request.method} {request.path}; see /openapi.json",
            )
        return error(exc.status, exc.text or exc.reason)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path_qs)
        return error(500, "internal error; see the API's log")


def _authorized(request: web.Request, token: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        # EventSource cannot send headers: the dashboard passes the token as a parameter.
        given = request.query.get("access_token", "")
    return bool(given) and hmac.compare_digest(given.strip().encode(), token.encode())


@web.middleware
async def _auth(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """The token (when the API has one), then the query parameters the route declares."""
    token = request.app[_TOKEN]
    route = route_of(request)
    public = route.public if route is not None else request.path in SHELL_PUBLIC
    if token is not None and not public and not _authorized(request, token):
        response = error(401, "missing or wrong bearer token (send 'Authorization: Bearer <token>')")
        response.headers["WWW-Authenticate"] = 'Bearer realm="oms"'
        return response
    if route is not None:
        check_query(request, route)
    return await handler(request)


# -- orders


async def get_order(request: web.Request) -> web.Response:
    q = request.query
    order_id = request.match_info["order_id"]
    read_model = request.app[_READ_MODEL]
    as_of = params.iso_time(q, "as_of")
    min_version = params.integer(q, "min_version", 1, 2**31)
    wait = params.seconds(q, "wait", MAX_WAIT)
    if as_of is not None and (min_version is not None or wait is not None):
        raise params.BadParameter("as_of: cannot be combined with min_version or wait")
    if wait is not None and min_version is None:
        raise params.BadParameter("wait: only with min_version (wait for which version?)")
    if as_of is not None:
        past = read_model.order_as_of(order_id, as_of)
        if past is None:
            if read_model.order(order_id) is None:
                return error(404, f"order {order_id} not found")
            return error(404, f"order {order_id} did not exist yet at {as_of.isoformat()}")
        return respond(OrderView.of(past, as_of))
    if min_version is None:
        state = read_model.order(order_id)
        if state is None:
            return error(404, f"order {order_id} not found")
        return respond(OrderView.of(state))
    if wait:
        state = await request.app[_HUB].wait_for_version(order_id, min_version, wait)
    else:
        state = read_model.order(order_id)
    have = state.version if state is not None else 0
    if state is not None and have >= min_version:
        return respond(OrderView.of(state))
    seen = f"is at version {have}" if state is not None else "does not exist yet"
    if wait:
        return error(
            504,
            f"order {order_id} {seen} in the projection; version {min_version} did not "
            f"arrive within {wait:g}s",
            version=have,
        )
    return error(
        409,
        f"order {order_id} {seen} in the projection, not yet version {min_version}; "
        "retry, or add wait=<seconds> to wait for it",
        version=have,
    )


async def get_history(request: web.Request) -> web.Response:
    order_id = request.match_info["order_id"]
    events = request.app[_READ_MODEL].history(order_id)
    if not events:
        return error(404, f"order {order_id} not found")
    return respond(
        bodies.History(
            order_id=order_id,
            version=events[-1].event.envelope.seq,
            events=[representation.recorded_event(e) for e in events],
        )
    )


async def list_orders(request: web.Request) -> web.Response:
    filters = ("status", "reason", "provider", "external_ref")
    q = request.query
    given = {name: params.text(q, name) for name in filters}
    if given["status"] is not None and given["status"] not in STATUSES:
        raise params.BadParameter(
            f"status: unknown status {given['status']!r} (known: {', '.join(STATUSES)})"
        )
    system, colon, ref = (given["external_ref"] or "x:x").partition(":")
    if not (colon and system.strip() and ref.strip()):
        raise params.BadParameter(
            f"external_ref: must be SYSTEM:REF, e.g. bigcommerce:100 (got {given['external_ref']!r})"
        )
    limit = params.integer(q, "limit", 1, MAX_LIMIT) or DEFAULT_LIMIT
    after = params.decode_cursor(q, "cursor", given)
    page = request.app[_READ_MODEL].orders(
        OrderQuery(
            status=given["status"],
            reason=given["reason"],
            provider=given["provider"],
            external_ref=given["external_ref"],
            limit=limit,
            after=after,
        )
    )
    after = page.next_after
    return respond(
        bodies.OrderPage(
            orders=[bodies.OrderSummary.of(s) for s in page.orders],
            next_cursor=params.encode_cursor(after, given) if after is not None else None,
        )
    )


async def _reprocess_reason(request: web.Request) -> str:
    """The body is empty or ``{"reason": "..."}``; anything else is a 400 naming what is wrong."""
    raw = await request.text()
    if not raw.strip():
        return DEFAULT_REPROCESS_REASON
    try:
        body = json.loads(raw)
    except ValueError:
        raise params.BadParameter('body: not JSON; send nothing or {"reason": "..."}') from None
    if not isinstance(body, dict):
        raise params.BadParameter('body: must be a JSON object like {"reason": "..."}')
    unknown = sorted(set(body) - {"reason"})
    if unknown:
        raise params.BadParameter(f"{unknown[0]}: unknown field (known: reason)")
    reason = body.get("reason", DEFAULT_REPROCESS_REASON)
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        raise params.BadParameter(f"reason: must be a non-empty string of at most {MAX_REASON} characters")
    return reason.strip()


def reprocess_refusal(order_id: str, state: OrderState | None) -> tuple[int, str] | None:
    """Why a reprocess of this order is refused, as an HTTP status and message (``None``: it
    may go ahead). The API and ``oms reprocess`` both ask this, so they answer alike."""
    if state is None:
        return 404, f"order {order_id} not found"
    if state.failed_step is None:
        # The writer would refuse it too; say so now rather than publish a doomed command.
        return 409, (
            f"order {order_id} has no failed step to reprocess from "
            f"(it is {state.status} / {state.status_reason})"
        )
    return None


async def reprocess(request: web.Request) -> web.Response:
    order_id = request.match_info["order_id"]
    publish = request.app[_REPROCESS]
    if publish is None:
        return error(
            501,
            "reprocessing is not available yet: no reprocess command is wired into this API",
        )
    reason = await _reprocess_reason(request)
    refused = reprocess_refusal(order_id, request.app[_READ_MODEL].order(order_id))
    if refused is not None:
        return error(*refused)
    command_id = await publish(order_id, reason)
    return respond(bodies.Accepted(order_id=order_id, command_id=command_id), 202)


# -- stats and live events


async def get_stats(request: web.Request) -> web.Response:
    stats = request.app[_READ_MODEL].stats()
    return respond(representation.stats(stats, live_streams=request.app[_HUB].streams))


async def healthz(request: web.Request) -> web.Response:
    stats = request.app[_READ_MODEL].stats()
    return respond(bodies.Health(caught_up=stats.caught_up))


def _sse(event: str, data: object, event_id: str | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def event_stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: ``change`` for each new event, ``stats`` every second (unless
    ``stats=false``), ``lagged`` when this client fell behind and events were dropped."""
    order_id = params.text(request.query, "order_id")
    with_stats = params.boolean(request.query, "stats", default=True)
    hub = request.app[_HUB]
    interval = request.app[_STATS_INTERVAL]
    read_model = request.app[_READ_MODEL]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    stream = hub.open(order_id)
    loop = asyncio.get_running_loop()
    try:
        await response.write(b"retry: 2000\n\n")
        next_stats = loop.time()
        while not stream.closed:
            if with_stats and loop.time() >= next_stats:
                data = representation.stats(read_model.stats())
                await response.write(_sse("stats", data.model_dump(mode="json")))
                next_stats = loop.time() + interval
            timeout = max(0.0, next_stats - loop.time()) if with_stats else 15.0
            try:
                await asyncio.wait_for(stream.wake.wait(), timeout)
            except TimeoutError:
                if not with_stats:
                    await response.write(b": keep-alive\n\n")
                continue
            changes, dropped = stream.take()
            if dropped:
                await response.write(_sse("lagged", {"dropped": dropped}))
            if changes:
                body = b"".join(
                    _sse("change", representation.change(c), f"{c.order_id}:{c.seq}") for c in changes
                )
                await response.write(body)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.close(stream)
    return response


# -- the spec and the dashboard


async def get_openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi(request.app))


async def root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/dashboard/")


async def dashboard(request: web.Request) -> web.FileResponse:
    """The dashboard is one page; its script routes ``/dashboard/orders/<id>`` itself."""
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def asset(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"]
    if name not in _ASSETS:
        raise web.HTTPNotFound(text=f"no asset {name!r}")
    return web.FileResponse(
        STATIC / name, headers={"Content-Type": _ASSETS[name], "Cache-Control": "no-cache"}
    )


_ERROR = Answer("an error; the message says what is wrong", bodies.ErrorBody)
_ORDER_ID = {"order_id": "The order id, e.g. ORD-000001."}
_HTML = Answer("the dashboard page", media="text/html")

_ORDER_ROUTES = (
    Route(
        "GET",
        "/orders",
        list_orders,
        "List orders by order id, with filters and cursor paging",
        {200: Answer("a page", bodies.OrderPage)},
        query=bodies.OrderListQuery,
    ),
    Route(
        "GET",
        "/orders/{order_id}",
        get_order,
        "An order's current state, its state at a past time, or (read-your-writes) its state "
        "once it reaches a version",
        {200: Answer("the order", OrderView), 404: _ERROR, 409: _ERROR, 504: _ERROR},
        query=bodies.OrderQuery,
        path_params=_ORDER_ID,
    ),
    Route(
        "GET",
        "/orders/{order_id}/history",
        get_history,
        "Every event of the order in seq order, generic over event types",
        {200: Answer("the history", bodies.History), 404: _ERROR},
        path_params=_ORDER_ID,
    ),
    Route(
        "POST",
        "/orders/{order_id}/reprocess",
        reprocess,
        "Ask the writer to reprocess the order from its failed step (publishes ReprocessOrder; "
        "409 when no step failed, 501 when not wired)",
        {202: ACCEPTED, 404: _ERROR, 409: _ERROR, 501: _ERROR},
        body=bodies.ReprocessRequest,
        body_required=False,
        path_params=_ORDER_ID,
    ),
)

_READ_ROUTES = (
    Route(
        "GET",
        "/stats",
        get_stats,
        "Counts by status and reason, throughput, orders on hold, provider activity",
        {200: Answer("the stats", bodies.StatsWithStreams)},
    ),
    Route(
        "GET",
        "/events/stream",
        event_stream,
        "Server-sent events: 'change' per new event (data: Change), 'stats' every second (data: "
        "Stats), 'lagged' when events were dropped for a slow client (data: {dropped})",
        {200: Answer("an endless event stream", media="text/event-stream")},
        query=bodies.StreamQuery,
        mentions=(bodies.Change, bodies.Stats),
    ),
    Route(
        "GET",
        "/healthz",
        healthz,
        "Liveness, and whether the projection has read to the end",
        {200: Answer("up", bodies.Health)},
        public=True,
    ),
    Route(
        "GET",
        "/openapi.json",
        get_openapi,
        "This document, generated from the route table",
        {200: Answer("OpenAPI 3.1")},
        public=True,
        strict_query=False,
    ),
    Route(
        "GET",
        "/",
        root,
        "Redirects to the dashboard",
        {302: Answer("to /dashboard/")},
        public=True,
        strict_query=False,
    ),
    Route(
        "GET",
        "/dashboard/",
        dashboard,
        "The operations dashboard",
        {200: _HTML},
        public=True,
        strict_query=False,
    ),
    Route(
        "GET",
        "/dashboard/orders/{order_id}",
        dashboard,
        "The dashboard's order page: state and journey timeline",
        {200: _HTML},
        path_params=_ORDER_ID,
        public=True,
        strict_query=False,
    ),
    Route(
        "GET",
        "/dashboard/assets/{name}",
        asset,
        "The dashboard's script, styles and icon",
        {200: Answer("the file", media="application/octet-stream"), 404: _ERROR},
        path_params={"name": "file name"},
        public=True,
        strict_query=False,
    ),
)


def create_app(
    read_model: ReadModel,
    *,
    token: str | None = None,
    reprocess_order: Reprocess | None = None,
    stats_interval: float = 1.0,
    publish: Publish | None = None,
    handling: OrderHandling = DEFAULT_HANDLING,
    operations: OperationsPort | None = None,
) -> web.Application:
    """The API over ``read_model``; ``token`` requires ``Authorization: Bearer <token>``
    on every data route; ``reprocess_order`` backs ``POST /orders/{id}/reprocess`` (501
    when None); ``publish`` backs the order desk's write routes (``desk.py``; 501 when
    None), which check returns against ``handling``."""
    app = web.Application(middlewares=[_errors, _auth])
    app[_READ_MODEL] = read_model
    app[_HUB] = LiveHub(read_model)
    app[_REPROCESS] = reprocess_order
    app[_TOKEN] = token or None
    app[_STATS_INTERVAL] = stats_interval

    async def start_hub(app: web.Application) -> None:
        app[_HUB].start()

    async def stop_hub(app: web.Application) -> None:
        app[_HUB].stop()

    app.on_startup.append(start_hub)
    app.on_shutdown.append(stop_hub)
    add_routes(app, *_ORDER_ROUTES)
    add_desk_routes(app, read_model, publish, handling)
    add_routes(app, *_READ_ROUTES)
    add_operations_routes(app, operations)
    return app
