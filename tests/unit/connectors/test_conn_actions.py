"""Answering a provider action: in time or not at all, always with a result the flow can
act on, and one order's actions in order while other orders go ahead."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from conn_testing import RecordingPublisher, journey_state, request_for

from connectors.actions import ActionFailed, ActionOutcome, answer
from connectors.http import ProviderHttpError
from connectors.runtime import OrderLanes
from streams.domain.commands import ProviderActionRequest, RecordActionResult
from streams.domain.order import OrderState


class Provider:
    provider = "fno"

    def __init__(self, outcome: ActionOutcome | BaseException) -> None:
        self.outcome = outcome
        self.calls: list[tuple[str, float]] = []

    async def perform(
        self, request: ProviderActionRequest, order: OrderState, deadline: float
    ) -> ActionOutcome:
        self.calls.append((order.order_id, deadline))
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome

    def routes(self) -> Sequence[web.RouteDef]:
        return []

    async def start(self) -> None: ...

    async def close(self) -> None: ...


def request(**changes: object) -> ProviderActionRequest:
    return request_for(journey_state(1, "BC-1"), "fno", "send_to_fulfillment").model_copy(update=changes)


@pytest.mark.asyncio
async def test_a_done_action_answers_success_with_the_providers_data_under_a_stable_command_id() -> None:
    publisher = RecordingPublisher()
    provider = Provider(ActionOutcome.done("made it", provider_order_id="SO-1"))
    result = await answer(provider, request(), publisher)

    assert publisher.commands == [result]
    assert isinstance(result, RecordActionResult)
    assert (result.action_id, result.success, result.details, result.data) == (
        "BC-1/fno/send_to_fulfillment",
        True,
        "made it",
        {"provider_order_id": "SO-1"},
    )
    assert result.envelope.command_id == "fno/BC-1/fno/send_to_fulfillment/1/result"
    assert result.attempt == 1
    assert result.envelope.correlation_id == "test/BC-1"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("error", "details"),
    [
        (ProviderHttpError("POST", "/x", 503, 4, "down"), "HTTP 503 after 4 tries: POST /x: down"),
        (ActionFailed("the order has no company"), "the order has no company"),
        (KeyError("SalesOrder"), "connector error: KeyError: 'SalesOrder'"),
    ],
)
async def test_a_failure_answers_failed_with_what_went_wrong(error: BaseException, details: str) -> None:
    publisher = RecordingPublisher()
    result = await answer(Provider(error), request(), publisher)
    assert result is not None and not result.success and result.details == details


@pytest.mark.asyncio
async def test_a_request_past_its_deadline_is_not_performed() -> None:
    publisher = RecordingPublisher()
    provider = Provider(ActionOutcome.done())
    now = datetime.now(UTC)
    assert await answer(provider, request(deadline=now - timedelta(seconds=1)), publisher) is None
    # Within the margin kept for the answer to reach the writer: too late as well.
    late = request(not_before=now - timedelta(seconds=30), deadline=now + timedelta(seconds=1))
    assert await answer(provider, late, publisher) is None
    assert provider.calls == [] and publisher.commands == []


@pytest.mark.asyncio
async def test_a_retry_waits_for_its_backoff_and_keeps_a_margin_before_the_deadline() -> None:
    now = datetime.now(UTC)
    provider = Provider(ActionOutcome.done())
    loop = asyncio.get_running_loop()
    started = loop.time()
    await answer(
        provider,
        request(not_before=now + timedelta(seconds=0.2), deadline=now + timedelta(seconds=60.2)),
        RecordingPublisher(),
    )
    [(_, deadline)] = provider.calls
    assert loop.time() - started >= 0.19
    assert 55 < deadline - loop.time() < 58.1  # 60 s, less the 2 s margin


@pytest.mark.asyncio
async def test_an_orders_actions_run_in_order_while_other_orders_go_ahead() -> None:
    lanes = OrderLanes(limit=4)
    log: list[str] = []
    gate = asyncio.Event()

    def work(name: str, wait: bool = False) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            if wait:
                await gate.wait()
            log.append(name)

        return run

    await lanes.submit("A", work("A1", wait=True))
    await lanes.submit("A", work("A2"))
    await lanes.submit("B", work("B1"))
    async with asyncio.timeout(5):  # until B1 ran, while A1 still waits at the gate
        while not log:
            await asyncio.sleep(0)
    assert log == ["B1"]
    gate.set()
    await lanes.drain()
    assert log == ["B1", "A1", "A2"]


@pytest.mark.asyncio
async def test_no_more_than_the_limit_is_in_flight() -> None:
    lanes = OrderLanes(limit=2)
    running = 0
    peak = 0

    async def work() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)  # work that takes a while: the overlap is what is counted
        running -= 1

    for n in range(6):
        await lanes.submit(f"order-{n}", work)
    await lanes.drain()
    assert peak == 2
