"""Order commands: what somebody asks the order to do. The writer decides them one by one."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import Field

from streams.domain.snapshot import OrderSnapshot
from streams.domain.sourcing import FulfillmentPlan
from streams.domain.values import (
    ActionType,
    Address,
    ExternalRef,
    LineAssignment,
    LineLaunch,
    LineQuantity,
    OrderLine,
    Provider,
    Value,
)


class CommandEnvelope(Value):
    command_id: str
    order_id: str
    issued_at: datetime
    correlation_id: str
    source: str


class Command(Value):
    envelope: CommandEnvelope


class CreateOrder(Command):
    channel: str
    customer_id: str
    currency: str
    ship_to: Address
    lines: tuple[OrderLine, ...]
    external_refs: tuple[ExternalRef, ...] = ()
    attributes: dict[str, str] = Field(default_factory=dict)
    company: str | None = None
    invoice_customer: str | None = None
    is_manual: bool = False
    """Entered by a person (API, CLI, a clone), not taken in from a channel."""
    sales_origin: str | None = None
    customer_reference: str | None = None
    """The customer's own order reference (IOM: Customer order reference)."""
    cloned_from: str | None = None
    replacement_for: str | None = None
    """``<order id>/<rma id>``: the return this order replaces goods for."""
    awaiting_confirmation: bool = False
    """Created in F&O and not confirmed there yet: no flow runs until ``ConfirmOrder``."""


class RecordValidation(Command):
    policy: str
    passed: bool
    reasons: tuple[str, ...] = ()


class AssignOrderData(Command):
    company: str | None = None
    invoice_customer: str | None = None
    lines: tuple[LineAssignment, ...] = ()
    policy: str


class RecordSentToFulfillment(Command):
    provider: Provider
    provider_order_id: str | None = None


class RecordSentToBilling(Command):
    provider: Provider
    provider_order_id: str | None = None


class RecordPicked(Command):
    provider: Provider
    picking_id: str | None = None


class RecordShipped(Command):
    provider: Provider
    shipment_id: str | None = None
    carrier: str | None = None
    tracking_number: str | None = None


class RecordInvoiced(Command):
    provider: Provider
    invoice_id: str
    amount: Decimal | None = None


class CancelOrder(Command):
    reason: str
    requested_by: str = ""
    """Who canceled (an operator, a channel): shown in the timeline."""


class HoldOrder(Command):
    reason: str


class RecordChannelStatus(Command):
    channel: str
    channel_status: str


class StartFlow(Command):
    flow: str
    flow_version: int


class RecordStepResult(Command):
    flow: str
    flow_version: int
    step: str
    result: str
    details: str = ""
    attempt: int = 1


class RequestProviderAction(Command):
    step: str
    provider: Provider
    action: ActionType
    attempt: int
    max_attempts: int
    critical: bool
    params: dict[str, str] = Field(default_factory=dict)
    not_before: datetime
    deadline: datetime


class RecordActionResult(Command):
    """From a connector (or the writer's timer): how a provider action ended."""

    action_id: str
    """The step action's id: the same for every attempt (the provider's idempotency key)."""
    success: bool
    details: str = ""
    data: dict[str, str] = Field(default_factory=dict)
    attempt: int | None = None
    """The attempt answered; a failure of an attempt older than the current one is ignored."""
    plan: FulfillmentPlan | None = None
    """DOM's answer to a sourcing request (``data["plan"]`` as JSON in records before it)."""


class HoldProviderAction(Command):
    """From the flow engine: a paused target (a flow version, a provider) holds the request
    just recorded: it is not sent and no timer runs until the target is resumed."""

    action_id: str
    target: str


class ReleaseProviderAction(Command):
    """From the writer when the target is resumed: send the held request now."""

    action_id: str


class ReprocessOrder(Command):
    reason: str = ""


class CancelOrderLines(Command):
    """Cancel some lines (e.g. held past the backorder cancellation SLA); the rest go on."""

    line_ids: tuple[str, ...]
    reason: str
    requested_by: str = ""


class CheckBackorders(Command):
    """From the backorder job: source the order's held lines again."""

    job_run: str = ""
    as_of: datetime | None = None
    """The job's "now" when it was run as of another time (a preorder's launch date)."""


