"""The order desk's write routes: cancel, edit, return, receive, create, clone.

Each route reads the order from the read model, asks the domain whether the request
stands (the same pure rules the writer applies: ``cancellation``, ``edits``, ``returns``),
and answers at once: 404 for an unknown order, 409 when the order's state forbids it
(a picked line, a completed order), 422 when the request asks for more than the order
allows (more than shipped, past the return window) or is malformed, 400 for a body that
is not JSON. A request that stands is published as a command to ``order.commands`` and
answered 202 with the command's id; the writer decides it, authoritatively, against the
order as it is then (the projection may be a moment behind), and ``GET
/orders/{id}?min_version=`` shows the result.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from streams.adapters.desk_requests import (
    CancelBody,
    CloneBody,
    CreateBody,
    EditBody,
    Plan,
    ReceiptBody,
    ReturnBody,
    clone_id,
    plan_cancel,
    plan_clone,
    plan_create,
    plan_edit,
    plan_receipt,
    plan_return,
)
from streams.adapters.http.bodies import Accepted, ErrorBody
from streams.adapters.http.read_model import ReadModel
from streams.adapters.http.representation import error, respond
from streams.adapters.http.routes import Answer, Handler, Route, add_routes
from streams.domain.commands import Command
from streams.domain.errors import DomainError, InvalidRequest, UnknownOrder
from streams.domain.order import OrderState
from streams.domain.order_handling import DEFAULT_HANDLING, OrderHandling

Publish = Callable[[Command], Awaitable[None]]
"""Puts a command on ``order.commands``."""

PUBLISH: web.AppKey[Publish | None] = web.AppKey("desk_publish")
HANDLING: web.AppKey[OrderHandling] = web.AppKey("desk_handling")
_READ_MODEL: web.AppKey[ReadModel] = web.AppKey("desk_read_model")
SOURCE = "oms-api"

B = TypeVar("B", bound=BaseModel)


def _status_of(exc: DomainError) -> int:
    if isinstance(exc, UnknownOrder):
        return 404
    return 422 if isinstance(exc, InvalidRequest) else 409


async def _body(request: web.Request, model: type[B]) -> B:
    """The JSON body as ``model``; 400 if it is no JSON, 422 naming every wrong field."""
    try:
        data: Any = await request.json() if request.can_read_body else {}
    except json.JSONDecodeError as exc:
        raise web.HTTPBadRequest(text=f"the body is not JSON: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        wrong = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
        raise web.HTTPUnprocessableEntity(text=wrong) from None


def _order(request: web.Request) -> OrderState:
    order_id = request.match_info["order_id"]
    state = request.app[_READ_MODEL].order(order_id)
    if state is None:
        raise web.HTTPNotFound(text=f"order {order_id} not found")
    return state


async def _accept(request: web.Request, plan: Plan) -> web.Response:
    command, problem = plan
    if problem is not None:
        return error(_status_of(problem), str(problem))
    publish = request.app[PUBLISH]
    if publish is None:
        return error(501, "writes are not available: no command publisher is wired into this API")
    await publish(command)
    env = command.envelope
    return respond(Accepted(order_id=env.order_id, command_id=env.command_id), 202)


async def cancel(request: web.Request) -> web.Response:
    state = _order(request)
    return await _accept(request, plan_cancel(state, await _body(request, CancelBody), SOURCE))


async def edit(request: web.Request) -> web.Response:
    state = _order(request)
    return await _accept(request, plan_edit(state, await _body(request, EditBody), SOURCE))


async def request_return(request: web.Request) -> web.Response:
    state = _order(request)
    body = await _body(request, ReturnBody)
    return await _accept(request, plan_return(state, body, SOURCE, request.app[HANDLING]))


async def receive_return(request: web.Request) -> web.Response:
    state = _order(request)
    body = await _body(request, ReceiptBody)
    return await _accept(request, plan_receipt(state, request.match_info["rma_id"], body, SOURCE))


async def create_order(request: web.Request) -> web.Response:
    body = await _body(request, CreateBody)
    existing = request.app[_READ_MODEL].order(body.order_id) if body.order_id else None
    return await _accept(request, plan_create(body, existing, SOURCE))


async def clone_order(request: web.Request) -> web.Response:
    state = _order(request)
    body = await _body(request, CloneBody)
    new_id = clone_id(state, body)
    existing = request.app[_READ_MODEL].order(new_id)
    return await _accept(request, plan_clone(state, body, new_id, existing, SOURCE))


ACCEPTED = Answer("the command was published; the writer decides it", Accepted)
_ERROR = Answer("an error; the message says what is wrong", ErrorBody)
_REFUSALS = {409: _ERROR, 422: _ERROR, 501: _ERROR}
_ORDER_ID = {"order_id": "The order id, e.g. ORD-000001."}


def _write(path: str, handler: Handler, summary: str, body: type[BaseModel], **more: Any) -> Route:
    on_order = "{order_id}" in path
    answers = {202: ACCEPTED, **_REFUSALS, **({404: _ERROR} if on_order else {})}
    params = {**(_ORDER_ID if on_order else {}), **more.pop("path_params", {})}
    return Route("POST", path, handler, summary, answers, body=body, path_params=params, **more)


DESK_ROUTES = (
    _write(
        "/orders",
        create_order,
        "Enter a manual order (is_manual; sales origin, customer reference)",
        CreateBody,
    ),
    _write(
        "/orders/{order_id}/cancel",
        cancel,
        "Cancel the order, or the lines named; 409 once a line is picked or shipped",
        CancelBody,
    ),
    _write(
        "/orders/{order_id}/edit",
        edit,
        "Edit before fulfillment: quantities, lines added or removed, ship-to; 409 names read-only lines",
        EditBody,
    ),
    _write(
        "/orders/{order_id}/returns",
        request_return,
        "Open a return (RMA) against shipped lines; 422 beyond what shipped or past the window",
        ReturnBody,
    ),
    _write(
        "/orders/{order_id}/returns/{rma_id}/received",
        receive_return,
        "Record that a return's goods arrived at a warehouse",
        ReceiptBody,
        path_params={"rma_id": "The return's RMA id."},
    ),
    _write(
        "/orders/{order_id}/clone", clone_order, "A new order with this order's customer and lines", CloneBody
    ),
)


def add_desk_routes(
    app: web.Application,
    read_model: ReadModel,
    publish: Publish | None,
    handling: OrderHandling = DEFAULT_HANDLING,
) -> None:
    """The write routes on ``app``; without ``publish`` they answer 501 (read-only API)."""
    app[_READ_MODEL] = read_model
    app[PUBLISH] = publish
    app[HANDLING] = handling
    add_routes(app, *DESK_ROUTES)
