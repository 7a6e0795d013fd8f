"""The webhook front hands a delivery to one instance in turn, or to every instance, body
and query as sent, and answers with the first instance's answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp import ClientSession, web

from devkit.webhook_front import Spread, WebhookFront

Serve = Callable[[web.Application], Awaitable[str]]
"""The ``serve`` fixture (tests/unit/conftest.py)."""


def _instance(name: str, status: int, got: list[tuple[str, str, bytes]]) -> web.Application:
    async def take(request: web.Request) -> web.Response:
        got.append((name, request.path_qs, await request.read()))
        return web.Response(status=status, text=name)

    app = web.Application()
    app.router.add_post("/webhooks/p", take)
    return app


async def _post(url: str, body: bytes = b"{}") -> tuple[int, str]:
    async with ClientSession() as http, http.post(url, data=body) as reply:
        return reply.status, await reply.text()


@pytest.mark.asyncio
async def test_round_robin_hands_each_delivery_to_the_next_instance(serve: Serve) -> None:
    got: list[tuple[str, str, bytes]] = []
    a, b = await serve(_instance("a", 204, got)), await serve(_instance("b", 204, got))
    front = await serve(WebhookFront({"/webhooks/p": [a, b]}).app())

    for n in range(3):
        await _post(f"{front}/webhooks/p?key=k", f'{{"n": {n}}}'.encode())

    assert got == [
        ("a", "/webhooks/p?key=k", b'{"n": 0}'),
        ("b", "/webhooks/p?key=k", b'{"n": 1}'),
        ("a", "/webhooks/p?key=k", b'{"n": 2}'),
    ]


@pytest.mark.asyncio
async def test_all_hands_every_delivery_to_every_instance_and_answers_with_the_first(serve: Serve) -> None:
    got: list[tuple[str, str, bytes]] = []
    a, b = await serve(_instance("a", 503, got)), await serve(_instance("b", 204, got))
    front = WebhookFront({"/webhooks/p": [a, b]}, Spread.ALL)
    url = await serve(front.app())

    status, text = await _post(f"{url}/webhooks/p")

    assert (status, text) == (503, "a")
    assert sorted(name for name, _, _ in got) == ["a", "b"]
    assert dict(front.answered) == {(a, 503): 1, (b, 204): 1}


@pytest.mark.asyncio
async def test_the_spread_changes_at_run_time_and_an_unknown_path_is_404(serve: Serve) -> None:
    got: list[tuple[str, str, bytes]] = []
    a, b = await serve(_instance("a", 204, got)), await serve(_instance("b", 204, got))
    url = await serve(WebhookFront({"/webhooks/p": [a, b]}).app())

    async with ClientSession() as http, http.put(f"{url}/_front/spread", json={"spread": "all"}) as reply:
        assert (await reply.json())["spread"] == "all"
    await _post(f"{url}/webhooks/p")

    assert len(got) == 2
    assert (await _post(f"{url}/webhooks/other"))[0] == 404
