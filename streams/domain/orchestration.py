"""The flow engine: which step runs next, and what it asks for. Pure.

After every event the writer appends, ``FlowEngine.react`` looks at the order's flow
version and returns the commands the triggered steps issue: the writer decides them at
once, in the same transaction (validation and data assignment are pure and run right
there, on the fast path), and publishes a request to the provider's topic for every
``ProviderActionRequested`` event. Command ids derive from the triggering event and the
step, so a re-run after a crash issues the same commands.
"""

from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta

from streams.domain.commands import (
    AssignOrderData,
    Command,
    CommandEnvelope,
    HoldOrder,
    HoldProviderAction,
    RecordStepResult,
    RecordValidation,
    RequestProviderAction,
    StartFlow,
)
from streams.domain.control import Pauses
from streams.domain.decider import decide
from streams.domain.errors import DomainError
from streams.domain.events import (
    BackorderCheckStarted,
    Event,
    FlowStarted,
    FlowStepRecorded,
    OrderCreated,
    OrderReprocessed,
    ProviderActionRequested,
    StepResult,
)
from streams.domain.flows import (
    NOTIFICATION_ACTIONS,
    START,
    SYNC_ACTIONS,
    Flow,
    FlowCatalog,
    Step,
    lines_to_sync,
    readiness,
)
from streams.domain.order import OrderState, evolve
from streams.domain.policies import AssignmentPolicy, ValidationPolicy, assign, header_fields, holds, validate
from streams.domain.transitions import CANCELED, DEFAULT_TRANSITIONS, ON_HOLD, TERMINAL, TransitionTable

_COMMANDS = uuid.UUID("0b6c4d2e-7f0a-4c53-9a51-3f7e2d8c1b90")

STOPPED = frozenset({ON_HOLD})
"""An order in these statuses runs no step until an operator reprocesses it."""


class FlowEngine:
    def __init__(self, catalog: FlowCatalog, pauses: Pauses | None = None) -> None:
        self.catalog = catalog
        self.pauses = pauses if pauses is not None else Pauses()
        """Paused flow versions and providers: their requests are held (see ``control``)."""

    def react(self, state: OrderState, event: Event) -> list[Command]:
        """The commands the steps triggered by ``event`` issue, ``state`` being the order after it."""
        if isinstance(event, OrderCreated):
            return self._start(state, event)
        if state.flow is None or state.flow_version is None:
            return []
        flow = self.catalog.get(state.flow, state.flow_version)
        if flow is None:
            return []  # a version this writer has not loaded yet: nothing to run
        if isinstance(event, OrderReprocessed):
            return self._run(flow, flow.step(event.step), state, event)
        if isinstance(event, ProviderActionRequested) and (held := self._hold_if_paused(flow, state, event)):
            return held
        if state.status in STOPPED and not _backorder_check_of_a_backordered_order(state, event):
            return []
        terminal = state.status in TERMINAL
        commands: list[Command] = _close_open_steps(flow, state, event) if terminal else []
        for trigger in _triggers(event):
            for step in flow.steps_on(trigger):
                if not terminal or step.action in NOTIFICATION_ACTIONS:
                    commands += self._run(flow, step, state, event)
        return commands

    def _hold_if_paused(self, flow: Flow, state: OrderState, event: ProviderActionRequested) -> list[Command]:
        """A request (first attempt or retry) to a paused target waits at its step."""
        target = (
            self.pauses.holding(state.flow, state.flow_version, event.provider) if len(self.pauses) else None
        )
        if target is None:
            return []
        envelope = _envelope(event, f"{event.step}/held", flow)
        return [HoldProviderAction(envelope=envelope, action_id=event.action_id, target=target)]

    def _start(self, state: OrderState, event: OrderCreated) -> list[Command]:
        flow = self.catalog.select(state)
        if flow is None or state.flow is not None:
            return []
        return [StartFlow(envelope=_envelope(event, "flow", flow), flow=flow.name, flow_version=flow.version)]

    def _run(self, flow: Flow, step: Step, state: OrderState, cause: Event) -> list[Command]:
        def env(n: int) -> CommandEnvelope:
            return _envelope(cause, f"{step.id}/{n}", flow)

        def result(outcome: str, details: str = "", n: int = 9) -> RecordStepResult:
            return RecordStepResult(
                envelope=env(n),
                flow=flow.name,
                flow_version=flow.version,
                step=step.id,
                result=outcome,
                details=details,
            )

        if step.filter is not None and not holds(step.filter, header_fields(state)):
            return [result("skipped", "filter policy did not match")]
        if step.action in ("validate_header", "validate_lines"):
            policy = flow.policies[step.policy or ""]
            assert isinstance(policy, ValidationPolicy)
            verdict = validate(policy, state)
            if verdict.passed:
                notes = "; ".join(verdict.warnings)
                return [
                    RecordValidation(envelope=env(0), policy=policy.name, passed=True),
                    result("succeeded", f"warnings: {notes}" if notes else ""),
                ]
            if not step.critical:
                return [result("failed", "; ".join(verdict.errors))]
            return [
                RecordValidation(envelope=env(0), policy=policy.name, passed=False, reasons=verdict.errors),
                result("failed", "; ".join(verdict.errors)),
            ]
        if step.action == "assign_data":
            policy = flow.policies[step.policy or ""]
            assert isinstance(policy, AssignmentPolicy)
            found = assign(policy, state)
            if found.company is None and found.invoice_customer is None and not found.lines:
                return [result("succeeded", "nothing to assign")]
            said = [
                f"{k}={v}" for k, v in (("company", found.company), ("invoice", found.invoice_customer)) if v
            ]
            said += [f"line {a.line_id}: site={a.site} warehouse={a.warehouse}" for a in found.lines]
            return [
                AssignOrderData(envelope=env(0), policy=policy.name, **found.model_dump()),
                result("succeeded", "; ".join(said)),
            ]
        sync_lines = step.params.get("sync_lines", "all")
        if (
            step.action in SYNC_ACTIONS
            and step.provider == "fno"
            and (missing := readiness(state, sync_lines))
        ):
            why = "not ready to sync to F&O: " + "; ".join(missing)
            if not step.critical:
                return [result("failed", why)]
            return [HoldOrder(envelope=env(1), reason=f"step '{step.id}': {why}"), result("failed", why)]
        params = step.params
        if step.action in SYNC_ACTIONS and sync_lines == "with_warehouse":
            # the provider is told exactly which lines to sync; the order marks them synced
            params = {**params, "lines": ",".join(x.line_id for x in lines_to_sync(state, sync_lines))}
        at = cause.envelope.occurred_at
        return [
            RequestProviderAction(
                envelope=env(0),
                step=step.id,
                provider=step.provider or "",
                action=step.action,
                attempt=1,
                max_attempts=step.max_attempts,
                critical=step.critical,
                params=params,
                not_before=at,
                deadline=at + timedelta(seconds=step.timeout_seconds),
            )
        ]


