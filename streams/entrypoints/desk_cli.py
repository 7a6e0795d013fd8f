"""``oms orders cancel|edit|return|receive|create|clone``: what an order desk does.

Each command reads the order from the event topics, checks the request with the domain's
own rules (the same answer the API gives: not found, refused and why), publishes the
command to ``order.commands`` and says how to follow it (``oms show``). The writer decides
it against the order as it is then.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from streams.adapters.command_bus import CommandBus
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
from streams.bootstrap import Components
from streams.domain.order import OrderState
from streams.domain.values import Address, OrderLine
from streams.entrypoints.running import connected
from streams.services.replay import order_timeline
from streams.shell.commands import CommandFailed, with_settings
from streams.shell.settings import Settings

SOURCE = "operator:cli"


def register(app: typer.Typer) -> None:
    orders = typer.Typer(
        help="The order desk: cancel, edit, return, create and clone orders.", no_args_is_help=True
    )
    orders.command("cancel", help="Cancel an order, or some of its lines (--lines).")(_cancel)
    orders.command("edit", help="Edit an order before fulfillment (quantities, lines, ship-to).")(_edit)
    orders.command("return", help="Open a return (RMA) against shipped lines.")(_return)
    orders.command("receive", help="Record that a return's goods arrived at a warehouse.")(_receive)
    orders.command("create", help="Enter a manual order from a JSON file (the API's body).")(_create)
    orders.command("clone", help="A new order with another order's customer and lines.")(_clone)
    app.add_typer(orders, name="orders")


OrderId = Annotated[str, typer.Argument(help="the order's id, e.g. BC-100")]
Reason = Annotated[str, typer.Option(help="why (required), as the timeline shows it")]


def _pairs(items: list[str], what: str) -> dict[str, int]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not value.strip().lstrip("-").isdigit():
            raise typer.BadParameter(f"{item!r} is not LINE=N", param_hint=what)
        out[key.strip()] = int(value)
    return out


def _added(spec: str) -> OrderLine:
    parts = spec.split(":")
    if len(parts) != 4 or not parts[2].isdigit():
        raise typer.BadParameter(f"{spec!r} is not LINE:SKU:N:PRICE", param_hint="--add")
    try:
        price = Decimal(parts[3])
    except InvalidOperation:
        raise typer.BadParameter(f"{parts[3]!r} is not a price", param_hint="--add") from None
    return OrderLine(line_id=parts[0], sku=parts[1], quantity=int(parts[2]), unit_price=price)


def _state(c: Components, order_id: str) -> OrderState | None:
    return order_timeline(c.settings, c.topics, c.codec, order_id).state


def _required(c: Components, order_id: str) -> OrderState:
    state = _state(c, order_id)
    if state is None:
        raise CommandFailed(f"order {order_id} not found in {c.settings.bootstrap_servers}")
    return state


def _send(c: Components, plan: Plan, what: str) -> int:
    command, problem = plan
    if problem is not None:
        raise CommandFailed(f"refused: {problem}")
    bus = CommandBus(c.settings, c.topics, c.codec)
    bus.send(command)
    bus.flush()
    oid = command.envelope.order_id
    print(
        f"{what} of {oid} sent (command {command.envelope.command_id}); `oms show {oid}` shows what happens"
    )
    return 0


@with_settings(Settings)
def _cancel(
    settings: Settings,
    order_id: OrderId,
    reason: Reason,
    lines: Annotated[
        str | None, typer.Option(help="comma-separated line ids (default: the whole order)")
    ] = None,
    by: Annotated[str, typer.Option(help="who cancels (shown in the timeline)")] = "operator",
) -> int:
    c = connected(settings)
    ids = [x.strip() for x in lines.split(",")] if lines else None
    body = CancelBody(reason=reason, lines=ids, requested_by=by)
    return _send(c, plan_cancel(_required(c, order_id), body, SOURCE), "cancel")


@with_settings(Settings)
def _edit(
    settings: Settings,
    order_id: OrderId,
    editor: Annotated[str, typer.Option(help="who edits")],
    reason: Reason,
    quantity: Annotated[
        list[str] | None, typer.Option(help="LINE=N: a line's new quantity (repeatable)")
    ] = None,
    remove: Annotated[list[str] | None, typer.Option(help="a line to remove (repeatable)")] = None,
    add: Annotated[
        list[str] | None, typer.Option(help="LINE:SKU:N:PRICE: a line to add, e.g. 9:SKU-MUG-01:2:12.00")
    ] = None,
    ship_to: Annotated[
        str | None, typer.Option(help='the new address as JSON, {"name": ..., "city": ...}')
    ] = None,
) -> int:
    c = connected(settings)
    address = Address.model_validate_json(ship_to) if ship_to else None
    body = EditBody(
        editor=editor,
        reason=reason,
        quantities=_pairs(quantity or [], "--quantity"),
        added_lines=[_added(x) for x in add or []],
        removed_lines=remove or [],
        ship_to=address,
    )
    return _send(c, plan_edit(_required(c, order_id), body, SOURCE), "edit")


@with_settings(Settings)
def _return(
    settings: Settings,
    order_id: OrderId,
    reason: Reason,
    line: Annotated[list[str], typer.Option(help="LINE=N: units of a line returned (repeatable)")],
    rma: Annotated[str | None, typer.Option(help="the RMA id (default: RMA-<order>-<n>)")] = None,
    replacement: Annotated[bool, typer.Option(help="ship the goods again (replacement policy)")] = False,
    by: Annotated[str, typer.Option(help="who opens it")] = "operator",
) -> int:
    c = connected(settings)
    body = ReturnBody(
        rma_id=rma, lines=_pairs(line, "--line"), reason=reason, replacement=replacement, requested_by=by
    )
    return _send(c, plan_return(_required(c, order_id), body, SOURCE, c.order_handling), "return")


@with_settings(Settings)
def _receive(
    settings: Settings,
    order_id: OrderId,
    rma_id: Annotated[str, typer.Argument(help="the return's RMA id")],
    provider: Annotated[str, typer.Option(help="who received the goods")] = "fno",
    warehouse: Annotated[str | None, typer.Option(help="where")] = None,
) -> int:
    c = connected(settings)
    body = ReceiptBody(provider=provider, warehouse=warehouse)
    return _send(c, plan_receipt(_required(c, order_id), rma_id, body, SOURCE), "receipt")


@with_settings(Settings)
def _create(
    settings: Settings,
    file: Annotated[Path, typer.Argument(help="JSON: customer_id, ship_to, lines, channel, attributes...")],
) -> int:
    c = connected(settings)
    try:
        body = CreateBody.model_validate(json.loads(file.read_text()))
    except (OSError, json.JSONDecodeError, ValidationError) as exc:
        raise CommandFailed(f"{file}: {exc}") from None
    existing = _state(c, body.order_id) if body.order_id else None
    return _send(c, plan_create(body, existing, SOURCE), "manual order")


@with_settings(Settings)
def _clone(
    settings: Settings,
    order_id: OrderId,
    new_id: Annotated[
        str | None, typer.Option("--as", help="the new order's id (default: <order>-C<hex>)")
    ] = None,
    customer_reference: Annotated[str | None, typer.Option(help="the clone's customer reference")] = None,
) -> int:
    c = connected(settings)
    state = _required(c, order_id)
    body = CloneBody(order_id=new_id, customer_reference=customer_reference)
    clone_to = clone_id(state, body)
    return _send(c, plan_clone(state, body, clone_to, _state(c, clone_to), SOURCE), f"clone {clone_to}")
