"""Orchestration flows as versioned data.

A flow is a list of steps chained by business events: a step runs when one of its input
events (``on``) happens to an order in the flow, if its filter policy holds; its result
("<step> succeeded" / "<step> failed") is itself an event later steps can wait for. An
order starts on ``New order`` in the one published flow whose filter takes it (highest
priority first) and keeps that flow's version to the end. Published versions are
immutable: publishing a changed flow makes a new version.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from streams.domain.backorders import BackorderSettings
from streams.domain.events import EVENT_TYPES
from streams.domain.order import LineState, OrderState, return_of_step
from streams.domain.policies import AssignmentPolicy, Rule, ValidationPolicy, header_fields, holds
from streams.domain.transitions import KEEP, Transition, TransitionTable
from streams.domain.values import ActionType, Provider, ProviderRole, Value

INTERNAL_ACTIONS = frozenset({ActionType.VALIDATE_HEADER, ActionType.VALIDATE_LINES, ActionType.ASSIGN_DATA})
"""Pure steps, run by the order writer itself; every other action is a provider's."""

SYNC_ACTIONS = frozenset({ActionType.SEND_TO_FULFILLMENT, ActionType.SEND_TO_BILLING})
"""Actions that export the order: it must be ready to sync first (see ``readiness``). A
provider that reports progress on an order (picked, shipped, invoiced) has it: that report
settles its open sync step as succeeded (see ``decider``)."""

CANCEL_ACTIONS = frozenset({ActionType.CANCEL_ORDER, ActionType.CANCEL_LINES})
"""What the engine asks every provider holding a canceled order or line (``cancellation``)."""

NOTIFICATION_ACTIONS = frozenset(
    {ActionType.UPDATE_CHANNEL_STATUS, ActionType.REFUND_PAYMENT, *CANCEL_ACTIONS}
)
"""Actions that only tell a provider what happened: they still run on a terminal order
(BigCommerce hears "Completed" after the order completed, F&O hears of a cancel)."""


def runs_on_terminal(state: OrderState, step_id: str, action: str) -> bool:
    """The one exception to "a terminal order has no open step": notifications, and the
    steps of a return still open (a Completed order takes returns). A return is open until
    it is refunded and every step it started has settled (a restock may answer after the
    credit note)."""
    if action in NOTIFICATION_ACTIONS:
        return True
    rma = return_of_step(step_id)
    opened = state.return_(rma) if rma is not None else None
    if opened is None:
        return False
    return opened.open or any(return_of_step(p.step) == rma for p in state.pending_actions)


REPLACEMENT_ACTION = ActionType.CREATE_REPLACEMENT
"""Orders a return's replacement: run by the writer itself (see ``returns``), no provider."""

PROVIDER_ROLES = {
    ProviderRole.CHANNEL: "the channel the order came from",
    ProviderRole.SHIPPER: "the provider that shipped it",
    ProviderRole.INVOICER: "the provider that invoiced it",
}
"""What each role means (``ProviderRole``: a step's provider the engine resolves per order)."""

FlowKind = Literal["order", "return"]

START = "New order"


class Step(Value):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    on: tuple[str, ...] = Field(min_length=1)
    action: ActionType
    provider: Provider | ProviderRole | None = None
    """A provider, or a role the engine resolves per order (return flows)."""
    policy: str | None = None
    filter: Rule | None = None
    params: dict[str, str] = Field(default_factory=dict)
    critical: bool = True
    """A critical step that fails puts the order on hold; otherwise the flow goes on."""
    max_retries: int = Field(default=3, ge=0)
    timeout_seconds: float = Field(default=120.0, gt=0)

    @property
    def internal(self) -> bool:
        return self.action in INTERNAL_ACTIONS

    @property
    def max_attempts(self) -> int:
        return self.max_retries + 1


Policy = ValidationPolicy | AssignmentPolicy


