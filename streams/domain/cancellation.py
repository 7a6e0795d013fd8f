"""Canceling an order or some of its lines, and who must hear of it. Pure.

A line that is picked or shipped (its status, or the header's, is Fulfillment in progress
or Completed) can no longer be canceled: the refusal names the lines and why. A cancel
that stands is told to every provider that holds what it canceled (IOM leaves this to
each flow; here the engine does it for every flow):

* the fulfillment and billing providers the order was sent to, or is being sent to right
  now (a line-selective sync holds only the lines it sent);
* DOM, for lines whose units it reserved: it releases them, so inventory follows;
* the channel the order came from, unless the cancel came from that channel (no echo).

Each is asked ``cancel_order`` (the order ends Canceled) or ``cancel_lines`` (param
``line_ids``); these are notifications: they run, retry and settle on a canceled order.
"""

from __future__ import annotations

from collections.abc import Iterable

from streams.domain.errors import DomainError, InvalidRequest, StateConflict
from streams.domain.events import Event, OrderCanceled, OrderLinesCanceled
from streams.domain.flows import SYNC_ACTIONS
from streams.domain.order import LineState, OrderState
from streams.domain.transitions import CANCELED, COMPLETED, FULFILLMENT_IN_PROGRESS
from streams.domain.values import ActionType, Provider, Value

CANCEL_ORDER = ActionType.CANCEL_ORDER
CANCEL_LINES = ActionType.CANCEL_LINES

INTERNAL_CHANNEL = "oms"
"""The channel of orders entered in the OMS itself (manual orders): no provider to tell."""


def channel_provider(state: OrderState) -> Provider | None:
    """The provider the order came from (None: entered in the OMS, or a channel with no
    connector, so nobody to tell)."""
    if state.channel == INTERNAL_CHANNEL or state.channel not in _PROVIDERS:
        return None
    return Provider(state.channel)


_PROVIDERS = frozenset(Provider)

_UNDER_WAY = frozenset({FULFILLMENT_IN_PROGRESS, COMPLETED})


def _describe(state: OrderState, lines: Iterable[LineState]) -> str:
    return ", ".join(f"{x.line_id} ({state.line_status(x)} / {state.line_status_reason(x)})" for x in lines)


def refusal(state: OrderState, line_ids: Iterable[str] | None = None) -> DomainError | None:
    """Why the order (``line_ids`` None) or those lines cannot be canceled; None if they can."""
    oid = state.order_id
    if line_ids is None:
        if state.status == CANCELED:
            return StateConflict(oid, f"is already canceled ({state.status_reason})")
        lines = [x for x in state.lines if state.line_status(x) != CANCELED]
    else:
        wanted = list(dict.fromkeys(line_ids))
        if not wanted:
            return InvalidRequest(oid, "name at least one line to cancel")
        known = {x.line_id: x for x in state.lines}
        unknown = [i for i in wanted if i not in known]
        if unknown:
            return InvalidRequest(oid, f"has no lines {unknown}; its lines are {sorted(known)}")
        lines = [known[i] for i in wanted]
        done = [x for x in lines if state.line_status(x) == CANCELED]
        if done:
            return StateConflict(oid, f"lines {_describe(state, done)} are already canceled")
    under_way = [x for x in lines if state.line_status(x) in _UNDER_WAY]
    if under_way:
        hint = "; cancel the other lines by name" if line_ids is None and len(under_way) < len(lines) else ""
        why = f"lines {_describe(state, under_way)} are picked or shipped and can no longer be canceled"
        return StateConflict(oid, why + hint)
    return None


def check(state: OrderState, line_ids: Iterable[str] | None = None) -> None:
    problem = refusal(state, line_ids)
    if problem is not None:
        raise problem


class ProviderCancel(Value):
    """One provider to tell of a cancel, and what."""

    provider: Provider
    action: ActionType
    line_ids: tuple[str, ...] = ()

    @property
    def step(self) -> str:
        return f"cancel-at-{self.provider}"


def _holdings(state: OrderState) -> dict[Provider, set[str]]:
    """Provider -> the lines it holds."""
    every = {x.line_id for x in state.lines}
    synced = {x.line_id for x in state.lines if x.synced}
    held: dict[Provider, set[str]] = {}
    for provider in (state.fulfillment_provider, state.billing_provider):
        if provider:
            held.setdefault(provider, set()).update(synced or every)
    for pending in state.pending_actions:
        if pending.action in SYNC_ACTIONS:
            named = pending.params.get("lines")
            held.setdefault(pending.provider, set()).update(named.split(",") if named else every)
    reserved = {x.line_id for fo in state.fulfillment_orders for x in fo.lines if x.reservation_id}
    if reserved:
        held.setdefault(Provider.DOM, set()).update(reserved)
    channel = channel_provider(state)
    if channel is not None:
        held.setdefault(channel, set()).update(every)
    return held


CANCELS = (OrderCanceled, OrderLinesCanceled)
"""The events ``cancels_to_send`` acts on (the flow engine passes over every other one)."""


def cancels_to_send(state: OrderState, event: Event) -> list[ProviderCancel]:
    """The providers to tell of ``event`` (a cancel just decided; ``state`` is after it)."""
    if isinstance(event, OrderCanceled):
        canceled = {x.line_id for x in state.lines}
    elif isinstance(event, OrderLinesCanceled):
        canceled = {c.line_id for c in event.lines}
    else:
        return []
    whole = state.status == CANCELED
    origin = event.envelope.source.removeprefix("connector:")
    out = []
    for provider, lines in sorted(_holdings(state).items()):
        if provider == origin:
            continue  # the cancel came from there
        mine = tuple(x.line_id for x in state.lines if x.line_id in lines & canceled)
        if whole:
            out.append(ProviderCancel(provider=provider, action=CANCEL_ORDER))
        elif mine:
            out.append(ProviderCancel(provider=provider, action=CANCEL_LINES, line_ids=mine))
    return out
