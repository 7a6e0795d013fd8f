"""Returns inside the order: an RMA against shipped lines, received, refunded. Pure.

IOM links a return order to its sales order; here the return lives in the order aggregate
(one writer, one timeline, co-partitioned with everything else about the order). Each
return has its own status (Return requested -> Return received -> Refunded); the header
of a Completed order stays Completed. A return runs in a *return flow* (a flow file with
``kind: return``), pinned at its start like an order's flow; its steps run under ids of
their own (``RMA-1:issue-credit-note``) and, while the return is open, also on a Completed
order (``flows.runs_on_terminal``).

The replacement policy of the order-handling settings says when a return's replacement
ships: *standard* when the goods are received, *advanced* when the return is initiated.
The replacement is a new order (``<order id>-R<n>``) with the returned lines, linked both
ways (``replacement_for`` on it, ``ReplacementOrdered`` here); the writer publishes its
``CreateOrder`` in the same transaction as the event that records it, so one exists
exactly when the other does, and it runs through the same flows as any order.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from decimal import Decimal

from streams.domain.commands import CommandEnvelope, CreateOrder, RecordReturnReceived, RequestReturn
from streams.domain.errors import DomainError, InvalidRequest, StateConflict
from streams.domain.events import Event, OrderRefunded, ReplacementOrdered, ReturnFlowStarted, ReturnReceived
from streams.domain.order import LineState, OrderState, ReturnState, ReturnStatus
from streams.domain.order_handling import OrderHandling, ReplacementPolicy
from streams.domain.transitions import CANCELED
from streams.domain.values import OrderLine

CREDIT_NOTE = "issue_credit_note"
"""The billing provider's action for a received return: its answer is the refund."""
RETURN_REQUESTED = "Return requested"
RETURN_RECEIVED = "Return received"


def returned(state: OrderState) -> Counter[str]:
    """Units of each line already on a return."""
    units: Counter[str] = Counter()
    for r in state.returns:
        for x in r.lines:
            units[x.line_id] += x.quantity
    return units


def returnable(state: OrderState, line: LineState) -> int:
    """Units of ``line`` that shipped and are on no return yet."""
    if line.shipped_at is None or state.line_status(line) == CANCELED:
        return 0
    return line.quantity - returned(state)[line.line_id]


def refusal(state: OrderState, c: RequestReturn, handling: OrderHandling) -> DomainError | None:
    """Why the return is refused (None: it may be opened)."""
    oid = state.order_id
    if not c.rma_id.strip() or not c.reason.strip():
        return InvalidRequest(oid, "a return needs an RMA id and a reason")
    if state.return_(c.rma_id) is not None:
        return StateConflict(oid, f"already has return {c.rma_id}")
    if not c.lines:
        return InvalidRequest(oid, "a return needs at least one line")
    ids = [x.line_id for x in c.lines]
    if len(set(ids)) != len(ids):
        return InvalidRequest(oid, f"a line is named twice in {ids}")
    problems = []
    for asked in c.lines:
        line = state.line(asked.line_id)
        if line is None:
            problems.append(f"{asked.line_id}: no such line")
        elif asked.quantity < 1:
            problems.append(f"{asked.line_id}: return at least one unit")
        elif line.shipped_at is None:
            problems.append(f"{asked.line_id}: not shipped")
        elif asked.quantity > (left := returnable(state, line)):
            problems.append(f"{asked.line_id}: {asked.quantity} asked, {left} shipped and not yet returned")
        elif c.envelope.issued_at > line.shipped_at + handling.return_window:
            by = line.shipped_at + handling.return_window
            problems.append(f"{asked.line_id}: the return window closed on {by:%Y-%m-%d %H:%M} UTC")
    if problems:
        return InvalidRequest(oid, "return refused: " + "; ".join(problems))
    return None


def check(state: OrderState, c: RequestReturn, handling: OrderHandling) -> None:
    problem = refusal(state, c, handling)
    if problem is not None:
        raise problem


def open_return(state: OrderState, rma_id: str, expected: ReturnStatus) -> ReturnState:
    """The return a provider reports about; refused unless it is in ``expected``."""
    found = state.return_(rma_id)
    if found is None:
        known = [r.rma_id for r in state.returns] or "none"
        raise InvalidRequest(state.order_id, f"has no return {rma_id} (returns: {known})")
    if found.status is not expected:
        raise StateConflict(state.order_id, f"return {rma_id} is {found.status.value}, not {expected.value}")
    return found


def received_payload(c: RecordReturnReceived) -> dict[str, str | None]:
    return {"rma_id": c.rma_id, "provider": c.provider, "warehouse": c.warehouse, "site": c.site}


def credit(state: OrderState, rma_id: str) -> Decimal:
    """What a return is worth: its units at the prices the order was sold at."""
    found = state.return_(rma_id)
    if found is None:
        return Decimal(0)
    prices = {x.line_id: x.unit_price for x in state.lines}
    return sum((prices.get(x.line_id, Decimal(0)) * x.quantity for x in found.lines), Decimal(0))


RETURN_EVENTS = (ReturnFlowStarted, ReturnReceived, OrderRefunded, ReplacementOrdered)
"""The events about one return (``rma_of``): the flow engine runs their return's steps."""


def rma_of(event: Event) -> str | None:
    """The return an event is about (None: not a return event)."""
    if isinstance(event, RETURN_EVENTS):
        return event.rma_id
    return None


def replacement_due(handling: OrderHandling, found: ReturnState, trigger: str) -> bool:
    """Whether the return's replacement ships on ``trigger`` under the replacement policy."""
    if not found.replacement or found.replacement_order_id is not None:
        return False
    if handling.replacement_policy is ReplacementPolicy.ADVANCED:
        return trigger == RETURN_REQUESTED
    return trigger == RETURN_RECEIVED


def replacement_id(state: OrderState, rma_id: str) -> str:
    n = next(i for i, r in enumerate(state.returns, start=1) if r.rma_id == rma_id)
    return f"{state.order_id}-R{n}"


def replacement_order(state: OrderState, event: ReplacementOrdered, issued_at: datetime) -> CreateOrder:
    """The replacement's ``CreateOrder``: the returned units, to the same customer and
    address, through the same flows (same channel and attributes). Its id derives from the
    return, so a redelivery is the same create."""
    found = state.return_(event.rma_id)
    assert found is not None
    by_id = {x.line_id: x for x in state.lines}
    lines = tuple(
        OrderLine(
            line_id=x.line_id,
            sku=by_id[x.line_id].sku,
            quantity=x.quantity,
            unit_price=by_id[x.line_id].unit_price,
        )
        for x in found.lines
    )
    return CreateOrder(
        envelope=CommandEnvelope(
            command_id=f"replacement/{state.order_id}/{event.rma_id}",
            order_id=event.replacement_order_id,
            issued_at=issued_at,
            correlation_id=event.envelope.correlation_id,
            source=f"oms:replacement:{state.order_id}",
        ),
        channel=state.channel,
        customer_id=state.customer_id,
        currency=state.currency,
        ship_to=state.ship_to,
        lines=lines,
        attributes=state.attributes,
        company=state.company,
        invoice_customer=state.invoice_customer,
        is_manual=True,
        sales_origin=state.sales_origin,
        customer_reference=state.customer_reference,
        replacement_for=f"{state.order_id}/{event.rma_id}",
    )
