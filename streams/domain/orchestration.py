"""The flow engine: which step runs next, and what it asks for. Pure.

After every event the writer appends, ``FlowEngine.react`` looks at the order's flow
version and returns the commands the triggered steps issue: the writer decides them at
once, in the same transaction (validation and data assignment are pure and run right
there, on the fast path), and publishes a request to the provider's topic for every
``ProviderActionRequested`` event. Command ids derive from the triggering event and the
step, so a re-run after a crash issues the same commands.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta

from streams.domain import cancellation, edits, returns
from streams.domain.commands import (
    AssignOrderData,
    Command,
    CommandEnvelope,
    HoldOrder,
    HoldPreorderLines,
    HoldProviderAction,
    RecordReplacement,
    RecordStepResult,
    RecordValidation,
    RequestProviderAction,
    StartFlow,
    StartReturnFlow,
)
from streams.domain.control import Pauses
from streams.domain.decider import decide
from streams.domain.errors import DomainError
from streams.domain.events import (
    BackorderCheckStarted,
    Event,
    FlowStarted,
    FlowStepRecorded,
    OrderConfirmed,
    OrderCreated,
    OrderEdited,
    OrderReprocessed,
    ProviderActionRequested,
    ReturnFlowStarted,
    ReturnRequested,
    StepResult,
)
from streams.domain.flows import (
    PROVIDER_ROLES,
    REPLACEMENT_ACTION,
    START,
    SYNC_ACTIONS,
    Flow,
    FlowCatalog,
    Step,
    lines_to_sync,
    readiness,
    runs_on_terminal,
)
from streams.domain.ids import reaction_id
from streams.domain.order import OrderState, evolve, return_of_step, return_step
from streams.domain.order_handling import DEFAULT_HANDLING, OrderHandling
from streams.domain.policies import AssignmentPolicy, ValidationPolicy, assign, header_fields, holds, validate
from streams.domain.preorders import NO_PRODUCTS, ProductCatalog, preorder_launches
from streams.domain.transitions import CANCELED, DEFAULT_TRANSITIONS, ON_HOLD, TERMINAL, TransitionTable
from streams.domain.values import Provider, ProviderRole

STOPPED = frozenset({ON_HOLD})
"""An order in these statuses runs no step until an operator reprocesses it."""


class FlowEngine:
    def __init__(
        self,
        catalog: FlowCatalog,
        handling: OrderHandling = DEFAULT_HANDLING,
        products: ProductCatalog = NO_PRODUCTS,
        pauses: Pauses | None = None,
    ) -> None:
        self.catalog = catalog
        self.handling = handling
        self.products = products
        self.pauses = pauses if pauses is not None else Pauses()
        """Paused flow versions and providers: their requests are held (see ``control``)."""
        self._tables: dict[tuple[str, int, int], TransitionTable] = {}
        self._steps: dict[int, tuple[Flow, dict[str, tuple[Step, ...]]]] = {}
        """Each flow's steps by input event (see ``steps_on``), by the flow's id."""

    def table_for(self, state: OrderState | None, base: TransitionTable) -> TransitionTable:
        """The transition table of the order's flow: ``base`` with the flow's own rows."""
        if state is None or state.flow is None or state.flow_version is None:
            return base
        key = (state.flow, state.flow_version, id(base))
        if key not in self._tables:
            flow = self.catalog.get(state.flow, state.flow_version)
            self._tables[key] = flow.table(base) if flow is not None else base
        return self._tables[key]

    def steps_on(self, flow: Flow, trigger: str) -> tuple[Step, ...]:
        """``flow.steps_on(trigger)``, looked up: every event asks, and a flow is immutable,
        so its steps by input event are listed once (the flow is kept with them: its id is
        not reused while the engine holds it)."""
        known = self._steps.get(id(flow))
        if known is None or known[0] is not flow:
            index = {trigger: tuple(flow.steps_on(trigger)) for step in flow.steps for trigger in step.on}
            known = self._steps[id(flow)] = (flow, index)
        return known[1].get(trigger, ())

    def react(self, state: OrderState, event: Event) -> list[Command]:
        """The commands the steps triggered by ``event`` issue, ``state`` being the order after it."""
        if isinstance(event, _STARTS):
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
        commands = self._desk(flow, state, event)
        if state.status in STOPPED and not _backorder_check_of_a_backordered_order(state, event):
            return commands
        terminal = state.status in TERMINAL
        if terminal:
            commands = _close_open_steps(flow, state, event) + commands
        for trigger in _triggers(event):
            for step in self.steps_on(flow, trigger):
                if not terminal or runs_on_terminal(state, step.id, step.action):
                    commands += self._run(flow, step, state, event)
        return commands

    def _desk(self, flow: Flow, state: OrderState, event: Event) -> list[Command]:
        """What the engine does for every flow: cancels told to the providers that hold the
        order, an edited order validated again, and the steps of returns. Any other event
        (most of them) has nothing here: passed over at once."""
        if not _at_the_desk(event):
            return []

        def env(what: str) -> CommandEnvelope:
            return _envelope(event, what, flow)

        if isinstance(event, OrderEdited):
            return edits.revalidation(flow, state, event, env)
        commands: list[Command] = [
            self._tell(flow, state, event, cancel) for cancel in cancellation.cancels_to_send(state, event)
        ]
        return commands + self._returns(state, event)

    def _tell(
        self, flow: Flow, state: OrderState, event: Event, cancel: cancellation.ProviderCancel
    ) -> RequestProviderAction:
        at = event.envelope.occurred_at
        reason = getattr(event, "reason", "")
        params = {"reason": reason, **({"line_ids": ",".join(cancel.line_ids)} if cancel.line_ids else {})}
        steps = self.handling.provider_actions
        return RequestProviderAction(
            envelope=_envelope(event, cancel.step, flow),
            step=f"{cancel.step}/{event.envelope.seq}",
            provider=cancel.provider,
            action=cancel.action,
            attempt=1,
            max_attempts=steps.max_attempts,
            critical=False,
            params=params,
            not_before=at,
            deadline=at + timedelta(seconds=steps.timeout_seconds),
        )

    # -- returns
    def _returns(self, state: OrderState, event: Event) -> list[Command]:
        if isinstance(event, ReturnRequested):
            chosen = self.catalog.select(state, kind="return")
            if chosen is None:
                return []  # no return flow published: the return waits for providers' reports
            start = StartReturnFlow(
                envelope=_envelope(event, "return-flow", chosen),
                rma_id=event.rma_id,
                flow=chosen.name,
                flow_version=chosen.version,
            )
            return [start]
        rma = returns.rma_of(event)
        trigger = returns.RETURN_REQUESTED if isinstance(event, ReturnFlowStarted) else event.business_event
        if rma is None and isinstance(event, FlowStepRecorded):
            rma = return_of_step(event.step)
            trigger = f"{event.step.rpartition(':')[2]} {event.result}"
            if event.result not in ("succeeded", "failed"):
                return []
        found = state.return_(rma) if rma is not None else None
        if found is None or found.flow is None or found.flow_version is None:
            return []
        flow = self.catalog.get(found.flow, found.flow_version)
        if flow is None:
            return []
        terminal = state.status in TERMINAL
        commands: list[Command] = []
        for step in self.steps_on(flow, trigger):
            if not terminal or runs_on_terminal(state, return_step(found.rma_id, step.id), step.action):
                commands += self._return_step(flow, step, state, event, found.rma_id, trigger)
        return commands

    def _return_step(
        self, flow: Flow, step: Step, state: OrderState, event: Event, rma: str, trigger: str
    ) -> list[Command]:
        """One return flow step for one return, under its own id; a provider role resolved."""
        found = state.return_(rma)
        assert found is not None
        if step.action == REPLACEMENT_ACTION and not returns.replacement_due(self.handling, found, trigger):
            return []  # the replacement policy says: not now
        role = step.provider if isinstance(step.provider, ProviderRole) else None
        provider = _role(state, role) if role is not None else step.provider
        params = {
            **step.params,
            "rma_id": rma,
            "return_lines": ",".join(f"{x.line_id}:{x.quantity}" for x in found.lines),
        }
        if found.warehouse:
            params["warehouse"] = found.warehouse
        instance = step.model_copy(
            update={"id": return_step(rma, step.id), "provider": provider, "params": params}
        )
        if role is not None and provider is None:
            why = f"no {PROVIDER_ROLES[role]} for this order"
            return [_skipped(flow, instance, event, why)]
        return self._run(flow, instance, state, event)

    def _hold_if_paused(self, flow: Flow, state: OrderState, event: ProviderActionRequested) -> list[Command]:
        """A request (first attempt or retry) to a paused target waits at its step."""
        target = (
            self.pauses.holding(state.flow, state.flow_version, event.provider) if len(self.pauses) else None
        )
        if target is None:
            return []
        envelope = _envelope(event, f"{event.step}/held", flow)
        return [HoldProviderAction(envelope=envelope, action_id=event.action_id, target=target)]

    def _start(self, state: OrderState, event: OrderCreated | OrderConfirmed) -> list[Command]:
        """An order starts in its flow when it is created, or (made in F&O) confirmed."""
        flow = self.catalog.select(state)
        if flow is None or state.flow is not None or state.awaiting_confirmation:
            return []
        return [StartFlow(envelope=_envelope(event, "flow", flow), flow=flow.name, flow_version=flow.version)]

    def _run(self, flow: Flow, step: Step, state: OrderState, cause: Event) -> list[Command]:
        call = _StepCall(flow, step, cause)
        if step.filter is not None and not holds(step.filter, header_fields(state)):
            return [call.result("skipped", "filter policy did not match")]
        if step.action == REPLACEMENT_ACTION:
            rma = return_of_step(step.id) or ""
            replacement = returns.replacement_id(state, rma)
            ordered = RecordReplacement(envelope=call.env(0), rma_id=rma, replacement_order_id=replacement)
            return [ordered, call.result("succeeded", f"replacement order {replacement}")]
        if step.action in ("validate_header", "validate_lines"):
            return _validation(call, state)
        if step.action == "assign_data":
            return _assignment(call, state)
        return self._provider_action(call, state)

    def _provider_action(self, call: _StepCall, state: OrderState) -> list[Command]:
        """A provider step's request; an F&O sync waits (or holds the order) until the
        order is ready, and DOM is asked only about launched lines."""
        step, cause = call.step, call.cause
        sync_lines = step.params.get("sync_lines", "all")
        if (
            step.action in SYNC_ACTIONS
            and step.provider == "fno"
            and (missing := readiness(state, sync_lines))
        ):
            why = "not ready to sync to F&O: " + "; ".join(missing)
            if not step.critical:
                return [call.result("failed", why)]
            return [
                HoldOrder(envelope=call.env(1), reason=f"step '{step.id}': {why}"),
                call.result("failed", why),
            ]
        params = step.params
        if step.action in SYNC_ACTIONS and sync_lines == "with_warehouse":
            # the provider is told exactly which lines to sync; the order marks them synced
            params = {**params, "lines": ",".join(x.line_id for x in lines_to_sync(state, sync_lines))}
        first: list[Command] = []
        if step.action == "send_to_fulfillment_optimization":
            params = {**self.handling.backorder_params(), **params}
            first, asked = self._preorders(state, cause, call.env(2), params)
            if not asked:
                return [*first, call.result("skipped", "every line waits for its launch date")]
            params = {**params, "line_ids": ",".join(asked)}
        at = cause.envelope.occurred_at
        return [
            *first,
            RequestProviderAction(
                envelope=call.env(0),
                step=step.id,
                provider=step.provider or "",
                action=step.action,
                attempt=1,
                max_attempts=step.max_attempts,
                critical=step.critical,
                params=params,
                not_before=at,
                deadline=at + timedelta(seconds=step.timeout_seconds),
            ),
        ]

    def _preorders(
        self, state: OrderState, cause: Event, env: CommandEnvelope, params: dict[str, str]
    ) -> tuple[list[Command], list[str]]:
        """The lines DOM is asked to source: for the backorder job's check, the lines it names;
        otherwise every open line but preorders not launched yet, which go on Preorder hold."""
        if params.get("scope") == "backorders":
            named = cause.line_ids if isinstance(cause, BackorderCheckStarted) else ()
            return [], list(named) or [x.line_id for x in state.parked_lines]
        launches = preorder_launches(state, self.products, cause.envelope.occurred_at)
        waiting = {x.line_id for x in launches}
        asked = [
            x.line_id
            for x in state.lines
            if not x.parked and state.line_status(x) != CANCELED and x.line_id not in waiting
        ]
        return ([HoldPreorderLines(envelope=env, launches=tuple(launches))] if launches else []), asked


@dataclass(slots=True)
class _StepCall:
    """One run of one step, caused by one event: its commands' envelopes and its result."""

    flow: Flow
    step: Step
    cause: Event

    def env(self, n: int) -> CommandEnvelope:
        return _envelope(self.cause, f"{self.step.id}/{n}", self.flow)

    def result(self, outcome: str, details: str = "", n: int = 9) -> RecordStepResult:
        return RecordStepResult(
            envelope=self.env(n),
            flow=self.flow.name,
            flow_version=self.flow.version,
            step=self.step.id,
            result=outcome,
            details=details,
        )


