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
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from streams.adapters.http.read_model import ReadModel
from streams.domain import cancellation, edits, returns
from streams.domain.commands import (
    CancelOrder,
    CancelOrderLines,
    Command,
    CommandEnvelope,
    CreateOrder,
    EditOrder,
    RecordReturnReceived,
    RequestReturn,
)
from streams.domain.errors import DomainError, InvalidRequest, UnknownOrder
from streams.domain.manual import clone
from streams.domain.order import OrderState, ReturnStatus
from streams.domain.order_handling import DEFAULT_HANDLING, OrderHandling
from streams.domain.values import Address, LineQuantity, OrderLine

Publish = Callable[[Command], Awaitable[None]]
"""Puts a command on ``order.commands``."""

PUBLISH: web.AppKey[Publish | None] = web.AppKey("desk_publish")
HANDLING: web.AppKey[OrderHandling] = web.AppKey("desk_handling")
_READ_MODEL: web.AppKey[ReadModel] = web.AppKey("desk_read_model")
SOURCE = "oms-api"

B = TypeVar("B", bound=BaseModel)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CancelBody(_Body):
    reason: str = Field(min_length=1)
    lines: list[str] | None = None
    """Line ids to cancel; none: the whole order."""
    requested_by: str = "api"


class EditBody(_Body):
    editor: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    quantities: dict[str, int] = Field(default_factory=dict)
    """Line id -> new quantity."""
    added_lines: list[OrderLine] = Field(default_factory=list)
    removed_lines: list[str] = Field(default_factory=list)
    ship_to: Address | None = None


class ReturnBody(_Body):
    rma_id: str | None = None
    lines: dict[str, int] = Field(min_length=1)
    """Line id -> units returned."""
    reason: str = Field(min_length=1)
    replacement: bool = False
    source: str = "api"
    requested_by: str = "api"


class ReceiptBody(_Body):
    provider: str = Field(min_length=1)
    warehouse: str | None = None
    site: str | None = None


class CreateBody(_Body):
    order_id: str | None = None
    channel: str = Field(default=cancellation.INTERNAL_CHANNEL, min_length=1)
    customer_id: str = Field(min_length=1)
    currency: str = "USD"
    ship_to: Address
    lines: list[OrderLine] = Field(min_length=1)
    attributes: dict[str, str] = Field(default_factory=dict)
    company: str | None = None
    invoice_customer: str | None = None
    sales_origin: str | None = None
    customer_reference: str | None = None


class CloneBody(_Body):
    order_id: str | None = None
    customer_reference: str | None = None


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


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


def _envelope(order_id: str, kind: str) -> CommandEnvelope:
    return CommandEnvelope(
        command_id=f"api-{kind}-{uuid.uuid4()}",
        order_id=order_id,
        issued_at=datetime.now(UTC),
        correlation_id=f"api-{kind}/{order_id}",
        source=SOURCE,
    )


def _order(request: web.Request) -> OrderState:
    order_id = request.match_info["order_id"]
    state = request.app[_READ_MODEL].order(order_id)
    if state is None:
        raise web.HTTPNotFound(text=f"order {order_id} not found")
    return state


async def _accept(request: web.Request, command: Command, problem: DomainError | None) -> web.Response:
    if problem is not None:
        return _error(_status_of(problem), str(problem))
    publish = request.app[PUBLISH]
    if publish is None:
        return _error(501, "writes are not available: no command publisher is wired into this API")
    await publish(command)
    env = command.envelope
    return web.json_response(
        {"order_id": env.order_id, "command_id": env.command_id, "status": "accepted"}, status=202
    )


async def cancel(request: web.Request) -> web.Response:
    state = _order(request)
    body = await _body(request, CancelBody)
    env = _envelope(state.order_id, "cancel")
    command: Command
    if body.lines is None:
        command = CancelOrder(envelope=env, reason=body.reason, requested_by=body.requested_by)
    else:
        ids = tuple(body.lines)
        command = CancelOrderLines(
            envelope=env, line_ids=ids, reason=body.reason, requested_by=body.requested_by
        )
    return await _accept(request, command, cancellation.refusal(state, body.lines))


async def edit(request: web.Request) -> web.Response:
    state = _order(request)
    body = await _body(request, EditBody)
    command = EditOrder(
        envelope=_envelope(state.order_id, "edit"),
        editor=body.editor,
        reason=body.reason,
        quantities=tuple(LineQuantity(line_id=k, quantity=v) for k, v in body.quantities.items()),
        added_lines=tuple(body.added_lines),
        removed_lines=tuple(body.removed_lines),
        ship_to=body.ship_to,
    )
    return await _accept(request, command, edits.refusal(state, command))


async def request_return(request: web.Request) -> web.Response:
    state = _order(request)
    body = await _body(request, ReturnBody)
    command = RequestReturn(
        envelope=_envelope(state.order_id, "return"),
        rma_id=body.rma_id or f"RMA-{state.order_id}-{len(state.returns) + 1}",
        lines=tuple(LineQuantity(line_id=k, quantity=v) for k, v in body.lines.items()),
        reason=body.reason,
        return_source=body.source,
        requested_by=body.requested_by,
        replacement=body.replacement,
    )
    return await _accept(request, command, returns.refusal(state, command, request.app[HANDLING]))