@dataclass
class Outcome:
    """What one command did to an order, the flow's reactions included."""

    state: OrderState | None
    events: list[Event] = field(default_factory=list)
    refused: list[tuple[Command, DomainError]] = field(default_factory=list)
    duplicate: bool = False
    """The order had decided this command already (a redelivery): nothing happened."""


MAX_CHAIN = 200
"""More reactions than this to one command means a flow that loops: stop it."""


def process(
    command: Command,
    state: OrderState | None,
    engine: FlowEngine | None,
    table: TransitionTable = DEFAULT_TRANSITIONS,
) -> Outcome:
    """Decide ``command``, then every command the flow issues in reaction, to quiescence.

    Raises ``DomainError`` if ``command`` itself is refused. A refused reaction is kept in
    ``refused`` and ends its branch; the events before it stand.
    """
    if state is not None and state.has_decided(command.envelope.command_id):
        return Outcome(state, duplicate=True)
    outcome = Outcome(state)
    queue: deque[Command] = deque([command])
    first = True
    while queue:
        if len(outcome.events) > MAX_CHAIN:
            raise DomainError(command.envelope.order_id, f"flow reactions exceed {MAX_CHAIN} events: a loop?")
        current = queue.popleft()
        try:
            events = decide(current, outcome.state, table)
        except DomainError as exc:
            if first:
                raise
            outcome.refused.append((current, exc))
            continue
        first = False
        for event in events:
            outcome.state = evolve(outcome.state, event)
            outcome.events.append(event)
            if engine is not None:
                queue.extend(engine.react(outcome.state, event))
    return outcome


def _close_open_steps(flow: Flow, state: OrderState, cause: Event) -> list[Command]:
    """A terminal order has no open step and no live timer: every step still waiting for a
    provider (notifications aside, which may still tell the channel) ends as canceled."""
    return [
        RecordStepResult(
            envelope=_envelope(cause, f"{pending.step}/closed", flow),
            flow=flow.name,
            flow_version=flow.version,
            step=pending.step,
            result=StepResult.CANCELED,
            details=f"the order is {state.status}",
            attempt=pending.attempt,
        )
        for pending in state.pending_actions
        if pending.action not in NOTIFICATION_ACTIONS
    ]


def _backorder_check_of_a_backordered_order(state: OrderState, event: Event) -> bool:
    """An order whose every open line waits in Backorder hold is On hold, yet the backorder
    job's check must still reach DOM: that hold is the lines', not an operator's."""
    open_lines = [line for line in state.lines if state.line_status(line) != CANCELED]
    return isinstance(event, BackorderCheckStarted) and bool(open_lines) and all(x.parked for x in open_lines)


def _triggers(event: Event) -> list[str]:
    if isinstance(event, FlowStarted):
        return [START]
    if isinstance(event, FlowStepRecorded):
        return [f"{event.step} {event.result}"] if event.result in ("succeeded", "failed") else []
    return [event.business_event]


def _envelope(cause: Event, what: str, flow: Flow) -> CommandEnvelope:
    env = cause.envelope
    return CommandEnvelope(
        command_id=str(uuid.uuid5(_COMMANDS, f"{env.event_id}/{what}")),
        order_id=env.order_id,
        issued_at=env.occurred_at,
        correlation_id=env.correlation_id,
        source=f"flow:{flow.name}@v{flow.version}",
    )
