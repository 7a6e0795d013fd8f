"""Helpers for the connector tests: a publisher that records, orders and action requests
as the writer would send them, and in-process servers on 127.0.0.1."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import ClientSession, web

from connectors.base import HttpConnector
from connectors.webhooks import make_web_app
from devkit.scenarios import CommandFactory, journey_order
from devkit.webhook_front import Spread, WebhookFront
from streams.domain.commands import Command, CreateOrder, ProviderActionRequest
from streams.domain.decider import decide
from streams.domain.order import OrderState, evolve


@dataclass
class RecordingPublisher:
    """The Kafka boundary, faked: every command a connector publishes, in order."""

    commands: list[Command] = field(default_factory=list)
    fail: bool = False

    async def publish(self, command: Command) -> None:
        if self.fail:
            raise ConnectionError("Kafka is down")
        self.commands.append(command)

    def of(self, kind: type[Command]) -> list[Any]:
        return [c for c in self.commands if isinstance(c, kind)]


def created_state(command: CreateOrder, **changes: Any) -> OrderState:
    """The order right after ``command``, with ``changes`` (as later events would make them)."""
    state = evolve(None, decide(command, None)[0])
    return state.model_copy(update=changes)


def journey_state(journey: int, order_id: str, *, assigned: bool = True, **changes: Any) -> OrderState:
    """An order of ``journey``; ``assigned``: with company, invoice customer, site and warehouse."""
    created = journey_order(journey, CommandFactory(), order_id, random.Random(journey))
    state = created_state(created)
    if assigned:
        state = state.model_copy(
            update={
                "company": "USMF",
                "invoice_customer": "US-001",
                "lines": tuple(
                    line.model_copy(update={"site": "1", "warehouse": "11"}) for line in state.lines
                ),
            }
        )
    return OrderState.model_validate({**dict(state), **changes})


def request_for(
    state: OrderState,
    provider: str,
    action: str,
    params: dict[str, str] | None = None,
    *,
    action_id: str | None = None,
    seconds: float = 30.0,
) -> ProviderActionRequest:
    now = datetime.now(UTC)
    return ProviderActionRequest(
        action_id=action_id or f"{state.order_id}/{provider}/{action}",
        order_id=state.order_id,
        provider=provider,
        action=action,
        step="step",
        attempt=1,
        params=params or {},
        not_before=now,
        deadline=now + timedelta(seconds=seconds),
        correlation_id=f"test/{state.order_id}",
        order=state.snapshot(),
    )


Serve = Callable[[web.Application], Awaitable[str]]
"""Serve an aiohttp app on 127.0.0.1 for the test; returns its base URL (no trailing slash)."""


async def control(base: str, method: str, path: str, body: Any = None) -> Any:
    """Call a simulator's control plane."""
    async with ClientSession() as http, http.request(method, base + path, json=body) as reply:
        assert reply.status < 400, f"{method} {path} -> {reply.status}: {await reply.text()}"
        return await reply.json() if reply.content_type == "application/json" else None


async def drain(base: str) -> list[dict[str, Any]]:
    """Wait until the simulator has delivered its webhooks; return the deliveries."""
    settled = await control(base, "POST", "/_sim/deliveries/drain", {"timeout": 5})
    assert settled["settled"], settled
    listing = await control(base, "GET", "/_sim/deliveries")
    deliveries: list[dict[str, Any]] = listing["deliveries"]
    return deliveries


async def requests_to(base: str, method: str, path: str) -> Sequence[dict[str, Any]]:
    listing = await control(base, "GET", f"/_sim/requests?method={method}&path={path}")
    found: Sequence[dict[str, Any]] = listing["requests"]
    return found


async def second_instance(
    serve: Serve, sim: str, first: str, second: HttpConnector[Any, Any], query: str = ""
) -> WebhookFront:
    """Run ``second`` beside the instance at ``first`` (its base URL), both behind one
    webhook front that hands every delivery to both at once; the simulator calls the front."""
    provider = second.provider
    url = await serve(make_web_app(provider, second.routes(), 256 * 1024))
    front = WebhookFront({second.webhook_path: [first, url]}, Spread.ALL)
    front_url = await serve(front.app())
    await control(sim, "PUT", "/_sim/config", {"webhook_url": f"{front_url}{second.webhook_path}{query}"})
    return front


def one_command(*publishers: RecordingPublisher) -> Command:
    """Each publisher published exactly one command, and all the same one: the same command
    id and content (only the time it was issued may differ)."""
    commands = [c for p in publishers for c in p.commands]
    assert [len(p.commands) for p in publishers] == [1] * len(publishers), commands

    def unstamped(command: Command) -> dict[str, Any]:
        data = command.model_dump(mode="json")
        del data["envelope"]["issued_at"]
        return data

    assert all(unstamped(c) == unstamped(commands[0]) for c in commands), commands
    return commands[0]
