"""Order-desk requests as the API and the CLI take them, and the commands they become.

Each ``plan_*`` turns a request on an order (its state as the caller reads it) into the
command for the writer and the domain's verdict on it: ``None`` when it stands, else the
``DomainError`` the writer would give (``cancellation``, ``edits``, ``returns``), so a
caller answers at once. The writer decides the command again, against the order as it is.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

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
from streams.domain.errors import DomainError, InvalidRequest, StateConflict
from streams.domain.manual import clone
from streams.domain.order import OrderState, ReturnStatus
from streams.domain.order_handling import OrderHandling
from streams.domain.values import Address, LineQuantity, OrderLine, Provider

Plan = tuple[Command, DomainError | None]


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
    provider: Provider
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


def envelope(order_id: str, kind: str, source: str) -> CommandEnvelope:
    return CommandEnvelope(
        command_id=f"{source}-{kind}-{uuid.uuid4()}",
        order_id=order_id,
        issued_at=datetime.now(UTC),
        correlation_id=f"{source}-{kind}/{order_id}",
        source=source,
    )


def plan_cancel(state: OrderState, body: CancelBody, source: str) -> Plan:
    env = envelope(state.order_id, "cancel", source)
    command: Command
    if body.lines is None:
        command = CancelOrder(envelope=env, reason=body.reason, requested_by=body.requested_by)
    else:
        ids = tuple(body.lines)
        command = CancelOrderLines(
            envelope=env, line_ids=ids, reason=body.reason, requested_by=body.requested_by
        )
    return command, cancellation.refusal(state, body.lines)


def plan_edit(state: OrderState, body: EditBody, source: str) -> Plan:
    command = EditOrder(
        envelope=envelope(state.order_id, "edit", source),
        editor=body.editor,
        reason=body.reason,
        quantities=tuple(LineQuantity(line_id=k, quantity=v) for k, v in body.quantities.items()),
        added_lines=tuple(body.added_lines),
        removed_lines=tuple(body.removed_lines),
        ship_to=body.ship_to,
    )
    return command, edits.refusal(state, command)


def plan_return(state: OrderState, body: ReturnBody, source: str, handling: OrderHandling) -> Plan:
    command = RequestReturn(
        envelope=envelope(state.order_id, "return", source),
        rma_id=body.rma_id or f"RMA-{state.order_id}-{len(state.returns) + 1}",
        lines=tuple(LineQuantity(line_id=k, quantity=v) for k, v in body.lines.items()),
        reason=body.reason,
        return_source=body.source,
        requested_by=body.requested_by,
        replacement=body.replacement,
    )
    return command, returns.refusal(state, command, handling)


def plan_receipt(state: OrderState, rma_id: str, body: ReceiptBody, source: str) -> Plan:
    command = RecordReturnReceived(
        envelope=envelope(state.order_id, "return-received", source),
        rma_id=rma_id,
        provider=body.provider,
        warehouse=body.warehouse,
        site=body.site,
    )
    try:
        returns.open_return(state, rma_id, ReturnStatus.REQUESTED)
    except DomainError as exc:
        return command, exc
    return command, None


def plan_create(body: CreateBody, existing: OrderState | None, source: str) -> Plan:
    order_id = body.order_id or f"MAN-{uuid.uuid4().hex[:10].upper()}"
    fields = body.model_dump(exclude={"order_id", "ship_to", "lines"})
    command = CreateOrder(
        envelope=envelope(order_id, "create", source),
        ship_to=body.ship_to,
        lines=tuple(body.lines),
        is_manual=True,
        **fields,
    )
    if existing is not None:
        return command, StateConflict(order_id, "already exists")
    ids = [x.line_id for x in command.lines]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    return command, InvalidRequest(order_id, f"duplicate line ids {dupes}") if dupes else None


def clone_id(state: OrderState, body: CloneBody) -> str:
    return body.order_id or f"{state.order_id}-C{uuid.uuid4().hex[:6].upper()}"


def plan_clone(
    state: OrderState, body: CloneBody, new_id: str, existing: OrderState | None, source: str
) -> Plan:
    command = clone(state, envelope(new_id, "clone", source), body.customer_reference)
    return command, StateConflict(new_id, "already exists") if existing is not None else None
