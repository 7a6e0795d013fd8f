"""Editing an order before fulfillment, and validating it again. Pure.

An edit changes line quantities, adds or removes lines, or changes the ship-to; it is one
``OrderEdited`` event with who and why. Once the order is with a provider it is read-only,
as IOM makes lines sent to fulfillment read-only: a line synced, reserved by DOM, picked
or shipped, or any line of an order a fulfillment or billing provider has (or is being
sent right now). A line waiting in Backorder or Preorder hold belongs to the backorder
job; an order whose open lines all wait there takes no edit (cancel a line instead).

The flow's own validation policies judge the edited order (``revalidation``): failing
puts it *On hold / Validation failed* with the reasons, as intake would; passing on an
order held by a failed validation step resumes it from that step, as a reprocess does;
otherwise the status stays. No later step runs twice: an edited order was never sent.
"""

from __future__ import annotations

from collections.abc import Callable

from streams.domain.commands import Command, CommandEnvelope, EditOrder, RecordValidation, ReprocessOrder
from streams.domain.errors import DomainError, InvalidRequest, StateConflict
from streams.domain.events import OrderEdited
from streams.domain.flows import SYNC_ACTIONS, Flow
from streams.domain.lines import header_of
from streams.domain.order import LineState, OrderState
from streams.domain.policies import ValidationPolicy, validate
from streams.domain.transitions import CANCELED, COMPLETED, FULFILLMENT_IN_PROGRESS, ON_HOLD, TERMINAL

VALIDATION_ACTIONS = frozenset({"validate_header", "validate_lines"})


def _with_provider(state: OrderState) -> str | None:
    """The provider that has the order (or is being sent it), if any."""
    if state.fulfillment_provider or state.billing_provider:
        return state.fulfillment_provider or state.billing_provider
    return next((p.provider for p in state.pending_actions if p.action in SYNC_ACTIONS), None)


def _why_read_only(state: OrderState, line: LineState, holder: str | None) -> str | None:
    status = state.line_status(line)
    if status == CANCELED:
        return "canceled"
    if status in (FULFILLMENT_IN_PROGRESS, COMPLETED):
        return f"{status} / {state.line_status_reason(line)}"
    if line.synced or (holder is not None and not line.parked):
        return f"sent to {holder or 'fulfillment'}"
    if any(
        x.line_id == line.line_id and x.reservation_id for fo in state.fulfillment_orders for x in fo.lines
    ):
        return "its units are reserved for fulfillment"
    return None


def _structure(state: OrderState, edit: EditOrder) -> str | None:
    """What is wrong with the edit as a request (422)."""
    if not edit.editor.strip() or not edit.reason.strip():
        return "an edit needs an editor and a reason"
    if not (edit.quantities or edit.added_lines or edit.removed_lines or edit.ship_to):
        return "the edit changes nothing"
    known = {x.line_id for x in state.lines}
    named = [q.line_id for q in edit.quantities] + list(edit.removed_lines)
    unknown = sorted(set(named) - known)
    if unknown:
        return f"has no lines {unknown}; its lines are {sorted(known)}"
    if len(set(named)) != len(named):
        return "a line is named twice (a quantity change and a removal, or two changes)"
    added = [x.line_id for x in edit.added_lines]
    clash = sorted((set(added) & known) | {i for i in added if added.count(i) > 1})
    if clash:
        return f"added line ids {clash} are taken"
    left = [
        x for x in state.lines if x.line_id not in edit.removed_lines and state.line_status(x) != CANCELED
    ]
    if not left and not edit.added_lines:
        return "an edit cannot remove every line: cancel the order instead"
    return None


def refusal(state: OrderState, edit: EditOrder) -> DomainError | None:
    """Why ``edit`` is refused (None: it may be applied)."""
    oid = state.order_id
    if state.status in TERMINAL:
        return StateConflict(oid, f"is {state.status} ({state.status_reason}): it can no longer be edited")
    wrong = _structure(state, edit)
    if wrong is not None:
        return InvalidRequest(oid, wrong)
    holder = _with_provider(state)
    touched = {q.line_id for q in edit.quantities} | set(edit.removed_lines)
    if edit.ship_to is not None or edit.added_lines:
        touched = {x.line_id for x in state.lines}  # the whole order changes: every line must be free
    locked = [
        f"{x.line_id} ({why})"
        for x in state.lines
        if x.line_id in touched and (why := _why_read_only(state, x, holder)) and why != "canceled"
    ]
    if locked:
        return StateConflict(oid, f"lines {', '.join(locked)} are read-only: it is past 'before fulfillment'")
    open_lines = [x for x in state.lines if state.line_status(x) != CANCELED]
    if open_lines and all(x.parked for x in open_lines):
        held = ", ".join(f"{x.line_id} ({state.line_status_reason(x)})" for x in open_lines)
        return StateConflict(oid, f"every open line waits in a hold ({held}): cancel a line instead")
    return None


def check(state: OrderState, edit: EditOrder) -> None:
    problem = refusal(state, edit)
    if problem is not None:
        raise problem


def status_after(state: OrderState, edit: EditOrder) -> tuple[str, str] | None:
    """The header an edit leaves, when lines have statuses of their own (None: unchanged)."""
    if not state.lines_have_statuses:
        return None
    removed = set(edit.removed_lines)
    return header_of(state, [x for x in state.lines if x.line_id not in removed])


def revalidation(
    flow: Flow, state: OrderState, event: OrderEdited, env: Callable[[str], CommandEnvelope]
) -> list[Command]:
    """The edited order judged by the flow's validation policies (``state`` is after the edit)."""
    errors: list[str] = []
    failing: str | None = None
    for step in flow.steps:
        if step.action not in VALIDATION_ACTIONS or not step.critical:
            continue
        policy = flow.policies[step.policy or ""]
        assert isinstance(policy, ValidationPolicy)
        verdict = validate(policy, state)
        if not verdict.passed:
            errors += verdict.errors
            failing = failing or policy.name
    if failing is not None:
        return [
            RecordValidation(
                envelope=env("edit/validation"), policy=failing, passed=False, reasons=tuple(errors)
            )
        ]
    validation_steps = {s.id for s in flow.steps if s.action in VALIDATION_ACTIONS}
    if state.status == ON_HOLD and state.failed_step in validation_steps:
        why = f"edited by {event.editor}: {event.reason}"
        return [ReprocessOrder(envelope=env("edit/resume"), reason=why)]
    return []
