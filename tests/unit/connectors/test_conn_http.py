"""The provider HTTP client: what it retries, how long it waits, and what it says when
it gives up."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from conn_testing import Serve

from connectors.http import ProviderHttp, ProviderHttpError, Reply, RetryPolicy, error_detail, throttle_wait

Answer = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Script:
    """A provider that answers from a list, then 200 ``{"ok": true}``."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.calls: list[dict[str, str]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.calls.append(dict(request.headers))
        if self.answers:
            return await self.answers.pop(0)(request)
        return web.json_response({"ok": True})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app


def status(code: int, body: Any = None, **headers: str) -> Answer:
    async def answer(request: web.Request) -> web.StreamResponse:
        return web.json_response(
            body if body is not None else {"error": {"message": f"sim {code}"}}, status=code, headers=headers
        )

    return answer


class Waits:
    """Records the waits instead of sleeping."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


async def client(serve: Serve, script: Script, waits: Waits, **policy: Any) -> ProviderHttp:
    base = await serve(script.app())
    return ProviderHttp(
        base, "test", RetryPolicy(**{"tries": 4, "backoff": 0.5, **policy}), sleep=waits, rng=random.Random(1)
    )


@pytest.mark.asyncio
async def test_a_5xx_is_retried_with_exponential_backoff_and_full_jitter(serve: Serve) -> None:
    waits = Waits()
    http = await client(serve, Script(status(503), status(502), status(500)), waits)
    reply = await http.request("GET", "/orders/1")
    await http.close()

    assert reply.status == 200
    assert len(waits.seconds) == 3
    for n, wait in enumerate(waits.seconds, start=1):
        assert 0 <= wait <= 0.5 * 2 ** (n - 1)


@pytest.mark.asyncio
async def test_giving_up_says_the_status_the_tries_the_call_and_the_providers_words(serve: Serve) -> None:
    waits = Waits()
    body = {
        "error": {"code": "", "message": "An error has occurred.", "innererror": {"message": "DB offline"}}
    }
    http = await client(serve, Script(*[status(503, body)] * 4), waits)
    with pytest.raises(ProviderHttpError) as failure:
        await http.request("POST", "/data/$batch?x=secret")
    await http.close()

    assert str(failure.value) == (
        "HTTP 503 after 4 tries: POST /data/$batch: An error has occurred.: DB offline"
    )
    assert failure.value.status == 503 and failure.value.tries == 4


@pytest.mark.asyncio
async def test_a_4xx_is_not_retried(serve: Serve) -> None:
    waits = Waits()
    script = Script(
        status(
            422,
            {
                "error": "validation_failed",
                "message": "bad",
                "errors": [{"field": "sku", "message": "is required"}],
            },
        )
    )
    http = await client(serve, script, waits)
    with pytest.raises(ProviderHttpError) as failure:
        await http.request("POST", "/outbound_orders", json_body={})
    await http.close()

    assert len(script.calls) == 1 and waits.seconds == []
    assert str(failure.value).startswith("HTTP 422 after 1 try: POST /outbound_orders: bad")


@pytest.mark.asyncio
async def test_a_status_the_caller_expects_is_returned_not_raised(serve: Serve) -> None:
    http = await client(serve, Script(status(404)), Waits())
    reply = await http.request("GET", "/orders/9", accept=(404,))
    await http.close()
    assert reply.status == 404


@pytest.mark.asyncio
async def test_a_429_waits_as_long_as_retry_after_says(serve: Serve) -> None:
    waits = Waits()
    http = await client(serve, Script(status(429, **{"Retry-After": "2"})), waits)
    await http.request("GET", "/data/SalesOrderHeadersV2")
    await http.close()
    assert waits.seconds == [2.0]


@pytest.mark.asyncio
async def test_a_bigcommerce_429_waits_until_the_quota_resets(serve: Serve) -> None:
    waits = Waits()
    throttled = status(
        429,
        [{"status": 429, "message": "quota"}],
        **{"X-Rate-Limit-Time-Reset-Ms": "1500", "X-Rate-Limit-Requests-Left": "0"},
    )
    http = await client(serve, Script(throttled), waits)
    await http.request("PUT", "/v2/orders/100", json_body={"status_id": 2})
    await http.close()
    assert waits.seconds == [1.5]


@pytest.mark.asyncio
async def test_a_429_asking_for_too_long_a_wait_fails_at_once(serve: Serve) -> None:
    waits = Waits()
    http = await client(serve, Script(status(429, **{"Retry-After": "120"})), waits, max_throttle_wait=60)
    with pytest.raises(ProviderHttpError, match="asked to wait 120s"):
        await http.request("GET", "/x")
    await http.close()
    assert waits.seconds == []


@pytest.mark.asyncio
async def test_a_timeout_is_retried_and_reported(serve: Serve) -> None:
    import asyncio

    async def hang(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(1)  # a provider that answers too late: the client's timeout is under test
        return web.json_response({})

    waits = Waits()
    http = await client(serve, Script(hang, hang), waits, tries=2, timeout=0.05)
    with pytest.raises(ProviderHttpError) as failure:
        await http.request("GET", "/slow")
    await http.close()
    assert str(failure.value) == "no answer after 2 tries: GET /slow: timed out"


@pytest.mark.asyncio
async def test_a_write_sent_once_is_not_sent_again_after_a_5xx_but_waits_out_a_429(serve: Serve) -> None:
    waits = Waits()
    script = Script(status(429, **{"Retry-After": "1"}), status(503))
    http = await client(serve, script, waits)
    with pytest.raises(ProviderHttpError) as failure:
        await http.request("POST", "/A_SalesOrder", json_body={}, once=True)
    await http.close()

    assert str(failure.value) == "HTTP 503 after 2 tries: POST /A_SalesOrder: sim 503"
    assert len(script.calls) == 2 and waits.seconds == [1.0]


@pytest.mark.asyncio
async def test_no_retry_waits_past_the_deadline(serve: Serve) -> None:
    waits = Waits()
    now = [100.0]
    http = await client(serve, Script(status(429, **{"Retry-After": "5"})), waits)
    http.clock = lambda: now[0]
    with pytest.raises(ProviderHttpError, match="no time left to retry before the deadline"):
        await http.request("GET", "/x", deadline=103.0)
    await http.close()
    assert waits.seconds == []


@pytest.mark.asyncio
async def test_refused_credentials_are_renewed_once(serve: Serve) -> None:
    class Renewing:
        def __init__(self) -> None:
            self.token = "old"
            self.renewals = 0

        async def headers(self) -> dict[str, str]:
            return {"Authorization": f"Bearer {self.token}"}

        async def renew(self, reply: Reply) -> bool:
            self.renewals += 1
            self.token = "new"
            return True

    script = Script(status(401))
    auth = Renewing()
    http = await client(serve, script, Waits())
    http.auth = auth
    reply = await http.request("GET", "/data/x")
    await http.close()

    assert reply.status == 200 and auth.renewals == 1
    assert [c["Authorization"] for c in script.calls] == ["Bearer old", "Bearer new"]


def test_retry_after_may_be_an_http_date() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert throttle_wait({"Retry-After": "Thu, 01 Jan 2026 12:00:30 GMT"}, now) == 30.0
    assert throttle_wait({"x-rate-limit-time-reset-ms": "250"}) == 0.25
    assert throttle_wait({}) is None


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (
            b'{"error":{"code":"/IWBEP/CM_MGW_RT/020","message":{"lang":"en","value":"Resource not found"}}}',
            "Resource not found",
        ),
        (
            b'[{"status":400,"message":"The field \'status_id\' is invalid."}]',
            "The field 'status_id' is invalid.",
        ),
        (
            b'{"status":422,"title":"JSON data is missing","errors":{"scope":"error.path.missing"}}',
            "JSON data is missing: scope: error.path.missing",
        ),
        (
            b'{"error":"invalid_client","error_description":"AADSTS7000215: bad secret"}',
            "AADSTS7000215: bad secret",
        ),
        (b"<html>Bad Gateway</html>", "<html>Bad Gateway</html>"),
        (b"", "(empty body)"),
    ],
)
def test_error_details_come_from_each_vendors_error_shape(body: bytes, said: str) -> None:
    assert error_detail(body) == said