def _validation(call: _StepCall, state: OrderState) -> list[Command]:
    """A validation step: its policy's verdict; a critical failure also refuses the order."""
    policy = call.flow.policies[call.step.policy or ""]
    assert isinstance(policy, ValidationPolicy)
    verdict = validate(policy, state)
    if verdict.passed:
        notes = "; ".join(verdict.warnings)
        return [
            RecordValidation(envelope=call.env(0), policy=policy.name, passed=True),
            call.result("succeeded", f"warnings: {notes}" if notes else ""),
        ]
    if not call.step.critical:
        return [call.result("failed", "; ".join(verdict.errors))]
    return [
        RecordValidation(envelope=call.env(0), policy=policy.name, passed=False, reasons=verdict.errors),
        call.result("failed", "; ".join(verdict.errors)),
    ]


def _assignment(call: _StepCall, state: OrderState) -> list[Command]:
    """An assignment step: what its policy fills in, said in the step's result."""
    policy = call.flow.policies[call.step.policy or ""]
    assert isinstance(policy, AssignmentPolicy)
    found = assign(policy, state)
    if found.company is None and found.invoice_customer is None and not found.lines:
        return [call.result("succeeded", "nothing to assign")]
    said = [f"{k}={v}" for k, v in (("company", found.company), ("invoice", found.invoice_customer)) if v]
    said += [f"line {a.line_id}: site={a.site} warehouse={a.warehouse}" for a in found.lines]
    return [
        AssignOrderData(envelope=call.env(0), policy=policy.name, **found.__dict__),
        call.result("succeeded", "; ".join(said)),
    ]