class Flow(Value):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = ""
    version: int = 0
    """0 while a draft; set when published."""
    kind: FlowKind = "order"
    """``return``: a return's flow, started when a return is requested (see ``returns``)."""
    priority: int = 0
    filter: Rule | None = None
    policies: dict[str, Policy] = Field(default_factory=dict)
    steps: tuple[Step, ...] = Field(min_length=1)
    status_reasons: dict[str, str] = Field(default_factory=dict)
    """Business event -> the reason every row of the global table gives it, for orders in
    this flow (the brief: journey 1 ends ``Completed / Done``, journey 6 ``Fulfilled``)."""
    transitions: tuple[Transition, ...] = ()
    """Rows that add to or replace the global table's, for orders in this flow."""

    @model_validator(mode="after")
    def _consistent(self) -> Flow:
        known_events = {e.business_event for e in EVENT_TYPES}
        strangers = sorted({*self.status_reasons, *(r.event for r in self.transitions)} - known_events)
        if strangers:
            raise ValueError(f"status_reasons/transitions: no business event is named {strangers}")
        ids = [s.id for s in self.steps]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"step ids must be unique; repeated: {dupes}")
        for i, step in enumerate(self.steps):
            where = f"steps[{i}] ({step.id})"
            if step.internal:
                wanted = AssignmentPolicy if step.action == "assign_data" else ValidationPolicy
                policy = self.policies.get(step.policy or "")
                if policy is None:
                    raise ValueError(
                        f"{where}: '{step.action}' needs a policy; known: {sorted(self.policies)}"
                    )
                if not isinstance(policy, wanted):
                    raise ValueError(f"{where}: policy '{step.policy}' is not a {wanted.__name__}")
                if step.action == "validate_header" and policy.scope != "header":  # type: ignore[union-attr]
                    raise ValueError(f"{where}: policy '{step.policy}' validates lines, not the header")
                if step.action == "validate_lines" and policy.scope != "lines":  # type: ignore[union-attr]
                    raise ValueError(f"{where}: policy '{step.policy}' validates the header, not lines")
            elif step.action == REPLACEMENT_ACTION:
                if self.kind != "return":
                    raise ValueError(f"{where}: '{step.action}' runs in return flows only")
            elif not step.provider:
                raise ValueError(f"{where}: '{step.action}' is a provider action and needs a provider")
            if step.action == "send_to_fulfillment_optimization":
                try:
                    BackorderSettings.from_params(step.params)
                except ValueError as exc:
                    raise ValueError(f"{where}: params: {exc}") from exc
            for trigger in step.on:
                name, _, result = trigger.rpartition(" ")
                if result in ("succeeded", "failed") and name not in ids and " " not in name:
                    raise ValueError(f"{where}: input event '{trigger}' names no step of this flow")
        return self

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)

    def table(self, base: TransitionTable) -> TransitionTable:
        """``base`` as this flow's orders see it: its reasons renamed, then its own rows."""
        if not self.status_reasons and not self.transitions:
            return base
        renamed = [
            row.model_copy(update={"reason": self.status_reasons[row.event]})
            for row in base.transitions
            if row.event in self.status_reasons and row.target != KEEP
        ]
        return base.with_rows([*renamed, *self.transitions])

    def steps_on(self, trigger: str) -> list[Step]:
        return [s for s in self.steps if trigger in s.on]

    def takes(self, state: OrderState, fields: Mapping[str, Any] | None = None) -> bool:
        """Whether the flow's filter takes the order (``fields``: its ``header_fields``, if
        made already)."""
        if self.filter is None:
            return True
        return holds(self.filter, header_fields(state) if fields is None else fields)


class FlowCatalog:
    """The published flows, every version of each, as the writer knows them."""

    def __init__(self, flows: Iterable[Flow] = ()) -> None:
        self._flows: dict[tuple[str, int], Flow] = {}
        self._latest: list[Flow] | None = None
        """``latest()`` until the next ``add``: every new order selects its flow from it."""
        for flow in flows:
            self.add(flow)

    def add(self, flow: Flow) -> None:
        if flow.version < 1:
            raise ValueError(f"flow '{flow.name}' is not published (version {flow.version})")
        self._flows[(flow.name, flow.version)] = flow
        self._latest = None

    def get(self, name: str, version: int) -> Flow | None:
        return self._flows.get((name, version))

    def latest(self) -> list[Flow]:
        return list(self._newest())

    def _newest(self) -> list[Flow]:
        if self._latest is None:
            newest: dict[str, Flow] = {}
            for flow in self._flows.values():
                if flow.name not in newest or flow.version > newest[flow.name].version:
                    newest[flow.name] = flow
            self._latest = sorted(newest.values(), key=lambda f: (-f.priority, f.name))
        return self._latest

    def select(self, state: OrderState, kind: FlowKind = "order") -> Flow | None:
        """The newest version of the highest-priority flow of ``kind`` whose filter takes the
        order; the order's header fields made once for all the filters."""
        fields: dict[str, Any] | None = None
        for flow in self._newest():
            if flow.kind != kind:
                continue
            if flow.filter is not None and fields is None:
                fields = header_fields(state)
            if flow.takes(state, fields):
                return flow
        return None

    def __len__(self) -> int:
        return len(self._flows)


def lines_to_sync(state: OrderState, sync_lines: str = "all") -> list[LineState]:
    """The lines an export sends: every open line, or (``with_warehouse``, journey 6) only
    the lines with a shipping warehouse that no earlier sync sent. Lines waiting in
    Backorder hold are never sent."""
    lines = [line for line in state.lines if state.line_status(line) != "Canceled" and not line.parked]
    if sync_lines == "with_warehouse":
        lines = [line for line in lines if line.warehouse and not line.synced]
    return lines


def readiness(state: OrderState, sync_lines: str = "all") -> list[str]:
    """Why the order may not be exported yet (empty: ready). Like the product's dual-write
    filters: a company on the header, and a site and a warehouse on every line to sync.
    With ``sync_lines="with_warehouse"`` (journey 6) only lines that have a warehouse
    are synced, and at least one must."""
    missing = []
    if not state.company:
        missing.append("the header has no company")
    lines = lines_to_sync(state, sync_lines)
    if sync_lines == "with_warehouse" and not lines:
        missing.append("no line has a shipping warehouse")
    for line in lines:
        gaps = [name for name in ("site", "warehouse") if not getattr(line, name)]
        if gaps:
            missing.append(f"line {line.line_id} has no {' and no '.join(gaps)}")
    return missing


class FlowPublished(Value):
    """A published flow version as it travels on ``flow.definitions``."""

    name: str
    version: int
    content_hash: str
    published_at: datetime
    source: str
    definition: str

    def flow(self) -> Flow:
        return Flow.model_validate_json(self.definition).model_copy(update={"version": self.version})