class EditOrder(Command):
    """Change an order before fulfillment: quantities, lines added or removed, the ship-to."""

    editor: str
    reason: str
    quantities: tuple[LineQuantity, ...] = ()
    added_lines: tuple[OrderLine, ...] = ()
    removed_lines: tuple[str, ...] = ()
    ship_to: Address | None = None


class RequestReturn(Command):
    """A return (RMA) against shipped lines, from the API or a channel."""

    rma_id: str
    lines: tuple[LineQuantity, ...]
    reason: str
    return_source: str = "api"
    """Where the return was initiated: api, bigcommerce, fno."""
    requested_by: str = ""
    replacement: bool = False
    """Ship the returned goods again (when, the replacement policy says)."""


class StartReturnFlow(Command):
    """From the engine: the return flow version a return runs in."""

    rma_id: str
    flow: str
    flow_version: int


class RecordReturnReceived(Command):
    """A provider received a return's goods at one of its warehouses."""

    rma_id: str
    provider: Provider
    warehouse: str | None = None
    site: str | None = None


class RecordReplacement(Command):
    """From the engine: the replacement order of a return (its CreateOrder leaves with it)."""

    rma_id: str
    replacement_order_id: str


class ConfirmOrder(Command):
    """The order was confirmed where it was made (F&O): its flow may start."""

    confirmed_by: str = ""


class HoldPreorderLines(Command):
    """From the engine: lines of preorder products wait in Preorder hold until launch."""

    launches: tuple[LineLaunch, ...]


COMMAND_TYPES: tuple[type[Command], ...] = (
    CreateOrder,
    RecordValidation,
    AssignOrderData,
    RecordSentToFulfillment,
    RecordSentToBilling,
    RecordPicked,
    RecordShipped,
    RecordInvoiced,
    CancelOrder,
    HoldOrder,
    RecordChannelStatus,
    StartFlow,
    RecordStepResult,
    RequestProviderAction,
    RecordActionResult,
    ReprocessOrder,
    CancelOrderLines,
    CheckBackorders,
    EditOrder,
    RequestReturn,
    StartReturnFlow,
    RecordReturnReceived,
    RecordReplacement,
    HoldPreorderLines,
    ConfirmOrder,
    HoldProviderAction,
    ReleaseProviderAction,
)


class ProviderActionRequest(Value):
    """The message a connector consumes; not an order event (see the .avsc)."""

    action_id: str
    order_id: str
    provider: Provider
    action: ActionType
    step: str
    attempt: int
    params: dict[str, str] = Field(default_factory=dict)
    not_before: datetime
    deadline: datetime
    correlation_id: str
    order: OrderSnapshot | None = None
    """The order as it was when asked (None only in records of the first version, which
    carry ``order_json``; read either with ``order.order_of``)."""
    order_json: str = ""
    """The first version's order, the writer's state as JSON; never written since."""

    def answer(
        self,
        *,
        source: str,
        success: bool,
        issued_at: datetime,
        details: str = "",
        data: dict[str, str] | None = None,
        plan: FulfillmentPlan | None = None,
    ) -> RecordActionResult:
        """The provider's result of this attempt, sent by ``source`` (e.g. ``connector:fno``).
        Its command id names the attempt: answers to two attempts are two commands, and the
        same answer sent again (a redelivered request, a second connector instance) is one."""
        return RecordActionResult(
            envelope=CommandEnvelope(
                command_id=f"{self.provider}/{self.action_id}/{self.attempt}/result",
                order_id=self.order_id,
                issued_at=issued_at,
                correlation_id=self.correlation_id,
                source=source,
            ),
            action_id=self.action_id,
            success=success,
            details=details[:1000],
            data=data or {},
            attempt=self.attempt,
            plan=plan,
        )


class CommandRejected(Value):
    """The outcome of a refused command; published beside, never into, the order's history."""

    command_id: str
    order_id: str
    command_type: str
    error: str
    correlation_id: str
    rejected_at: datetime
    source: str | None = None
    """Who sent the command (``connector:fno``, ``flow:...``): the error queues sort by it."""
    command: bytes | None = None
    """The command as encoded on ``order.commands``: a reprocess can send it again."""
