"""Order-handling settings: one set per deployment, as IOM's "Order handling" preferences.

IOM keeps backorders, their cancellation SLA and the replacement policy of returns on one
settings page, not in each flow; so does ``config/order-handling.yaml``. The engine hands
the backorder settings to the DOM step's request (a flow step that still names them in
its params wins, so published versions that carry them keep working), runs the cancel
actions it sends providers with the retries and timeout set here, and the returns
decider checks the return window.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator

from streams.domain.backorders import BackorderSettings, parse_duration
from streams.domain.values import Value


class ReplacementPolicy(StrEnum):
    """When a return's replacement ships (IOM order-handling preferences)."""

    STANDARD = "standard"
    """When the returned goods are received."""
    ADVANCED = "advanced"
    """As soon as the return is initiated."""


class EngineSteps(Value):
    """Retries and timeout of the provider actions the engine itself sends (cancels)."""

    max_retries: int = Field(default=3, ge=0)
    timeout_seconds: float = Field(default=60.0, gt=0)

    @property
    def max_attempts(self) -> int:
        return self.max_retries + 1


def _duration(value: Any) -> Any:
    return parse_duration(value) if isinstance(value, str) else value


class OrderHandling(Value):
    backorders: bool = False
    cancellation_sla: timedelta | None = None
    """How long a line may wait in Backorder hold before it is canceled (None: forever)."""
    replacement_policy: ReplacementPolicy = ReplacementPolicy.STANDARD
    return_window: timedelta = timedelta(days=30)
    """How long after shipment a return may be requested."""
    provider_actions: EngineSteps = EngineSteps()

    @field_validator("backorders", mode="before")
    @classmethod
    def _flag(cls, value: Any) -> Any:
        if isinstance(value, str):
            return BackorderSettings.from_params({"backorders": value}).enabled
        return value

    @field_validator("cancellation_sla", "return_window", mode="before")
    @classmethod
    def _span(cls, value: Any) -> Any:
        return _duration(value)

    def backorder_params(self) -> dict[str, str]:
        """The backorder settings as the DOM step's params spell them (see ``BackorderSettings``)."""
        params = {"backorders": "enabled" if self.backorders else "disabled"}
        if self.cancellation_sla is not None:
            params["cancellation_sla"] = f"{self.cancellation_sla.total_seconds():g}s"
        return params


DEFAULT_HANDLING = OrderHandling()
"""IOM's defaults: backorders off, standard replacements, a 30-day return window."""