def _role(state: OrderState, role: ProviderRole) -> Provider | None:
    """The provider playing ``role`` for this order (None: nobody does)."""
    if role is ProviderRole.CHANNEL:
        return cancellation.channel_provider(state)
    if role is ProviderRole.SHIPPER:
        return state.shipped_by
    return state.invoiced_by or state.billing_provider


def _skipped(flow: Flow, step: Step, cause: Event, why: str) -> RecordStepResult:
    return RecordStepResult(
        envelope=_envelope(cause, f"{step.id}/9", flow),
        flow=flow.name,
        flow_version=flow.version,
        step=step.id,
        result=StepResult.SKIPPED,
        details=why,
    )


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
            if engine is None:
                events = decide(current, outcome.state, table)
            else:
                own = engine.table_for(outcome.state, table)
                events = decide(current, outcome.state, own, engine.handling)
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
    provider ends as canceled, but for what ``runs_on_terminal`` lets run (notifications,
    an open return's steps)."""
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
        if not runs_on_terminal(state, pending.step, pending.action)
    ]


def _backorder_check_of_a_backordered_order(state: OrderState, event: Event) -> bool:
    """An order whose every open line waits in Backorder hold is On hold, yet the backorder
    job's check must still reach DOM: that hold is the lines', not an operator's."""
    open_lines = [line for line in state.lines if state.line_status(line) != CANCELED]
    return isinstance(event, BackorderCheckStarted) and bool(open_lines) and all(x.parked for x in open_lines)


