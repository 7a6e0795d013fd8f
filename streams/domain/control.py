"""Pausing and resuming a flow version or a provider (an outage, a bad release). Pure.

An operator's ``TargetPaused`` / ``TargetResumed`` go to the control topic; every writer
folds them into ``Pauses``. While a target is paused, a provider action its orders ask
for is recorded and then held (``ProviderActionHeld``): nothing is sent and no timer
runs, so orders queue at the step instead of failing it. On resume the writer releases
them (``ProviderActionReleased``) in the order they were asked, and they go out then.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from pydantic import Field

from streams.domain.commands import CommandEnvelope, ReleaseProviderAction
from streams.domain.order import OrderState
from streams.domain.values import Value


class TargetKind(StrEnum):
    FLOW = "flow"
    PROVIDER = "provider"


class PauseTarget(Value):
    kind: str
    name: str
    flow_version: int | None = Field(default=None, ge=1)
    """A flow's version; None pauses every version of it (a provider has none)."""

    @property
    def key(self) -> str:
        """``provider:fno``, ``flow:bigcommerce-fno`` or ``flow:bigcommerce-fno@v2``."""
        version = f"@v{self.flow_version}" if self.flow_version is not None else ""
        return f"{self.kind}:{self.name}{version}"

    def covers(self, flow: str | None, flow_version: int | None, provider: str) -> bool:
        if self.kind == TargetKind.PROVIDER:
            return self.name == provider
        return self.name == flow and self.flow_version in (None, flow_version)


class TargetPaused(Value):
    """Topic ``oms.control``, key the target's key."""

    target: PauseTarget
    paused_at: datetime
    by: str
    reason: str = ""


class TargetResumed(Value):
    target: PauseTarget
    resumed_at: datetime
    by: str


ControlRecord = TargetPaused | TargetResumed


class Pauses:
    """The targets paused now, folded from the control records in their order."""

    def __init__(self, records: Iterable[ControlRecord] = ()) -> None:
        self._paused: dict[str, TargetPaused] = {}
        for record in records:
            self.apply(record)

    def apply(self, record: ControlRecord) -> bool:
        """Fold one record; True if it changed what is paused."""
        key = record.target.key
        if isinstance(record, TargetPaused):
            if key in self._paused:
                return False
            self._paused[key] = record
            return True
        return self._paused.pop(key, None) is not None

    def holding(self, flow: str | None, flow_version: int | None, provider: str) -> str | None:
        """The key of a paused target that holds this provider action, if any."""
        return next(
            (k for k, p in self._paused.items() if p.target.covers(flow, flow_version, provider)), None
        )

    def is_paused(self, key: str) -> bool:
        return key in self._paused

    def paused(self) -> list[TargetPaused]:
        return sorted(self._paused.values(), key=lambda p: p.paused_at)

    def __len__(self) -> int:
        return len(self._paused)


def releases(states: Iterable[OrderState], pauses: Pauses, now: datetime) -> list[ReleaseProviderAction]:
    """The held requests whose target is no longer paused, oldest request first: resume
    continues the queue in the order it formed."""
    due = sorted(
        (p.not_before, state.order_id, p.action_id, p.attempt, p.held)
        for state in states
        for p in state.pending_actions
        if p.held is not None and not pauses.is_paused(p.held)
    )
    return [
        ReleaseProviderAction(
            envelope=CommandEnvelope(
                command_id=f"release/{action_id}/{attempt}/{target}",
                order_id=order_id,
                issued_at=now,
                correlation_id=f"resume/{target}",
                source="writer:resume",
            ),
            action_id=action_id,
        )
        for _, order_id, action_id, attempt, target in due
    ]
