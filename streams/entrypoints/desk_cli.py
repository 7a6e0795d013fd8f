"""``oms orders cancel|edit|return|receive|create|clone``: what an order desk does.

Each command reads the order from the event topics, checks the request with the domain's
own rules (the same answer the API gives: not found, refused and why), publishes the
command to ``order.commands`` and says how to follow it (``oms show``). The writer decides
it against the order as it is then.
"""

from __future__ import annotations

import argparse
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

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
from streams.bootstrap import Components, bootstrap
from streams.domain.order import OrderState
from streams.domain.values import Address, OrderLine
from streams.entrypoints.output import err
from streams.services.replay import order_timeline

SOURCE = "operator:cli"
NOT_FOUND, REFUSED = 3, 4
"""Exit codes: the order does not exist; the request was refused (the message says why)."""


def register(sub: Any) -> None:
    orders = sub.add_parser("orders", help="cancel, edit, return, create and clone orders (the order desk)")
    actions = orders.add_subparsers(dest="action", required=True, metavar="ACTION")

    cancel = actions.add_parser("cancel", help="cancel an order, or some of its lines (--lines)")
    cancel.add_argument("order_id")
    cancel.add_argument("--reason", required=True)
    cancel.add_argument("--lines", help="comma-separated line ids (default: the whole order)")
    cancel.add_argument("--by", default="operator", help="who cancels (shown in the timeline)")
    cancel.set_defaults(run=_cancel)

    edit = actions.add_parser("edit", help="edit an order before fulfillment")
    edit.add_argument("order_id")
    edit.add_argument("--editor", required=True)
    edit.add_argument("--reason", required=True)
    edit.add_argument(
        "--quantity", action="append", default=[], metavar="LINE=N", help="a line's new quantity"
    )
    edit.add_argument("--remove", action="append", default=[], metavar="LINE", help="a line to remove")
    edit.add_argument(
        "--add",
        action="append",
        default=[],
        metavar="LINE:SKU:N:PRICE",
        help="a line to add, e.g. 9:SKU-MUG-01:2:12.00",
    )
    edit.add_argument(
        "--ship-to", metavar="JSON", help='the new address, e.g. \'{"name": ..., "city": ...}\''
    )
    edit.set_defaults(run=_edit)

    ret = actions.add_parser("return", help="open a return (RMA) against shipped lines")
    ret.add_argument("order_id")
    ret.add_argument("--reason", required=True)
    ret.add_argument(
        "--line", action="append", required=True, metavar="LINE=N", help="units of a line returned"
    )
    ret.add_argument("--rma", help="the RMA id (default: RMA-<order>-<n>)")
    ret.add_argument("--replacement", action="store_true", help="ship the goods again (replacement policy)")
    ret.add_argument("--by", default="operator")
    ret.set_defaults(run=_return)

    receive = actions.add_parser("receive", help="record that a return's goods arrived at a warehouse")
    receive.add_argument("order_id")
    receive.add_argument("rma_id")
    receive.add_argument("--provider", default="fno", help="who received them (default: fno)")
    receive.add_argument("--warehouse")
    receive.set_defaults(run=_receive)

    create = actions.add_parser("create", help="enter a manual order from a JSON file (the API's body)")
    create.add_argument("file", type=Path, help="JSON: customer_id, ship_to, lines, channel, attributes...")
    create.set_defaults(run=_create)

    clone = actions.add_parser("clone", help="a new order with another order's customer and lines")
    clone.add_argument("order_id")
    clone.add_argument("--as", dest="new_id", help="the new order's id (default: <order>-C<hex>)")
    clone.add_argument("--customer-reference")
    clone.set_defaults(run=_clone)


def _pairs(items: list[str], what: str) -> dict[str, int]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not value.strip().lstrip("-").isdigit():
            raise SystemExit(f"{what}: {item!r} is not LINE=N")
        out[key.strip()] = int(value)
    return out


def _added(spec: str) -> OrderLine:
    parts = spec.split(":")
    if len(parts) != 4 or not parts[2].isdigit():
        raise SystemExit(f"--add: {spec!r} is not LINE:SKU:N:PRICE")
    try:
        price = Decimal(parts[3])
    except InvalidOperation:
        raise SystemExit(f"--add: {parts[3]!r} is not a price") from None
    return OrderLine(line_id=parts[0], sku=parts[1], quantity=int(parts[2]), unit_price=price)


def _state(c: Components, order_id: str) -> OrderState | None:
    return order_timeline(c.settings, c.topics, c.codec, order_id).state


def _required(c: Components, order_id: str) -> OrderState:
    state = _state(c, order_id)
    if state is None:
        err(f"order {order_id} not found in {c.settings.bootstrap_servers}")
        raise SystemExit(NOT_FOUND)
    return state


def _send(c: Components, plan: Plan, what: str) -> int:
    command, problem = plan
    if problem is not None:
        err(f"refused: {problem}")
        return REFUSED
    bus = CommandBus(c.settings, c.topics, c.codec)
    bus.send(command)
    bus.flush()
    oid = command.envelope.order_id
    print(
        f"{what} of {oid} sent (command {command.envelope.command_id}); `oms show {oid}` shows what happens"
    )
    return 0


def _cancel(args: argparse.Namespace) -> int:
    c = bootstrap()
    lines = [x.strip() for x in args.lines.split(",")] if args.lines else None
    body = CancelBody(reason=args.reason, lines=lines, requested_by=args.by)
    return _send(c, plan_cancel(_required(c, args.order_id), body, SOURCE), "cancel")


def _edit(args: argparse.Namespace) -> int:
    c = bootstrap()
    ship_to = Address.model_validate_json(args.ship_to) if args.ship_to else None
    body = EditBody(
        editor=args.editor,
        reason=args.reason,
        quantities=_pairs(args.quantity, "--quantity"),
        added_lines=[_added(x) for x in args.add],
        removed_lines=args.remove,
        ship_to=ship_to,
    )
    return _send(c, plan_edit(_required(c, args.order_id), body, SOURCE), "edit")


def _return(args: argparse.Namespace) -> int:
    c = bootstrap()
    body = ReturnBody(
        rma_id=args.rma,
        lines=_pairs(args.line, "--line"),
        reason=args.reason,
        replacement=args.replacement,
        requested_by=args.by,
    )
    plan = plan_return(_required(c, args.order_id), body, SOURCE, c.order_handling)
    return _send(c, plan, "return")


def _receive(args: argparse.Namespace) -> int:
    c = bootstrap()
    body = ReceiptBody(provider=args.provider, warehouse=args.warehouse)
    return _send(c, plan_receipt(_required(c, args.order_id), args.rma_id, body, SOURCE), "receipt")


def _create(args: argparse.Namespace) -> int:
    c = bootstrap()
    try:
        body = CreateBody.model_validate(json.loads(args.file.read_text()))
    except (OSError, json.JSONDecodeError, ValidationError) as exc:
        err(f"{args.file}: {exc}")
        return REFUSED
    existing = _state(c, body.order_id) if body.order_id else None
    return _send(c, plan_create(body, existing, SOURCE), "manual order")


def _clone(args: argparse.Namespace) -> int:
    c = bootstrap()
    state = _required(c, args.order_id)
    body = CloneBody(order_id=args.new_id, customer_reference=args.customer_reference)
    new_id = clone_id(state, body)
    return _send(c, plan_clone(state, body, new_id, _state(c, new_id), SOURCE), f"clone {new_id}")
