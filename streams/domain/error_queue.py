"""The error queues: what went wrong, where, and whether it can be reprocessed. Pure.

IOM's monitoring pages list provider inbound errors (a webhook or poll the orders
refused: unknown order, a status the order cannot take), provider action failures (a
provider that refused or never answered, after every retry), orchestration step failures
(a step the flow engine itself could not run: not ready to sync, a refused reaction) and
policy failures (a validation that failed). Here each is an ``ErrorRecorded`` on
``oms.errors``, derived from the order events and the writer's rejections by
``ErrorQueue.observe_*``; ``ErrorResolved`` follows when the cause went away (the step
later succeeded, the refused command was accepted, the order ended). Ids derive from what
caused the error, so deriving again (a restart) yields the same records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from streams.domain.commands import CommandEnvelope, CommandRejected, ReprocessOrder
from streams.domain.events import Event, FlowStepRecorded, ProviderActionRequested, StepResult
from streams.domain.flows import INTERNAL_ACTIONS
from streams.domain.transitions import TERMINAL
from streams.domain.values import Value


class ErrorCategory(StrEnum):
    PROVIDER_INBOUND = "provider_inbound"
    PROVIDER_ACTION = "provider_action"
    ORCHESTRATION_STEP = "orchestration_step"
    POLICY = "policy"


class Resolution(StrEnum):
    REPROCESSED = "reprocessed"
    """A reprocess ran and its step (or its resent command) went through."""
    SETTLED = "settled"
    """The step succeeded later without a reprocess (a late answer, a provider's report)."""
    SUPERSEDED = "superseded"
    """The order completed or was canceled: nothing is left to reprocess."""


class ErrorRecorded(Value):
    """One entry of an error queue (topic ``oms.errors``, key ``error_id``)."""

    error_id: str
    category: str
    occurred_at: datetime
    message: str
    reprocessable: bool
    order_id: str | None = None
    provider: str | None = None
    step: str | None = None
    action: str | None = None
    command_type: str | None = None
    command_id: str | None = None
    origin: str = ""
    """What it was derived from: an event id, or the refused command's id."""
    command: bytes | None = None
    """The refused command as it was sent (inbound errors): reprocess sends it again."""


class ErrorResolved(Value):
    error_id: str
    resolved_at: datetime
    how: str
    details: str = ""


ErrorRecord = ErrorRecorded | ErrorResolved

INBOUND_SOURCES = ("connector:", "fake:", "dom")
"""Sources of commands that came in from a provider (webhooks, polls, answers): the
connectors, the dev stand-ins and DOM."""

StepActions = Callable[[str, int, str], str | None]
"""(flow, version, step) -> the step's action, if the flow is known."""


@dataclass
class QueuedError:
    record: ErrorRecorded
    resolved: ErrorResolved | None = None
    reprocess_requested_at: datetime | None = None

    @property
    def state(self) -> str:
        if self.resolved is not None:
            return "resolved"
        return "reprocessing" if self.reprocess_requested_at is not None else "open"


@dataclass(frozen=True)
class ErrorQuery:
    provider: str | None = None
    category: ErrorCategory | None = None
    since: datetime | None = None
    until: datetime | None = None
    order_id: str | None = None
    state: str | None = None
    """``open`` (open or reprocessing), ``resolved``, or None for all."""
    limit: int = 100


@dataclass
class _OrderErrors:
    open: set[str] = field(default_factory=set)
    requests: dict[str, tuple[str, str]] = field(default_factory=dict)
    """step -> (provider, action) of its latest request."""


class ErrorQueue:
    """Every error seen, newest last, with an index of the open ones per order."""

    def __init__(self, step_actions: StepActions | None = None) -> None:
        self._errors: dict[str, QueuedError] = {}
        self._orders: dict[str, _OrderErrors] = {}
        self._inbound: dict[str, str] = {}
        """Command id of a refused inbound command -> its open error."""
        self._step_actions = step_actions

    def __len__(self) -> int:
        return len(self._errors)

    def get(self, error_id: str) -> QueuedError | None:
        return self._errors.get(error_id)

    def open_count(self) -> int:
        return sum(1 for q in self._errors.values() if q.resolved is None)

    # -- the fold (records read back from oms.errors, or just derived)
    def apply(self, record: ErrorRecord) -> bool:
        """Fold one record; False if it changes nothing (seen before)."""
        if isinstance(record, ErrorResolved):
            queued = self._errors.get(record.error_id)
            if queued is None or queued.resolved is not None:
                return False
            queued.resolved = record
            if queued.record.order_id is not None:
                self._order(queued.record.order_id).open.discard(record.error_id)
            if queued.record.command_id is not None:
                self._inbound.pop(queued.record.command_id, None)
            return True
        if record.error_id in self._errors:
            return False
        self._errors[record.error_id] = QueuedError(record)
        if record.order_id is not None:
            self._order(record.order_id).open.add(record.error_id)
        if record.category == ErrorCategory.PROVIDER_INBOUND and record.command_id is not None:
            self._inbound[record.command_id] = record.error_id
        return True

    def mark_reprocessing(self, error_id: str, at: datetime) -> None:
        queued = self._errors.get(error_id)
        if queued is not None and queued.resolved is None:
            queued.reprocess_requested_at = at

    def _order(self, order_id: str) -> _OrderErrors:
        found = self._orders.get(order_id)
        if found is None:
            found = self._orders[order_id] = _OrderErrors()
        return found

    # -- deriving records
    def observe_event(self, event: Event) -> list[ErrorRecord]:
        """The records ``event`` causes (already folded in)."""
        env = event.envelope
        out: list[ErrorRecord] = []
        inbound = self._inbound.get(env.causation_id)
        if inbound is not None:
            out.append(
                self._resolved(inbound, env.occurred_at, Resolution.REPROCESSED, "the command went through")
            )
        if isinstance(event, ProviderActionRequested):
            self._order(env.order_id).requests[event.step] = (event.provider, event.action)
        elif isinstance(event, FlowStepRecorded):
            out += self._step(event)
        if env.status in TERMINAL:
            orders = self._orders.get(env.order_id)
            for error_id in sorted(orders.open) if orders else ():
                out.append(
                    self._resolved(
                        error_id, env.occurred_at, Resolution.SUPERSEDED, f"the order is {env.status}"
                    )
                )
        return [r for r in out if self.apply(r)]

    def _step(self, event: FlowStepRecorded) -> list[ErrorRecord]:
        env = event.envelope
        if event.result in (StepResult.SUCCEEDED, StepResult.SKIPPED):
            orders = self._orders.get(env.order_id)
            if orders is None:
                return []
            out: list[ErrorRecord] = []
            for error_id in sorted(orders.open):
                queued = self._errors[error_id]
                if queued.record.step == event.step:
                    how = Resolution.REPROCESSED if queued.reprocess_requested_at else Resolution.SETTLED
                    out.append(
                        self._resolved(error_id, env.occurred_at, how, f"step {event.step} {event.result}")
                    )
            return out
        if event.result != StepResult.FAILED:
            return []
        provider, action = self._order(env.order_id).requests.get(event.step, (None, None))
        category = self._category(event, action)
        record = ErrorRecorded(
            error_id=f"{category.value}:{env.event_id}",
            category=category.value,
            occurred_at=env.occurred_at,
            message=event.details or f"step {event.step} failed",
            reprocessable=True,
            order_id=env.order_id,
            provider=provider if category is ErrorCategory.PROVIDER_ACTION else None,
            step=event.step,
            action=action,
            origin=env.event_id,
        )
        return [record]

    def _category(self, event: FlowStepRecorded, action: str | None) -> ErrorCategory:
        """An answer (a connector's, or the timer's) that failed the step is the provider's;
        the engine failing a step itself is a policy's (validation) or the step's own."""
        if not event.envelope.source.startswith("flow:"):
            return ErrorCategory.PROVIDER_ACTION
        if self._step_actions is not None:
            action = self._step_actions(event.flow, event.flow_version, event.step) or action
        if action is not None:
            return ErrorCategory.POLICY if action in INTERNAL_ACTIONS else ErrorCategory.ORCHESTRATION_STEP
        return ErrorCategory.ORCHESTRATION_STEP if "not ready" in event.details else ErrorCategory.POLICY

    def observe_rejection(self, rejection: CommandRejected) -> list[ErrorRecord]:
        """A refused command from a provider is an inbound error; a refused flow reaction is
        an orchestration step error. Operators' own refusals are answered to them."""
        source = rejection.source or ""
        if source.startswith(INBOUND_SOURCES):
            category, prefix = ErrorCategory.PROVIDER_INBOUND, "inbound"
            provider = source.partition(":")[2] or source
        elif source.startswith("flow:"):
            category, prefix, provider = ErrorCategory.ORCHESTRATION_STEP, "refused", None
        else:
            return []
        record = ErrorRecorded(
            error_id=f"{prefix}:{rejection.command_id}",
            category=category.value,
            occurred_at=rejection.rejected_at,
            message=rejection.error,
            reprocessable=category is ErrorCategory.PROVIDER_INBOUND and rejection.command is not None,
            order_id=rejection.order_id,
            provider=provider,
            command_type=rejection.command_type,
            command_id=rejection.command_id,
            origin=rejection.command_id,
            command=rejection.command if category is ErrorCategory.PROVIDER_INBOUND else None,
        )
        return [record] if self.apply(record) else []

    def _resolved(self, error_id: str, at: datetime, how: Resolution, details: str) -> ErrorResolved:
        return ErrorResolved(error_id=error_id, resolved_at=at, how=how.value, details=details)

    # -- queries
    def query(self, q: ErrorQuery) -> list[QueuedError]:
        """Newest first."""
        out = []
        for queued in reversed(list(self._errors.values())):
            if _matches(queued, q):
                out.append(queued)
                if len(out) == q.limit:
                    break
        return out

    def __iter__(self) -> Iterator[QueuedError]:
        return iter(self._errors.values())


def _matches(queued: QueuedError, q: ErrorQuery) -> bool:
    r = queued.record
    if q.provider is not None and r.provider != q.provider:
        return False
    if q.category is not None and r.category != q.category:
        return False
    if q.since is not None and r.occurred_at < q.since:
        return False
    if q.until is not None and r.occurred_at >= q.until:
        return False
    if q.order_id is not None and r.order_id != q.order_id:
        return False
    if q.state == "open":
        return queued.resolved is None
    if q.state == "resolved":
        return queued.resolved is not None
    return True


class Verdict(StrEnum):
    SEND_COMMAND = "reprocess"
    RESEND = "resend"
    ALREADY_RESOLVED = "already_resolved"
    NOT_REPROCESSABLE = "not_reprocessable"
    UNKNOWN = "unknown"
    SAME_ORDER = "same_order"
    """Another error of this order's reprocess (in the same request) covers it."""


@dataclass(frozen=True)
class ReprocessPlan:
    error_id: str
    verdict: Verdict
    message: str
    command: ReprocessOrder | None = None
    resend: bytes | None = None
    order_id: str | None = None

    @property
    def acts(self) -> bool:
        return self.command is not None or self.resend is not None


def plan_reprocess(
    queue: ErrorQueue, error_ids: Iterable[str], now: datetime, requested_by: str
) -> list[ReprocessPlan]:
    """What reprocessing these errors means: an order error restarts the order from its
    failed step (one ``ReprocessOrder`` per order, whatever number of its errors are
    named); an inbound error sends the refused command again, as it was. A resolved
    error is a no-op that says so."""
    plans: list[ReprocessPlan] = []
    orders: set[str] = set()
    for error_id in error_ids:
        queued = queue.get(error_id)
        if queued is None:
            plans.append(ReprocessPlan(error_id, Verdict.UNKNOWN, f"no error {error_id}"))
            continue
        r = queued.record
        if queued.resolved is not None:
            how = queued.resolved
            message = f"already resolved ({how.how} at {how.resolved_at.isoformat()}): nothing to do"
            plans.append(ReprocessPlan(error_id, Verdict.ALREADY_RESOLVED, message, order_id=r.order_id))
        elif not r.reprocessable:
            why = "a refused flow reaction: fix the flow, then reprocess the order"
            plans.append(ReprocessPlan(error_id, Verdict.NOT_REPROCESSABLE, why, order_id=r.order_id))
        elif r.command is not None:
            message = f"{r.command_type} {r.command_id} sent again"
            plans.append(
                ReprocessPlan(error_id, Verdict.RESEND, message, resend=r.command, order_id=r.order_id)
            )
        elif r.order_id in orders:
            plans.append(
                ReprocessPlan(
                    error_id,
                    Verdict.SAME_ORDER,
                    f"covered by the reprocess of {r.order_id}",
                    order_id=r.order_id,
                )
            )
        else:
            assert r.order_id is not None
            orders.add(r.order_id)
            command = ReprocessOrder(
                envelope=CommandEnvelope(
                    command_id=f"errors/{error_id}/{now.isoformat()}",
                    order_id=r.order_id,
                    issued_at=now,
                    correlation_id=f"reprocess-{r.order_id}",
                    source=requested_by,
                ),
                reason=f"reprocess of error {error_id}",
            )
            message = f"order {r.order_id} restarts from its failed step"
            plans.append(
                ReprocessPlan(error_id, Verdict.SEND_COMMAND, message, command=command, order_id=r.order_id)
            )
    return plans
