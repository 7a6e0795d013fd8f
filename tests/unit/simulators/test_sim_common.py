"""The shared control plane: faults, the request log, deliveries with retries, parking and
replay, reset and live config; exercised through a two-route toy simulator."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web
from sim_testing import Receiver, Start, drained

from simulators.common import ApiError, Route, SimSettings, Simulator, json_body


class ToySimulator(Simulator):
    """POST /things stores a thing and emits ``thing.created``; retries 1 s then 2 s."""

    name = "toy"
    vendor_routes = (
        Route("POST", "/things", "create_thing"),
        Route("GET", "/things/{thing_id}", "get_thing"),
    )

    def reset_state(self) -> None:
        self.things: dict[str, dict[str, object]] = {}

    async def admit(self, request: web.Request) -> web.StreamResponse | None:
        if request.headers.get("Authorization") != "Bearer good":
            return self.error_response(request, ApiError(401, "no"))
        return None

    async def create_thing(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        thing_id = f"T{self.ids.next('thing')}"
        self.things[thing_id] = body
        self.emit("thing.created", self.ids.uuid("event"), {"id": thing_id}, (1, 2))
        return web.json_response({"id": thing_id, **body}, status=201)

    async def get_thing(self, request: web.Request) -> web.Response:
        thing = self.things.get(request.match_info["thing_id"])
        if thing is None:
            raise ApiError(404, "not found")
        return web.json_response(thing)


AUTH = {"Authorization": "Bearer good"}


def toy(receiver: Receiver | None = None, **overrides: float) -> ToySimulator:
    settings = SimSettings(webhook_url=receiver.url if receiver else None, time_scale=0.001, hang_seconds=5.0)
    for key, value in overrides.items():
        setattr(settings, key, value)
    return ToySimulator(settings)


@pytest.mark.asyncio
async def test_an_injected_5xx_hits_only_the_matching_requests_and_is_logged(start: Start) -> None:
    client = await start(toy())
    armed = await client.post(
        "/_sim/faults", json={"kind": "5xx", "count": 2, "status": 503, "method": "POST"}
    )
    assert armed.status == 201

    first = await client.post("/things", json={"n": 1}, headers=AUTH)
    read = await client.get("/things/T1", headers=AUTH)
    second = await client.post("/things", json={"n": 2}, headers=AUTH)
    third = await client.post("/things", json={"n": 3}, headers=AUTH)

    assert [first.status, read.status, second.status, third.status] == [503, 404, 503, 201]
    log = await (await client.get("/_sim/requests?method=POST")).json()
    assert [(r["status"], r["fault"]) for r in log["requests"]] == [(503, "5xx"), (503, "5xx"), (201, None)]
    assert (await (await client.get("/_sim/faults")).json())["faults"] == []


@pytest.mark.asyncio
async def test_an_injected_429_carries_retry_after(start: Start) -> None:
    client = await start(toy())
    await client.post("/_sim/faults", json={"kind": "429", "retry_after": 2.5})

    response = await client.post("/things", json={}, headers=AUTH)

    assert response.status == 429
    assert response.headers["Retry-After"] == "3"


@pytest.mark.asyncio
async def test_a_timeout_fault_outlasts_a_short_client_timeout_and_applies_nothing(start: Start) -> None:
    sim = toy()
    client = await start(sim)
    await client.post("/_sim/faults", json={"kind": "timeout", "path_prefix": "/things"})

    with pytest.raises(asyncio.TimeoutError):
        await client.post("/things", json={}, headers=AUTH, timeout=aiohttp.ClientTimeout(total=0.2))

    assert sim.things == {}


@pytest.mark.asyncio
async def test_a_timeout_after_applying_loses_only_the_response(start: Start) -> None:
    sim = toy()
    client = await start(sim)
    await client.post("/_sim/faults", json={"kind": "timeout", "when": "after"})

    with pytest.raises(asyncio.TimeoutError):
        await client.post("/things", json={"n": 1}, headers=AUTH, timeout=aiohttp.ClientTimeout(total=0.2))

    assert sim.things == {"T1": {"n": 1}}


@pytest.mark.asyncio
async def test_a_bad_payload_keeps_the_status_and_breaks_the_json(start: Start) -> None:
    client = await start(toy())
    await client.post("/_sim/faults", json={"kind": "bad_payload"})

    response = await client.post("/things", json={"name": "widget"}, headers=AUTH)

    assert response.status == 201
    with pytest.raises(ValueError):
        await response.json()


@pytest.mark.asyncio
async def test_faults_are_validated(start: Start) -> None:
    client = await start(toy())

    for spec in (
        {"kind": "meteor"},
        {"kind": "5xx", "count": 0},
        {"kind": "timeout", "when": "later"},
        {"kind": "5xx", "probability": 0},
        {"kind": "5xx", "probability": 1.5},
        {"kind": "5xx", "seed": "x"},
    ):
        response = await client.post("/_sim/faults", json=spec)
        assert response.status == 400, spec


@pytest.mark.asyncio
async def test_a_fault_with_a_probability_hits_that_share_of_requests_repeatably(start: Start) -> None:
    statuses: list[list[int]] = []
    for _ in range(2):
        client = await start(toy())
        await client.post(
            "/_sim/faults", json={"kind": "5xx", "count": 1000, "probability": 0.25, "seed": 11}
        )
        statuses.append([(await client.get("/things/none", headers=AUTH)).status for _ in range(200)])

    assert statuses[0] == statuses[1]  # the same seed, the same requests faulted
    hit = statuses[0].count(500)
    assert 25 <= hit <= 75, hit  # 50 expected; the rest pass through to the handler
    assert set(statuses[0]) == {500, 404}


@pytest.mark.asyncio
async def test_the_request_log_redacts_credentials(start: Start) -> None:
    client = await start(toy())
    await client.post("/things", json={"n": 1}, headers=AUTH)

    entry = (await (await client.get("/_sim/requests")).json())["requests"][0]

    assert entry["method"] == "POST" and entry["path"] == "/things"
    assert entry["body"] == {"n": 1}
    assert entry["headers"]["Authorization"] == "[redacted]"
    assert entry["status"] == 201


@pytest.mark.asyncio
async def test_a_failing_receiver_gets_the_same_event_again_on_the_vendor_schedule(
    start: Start, receiver: Receiver
) -> None:
    receiver.fail_next = 2
    client = await start(toy(receiver))

    await client.post("/things", json={}, headers=AUTH)
    deliveries = (await drained(client))["deliveries"]

    assert len(receiver.calls) == 3
    assert len({call.body for call in receiver.calls}) == 1
    assert [a["status"] for a in deliveries[0]["attempts"]] == [500, 500, 200]
    assert deliveries[0]["state"] == "delivered"


@pytest.mark.asyncio
async def test_exhausted_deliveries_are_parked_and_can_be_replayed(start: Start, receiver: Receiver) -> None:
    receiver.fail_next = 3
    client = await start(toy(receiver))
    await client.post("/things", json={}, headers=AUTH)
    await drained(client)

    parked = (await (await client.get("/_sim/parked")).json())["deliveries"]
    assert len(parked) == 1 and len(parked[0]["attempts"]) == 3

    replayed = await (await client.post("/_sim/parked/replay", json={})).json()
    deliveries = (await drained(client))["deliveries"]

    assert replayed["replayed"] == [parked[0]["id"]]
    assert deliveries[0]["state"] == "delivered"
    assert len(receiver.calls) == 4
    assert receiver.calls[0].body == receiver.calls[3].body


@pytest.mark.asyncio
async def test_a_duplicate_webhook_fault_delivers_the_same_event_twice(
    start: Start, receiver: Receiver
) -> None:
    client = await start(toy(receiver))
    await client.post("/_sim/faults", json={"kind": "duplicate_webhook"})

    await client.post("/things", json={}, headers=AUTH)
    deliveries = (await drained(client))["deliveries"]

    assert len(receiver.calls) == 2
    assert receiver.calls[0].body == receiver.calls[1].body
    assert deliveries[1]["duplicate_of"] == deliveries[0]["id"]


@pytest.mark.asyncio
async def test_reset_forgets_state_and_config_can_redirect_webhooks(start: Start, receiver: Receiver) -> None:
    sim = toy()
    client = await start(sim)
    await client.post("/things", json={}, headers=AUTH)

    reset = await client.post("/_sim/reset")
    config = await client.put("/_sim/config", json={"webhook_url": receiver.url})
    created = await (await client.post("/things", json={}, headers=AUTH)).json()
    await drained(client)

    assert reset.status == 200 and config.status == 200
    assert created["id"] == "T1"
    assert len(receiver.calls) == 1
    assert (await client.put("/_sim/config", json={"time_scale": "fast"})).status == 400
    assert (await client.put("/_sim/config", json={"port": 1})).status == 400


@pytest.mark.asyncio
async def test_without_a_webhook_url_events_are_recorded_not_sent(start: Start) -> None:
    client = await start(toy())

    await client.post("/things", json={}, headers=AUTH)
    deliveries = (await drained(client))["deliveries"]

    assert [d["state"] for d in deliveries] == ["no_destination"]