async def receive_return(request: web.Request) -> web.Response:
    state = _order(request)
    body = await _body(request, ReceiptBody)
    rma = request.match_info["rma_id"]
    command = RecordReturnReceived(
        envelope=_envelope(state.order_id, "return-received"),
        rma_id=rma,
        provider=body.provider,
        warehouse=body.warehouse,
        site=body.site,
    )
    problem = None
    try:
        returns.open_return(state, rma, ReturnStatus.REQUESTED)
    except DomainError as exc:
        problem = exc
    return await _accept(request, command, problem)


async def create_order(request: web.Request) -> web.Response:
    body = await _body(request, CreateBody)
    order_id = body.order_id or f"MAN-{uuid.uuid4().hex[:10].upper()}"
    if request.app[_READ_MODEL].order(order_id) is not None:
        return _error(409, f"order {order_id} already exists")
    fields = body.model_dump(exclude={"order_id", "ship_to", "lines"})
    command = CreateOrder(
        envelope=_envelope(order_id, "create"),
        ship_to=body.ship_to,
        lines=tuple(body.lines),
        is_manual=True,
        **fields,
    )
    ids = [x.line_id for x in command.lines]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    problem = InvalidRequest(order_id, f"duplicate line ids {dupes}") if dupes else None
    return await _accept(request, command, problem)


async def clone_order(request: web.Request) -> web.Response:
    state = _order(request)
    body = await _body(request, CloneBody)
    order_id = body.order_id or f"{state.order_id}-C{uuid.uuid4().hex[:6].upper()}"
    if request.app[_READ_MODEL].order(order_id) is not None:
        return _error(409, f"order {order_id} already exists")
    command = clone(state, _envelope(order_id, "clone"), body.customer_reference)
    return await _accept(request, command, None)


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
    app.router.add_post("/orders", create_order)
    app.router.add_post("/orders/{order_id}/cancel", cancel)
    app.router.add_post("/orders/{order_id}/edit", edit)
    app.router.add_post("/orders/{order_id}/returns", request_return)
    app.router.add_post("/orders/{order_id}/returns/{rma_id}/received", receive_return)
    app.router.add_post("/orders/{order_id}/clone", clone_order)


_ERROR = {"$ref": "#/components/responses/Error"}
_ACCEPTED = {
    "description": "the command was published; the writer decides it",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "order_id": {"type": "string"},
                    "command_id": {"type": "string"},
                    "status": {"const": "accepted"},
                },
            }
        }
    },
}
_ORDER_ID = {"name": "order_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _schema(body: type[BaseModel], shared: dict[str, Any]) -> dict[str, Any]:
    """``body``'s JSON schema, its nested models moved to the spec's shared schemas."""
    schema = body.model_json_schema(ref_template="#/components/schemas/{model}")
    shared.update(schema.pop("$defs", {}))
    return schema


def _write(
    summary: str,
    body: type[BaseModel],
    shared: dict[str, Any],
    *,
    order: bool = True,
    extra: list[Any] | None = None,
) -> Any:
    errors = {"400": _ERROR, "401": _ERROR, "409": _ERROR, "422": _ERROR, "501": _ERROR}
    if order:
        errors["404"] = _ERROR
    return {
        "post": {
            "summary": summary,
            "security": [{"bearer": []}],
            "parameters": ([_ORDER_ID] if order else []) + (extra or []),
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _schema(body, shared)}},
            },
            "responses": {"202": _ACCEPTED, **errors},
        }
    }


def desk_paths() -> tuple[dict[str, Any], dict[str, Any]]:
    """The write routes as OpenAPI path items, and the schemas their bodies share (merged
    into ``/openapi.json``)."""
    rma = {"name": "rma_id", "in": "path", "required": True, "schema": {"type": "string"}}
    shared: dict[str, Any] = {}
    paths = {
        "/orders": _write(
            "Enter a manual order (is_manual; sales origin, customer reference)",
            CreateBody,
            shared,
            order=False,
        ),
        "/orders/{order_id}/cancel": _write(
            "Cancel the order, or the lines named; 409 once a line is picked or shipped", CancelBody, shared
        ),
        "/orders/{order_id}/edit": _write(
            "Edit before fulfillment: quantities, lines added or removed, ship-to; 409 names read-only lines",
            EditBody,
            shared,
        ),
        "/orders/{order_id}/returns": _write(
            "Open a return (RMA) against shipped lines; 422 beyond what shipped or past the window",
            ReturnBody,
            shared,
        ),
        "/orders/{order_id}/returns/{rma_id}/received": _write(
            "Record that a return's goods arrived at a warehouse", ReceiptBody, shared, extra=[rma]
        ),
        "/orders/{order_id}/clone": _write(
            "A new order with this order's customer and lines", CloneBody, shared
        ),
    }
    return paths, shared