_STARTS = (OrderCreated, OrderConfirmed)
"""Events an order starts in its flow on (see ``FlowEngine._start``)."""

_DESK_EVENTS = (OrderEdited, ReturnRequested, *cancellation.CANCELS, *returns.RETURN_EVENTS)
"""Events ``FlowEngine._desk`` acts on: an edit (``edits``), a new return (``_returns``), and
what the modules it calls say they act on; and a return step's result (``_at_the_desk``)."""


def _at_the_desk(event: Event) -> bool:
    """Whether ``FlowEngine._desk`` has anything to do for ``event``."""
    if isinstance(event, FlowStepRecorded):
        return return_of_step(event.step) is not None
    return isinstance(event, _DESK_EVENTS)


def _triggers(event: Event) -> list[str]:
    if isinstance(event, FlowStarted):
        return [START]
    if isinstance(event, FlowStepRecorded):
        return [f"{event.step} {event.result}"] if event.result in ("succeeded", "failed") else []
    return [event.business_event]


def _envelope(cause: Event, what: str, flow: Flow) -> CommandEnvelope:
    """A reaction's envelope, assembled: every value is of its field's type already (the
    event's own, validated when it was made)."""
    env = cause.envelope
    return CommandEnvelope.assemble(
        {
            "command_id": reaction_id(env.event_id, what),
            "order_id": env.order_id,
            "issued_at": env.occurred_at,
            "correlation_id": env.correlation_id,
            "source": f"flow:{flow.name}@v{flow.version}",
        }
    )
