"""The connector side of a provider action: perform it, then answer with a
``RecordActionResult``; and the commands connectors publish, with deterministic ids.

A request may arrive twice (a redelivery after a crash or a rebalance), and every attempt
of one step's action carries the same ``action_id``: it is the action's idempotency key at
the provider. The answer's command id derives from the action id and the attempt, so the
writer decides a redelivered answer once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from aiohttp import web
from pydantic import ValidationError

from connectors.http import ProviderHttpError
from streams.domain.commands import Command, CommandEnvelope, ProviderActionRequest, RecordActionResult
from streams.domain.order import order_of
from streams.domain.snapshot import OrderSnapshot
from streams.shell.logging import order_context
from streams.shell.metrics import provider_action

log = logging.getLogger(__name__)

DEADLINE_MARGIN = 2.0
"""Seconds kept back from an action's deadline so the answer reaches the writer before its timer."""


class Publisher(Protocol):
    """Where connectors put commands: ``order.commands``, keyed by order id."""

    async def publish(self, command: Command) -> None: ...


class ActionFailed(Exception):
    """The provider refused the action (not an HTTP failure): the message is the detail."""


@dataclass(frozen=True)
class ActionOutcome:
    success: bool
    details: str = ""
    data: dict[str, str] = field(default_factory=dict)

    @classmethod
    def done(cls, details: str = "", **data: str) -> ActionOutcome:
        return cls(True, details, dict(data))

    @classmethod
    def failed(cls, details: str) -> ActionOutcome:
        return cls(False, details)


class ProviderConnector(Protocol):
    """One provider's connector: its actions, its webhook routes, its background work."""

    provider: str

    async def perform(
        self, request: ProviderActionRequest, order: OrderSnapshot, deadline: float
    ) -> ActionOutcome:
        """Do ``request.action`` at the provider; ``deadline`` is a ``time.monotonic()`` value."""
        ...

    def routes(self) -> Sequence[web.RouteDef]: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


def envelope(provider: str, order_id: str, key: str, correlation_id: str | None = None) -> CommandEnvelope:
    """A command from ``provider``; ``key`` names what it answers or reports, so the same
    provider message always yields the same command id.

    ``key`` must come only from the provider's message (its id: BigCommerce order id,
    F&O ``EventId``, CloudEvent ``id``, Flexe ``eventId``; or its content), never from
    local state, the time or a counter: every instance of a connector, and the same one
    after a crash, must derive the same id, the only dedupe that spans them."""
    return CommandEnvelope(
        command_id=f"{provider}/{key}",
        order_id=order_id,
        issued_at=datetime.now(UTC),
        correlation_id=correlation_id or f"{provider}/{order_id}",
        source=f"connector:{provider}",
    )


def action_result(request: ProviderActionRequest, outcome: ActionOutcome) -> RecordActionResult:
    return request.answer(
        source=f"connector:{request.provider}",
        success=outcome.success,
        issued_at=datetime.now(UTC),
        details=outcome.details,
        data=outcome.data,
    )


async def answer(
    connector: ProviderConnector, request: ProviderActionRequest, publisher: Publisher
) -> RecordActionResult | None:
    """Perform one request and publish its result; None when it was past its deadline
    (the writer's timer has answered it as failed, and a retry has its own request). Its
    log lines carry the order's ids; its provider calls count under its action."""
    ids = {
        "order_id": request.order_id,
        "correlation_id": request.correlation_id,
        "causation_id": request.action_id,
    }
    with order_context(**ids), provider_action(request.action):
        return await _answer(connector, request, publisher)


async def _answer(
    connector: ProviderConnector, request: ProviderActionRequest, publisher: Publisher
) -> RecordActionResult | None:
    """Perform one request and publish its result; None when it was past its deadline
    (the writer's timer has answered it as failed, and a retry has its own request)."""
    now = datetime.now(UTC)
    if request.deadline <= now:
        log.info(
            "%s %s of %s expired before it could start", request.provider, request.action, request.order_id
        )
        return None
    wait = (request.not_before - now).total_seconds()
    if wait > 0:  # a retry: the writer's backoff
        await asyncio.sleep(wait)
    window = (request.deadline - request.not_before).total_seconds()
    left = (request.deadline - datetime.now(UTC)).total_seconds() - min(DEADLINE_MARGIN, 0.1 * window)
    if left <= 0:
        log.info("%s %s of %s: too late to start", request.provider, request.action, request.order_id)
        return None
    deadline = time.monotonic() + left
    outcome = await _perform(connector, request, deadline)
    log.info(
        "%s %s of %s (attempt %d): %s%s",
        request.provider,
        request.action,
        request.order_id,
        request.attempt,
        "done" if outcome.success else "failed",
        f": {outcome.details}" if outcome.details else "",
    )
    result = action_result(request, outcome)
    await publisher.publish(result)
    return result


async def _perform(
    connector: ProviderConnector, request: ProviderActionRequest, deadline: float
) -> ActionOutcome:
    try:
        order = order_of(request)
    except ValidationError as exc:
        return ActionOutcome.failed(f"the request carries no readable order: {exc.error_count()} errors")
    try:
        return await connector.perform(request, order, deadline)
    except (ProviderHttpError, ActionFailed) as exc:
        return ActionOutcome.failed(str(exc))
    except Exception as exc:  # a bug must fail the action, not the connector
        log.exception("%s %s of %s crashed", request.provider, request.action, request.order_id)
        return ActionOutcome.failed(f"connector error: {type(exc).__name__}: {exc}")


def unsupported(request: ProviderActionRequest) -> ActionOutcome:
    return ActionOutcome.failed(f"the {request.provider} connector has no action '{request.action}'")
