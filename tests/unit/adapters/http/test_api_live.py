"""Read-your-writes, the live event stream, stats and the reprocess hook."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from read_side_fixtures import START, Clock, Feed, flat, held_order, journeys

from streams.adapters.http.app import create_app
from streams.adapters.http.live import Stream
from streams.adapters.http.read_model import Change
from streams.services.projection import Projection

Client = TestClient  # type: ignore[type-arg]


async def _later(delay: float, projection: Projection, records: Any) -> None:
    """Fold on another thread, as the projection's Kafka loop does, ``delay`` after a reader
    started waiting (the delay is the test's subject, not a wait)."""
    await asyncio.sleep(delay)
    await asyncio.to_thread(projection.apply, records)


@pytest.mark.asyncio
async def test_min_version_already_there_answers_at_once(
    client: Client, projection: Projection, feed: Feed
) -> None:
    projection.apply(feed.records(flat(journeys(1))))
    response = await client.get("/orders/ORD-000001?min_version=10&wait=5")
    assert response.status == 200
    assert (await response.json())["version"] == 10


@pytest.mark.asyncio
async def test_min_version_waits_until_the_projection_has_it(
    client: Client, projection: Projection, feed: Feed
) -> None:
    history = journeys(1)[0]
    projection.apply(feed.records(history[:4]))

    feeding = asyncio.create_task(_later(0.2, projection, feed.records(history[4:])))
    response = await client.get("/orders/ORD-000001?min_version=9&wait=10")
    await feeding

    assert response.status == 200
    assert (await response.json())["version"] == 10


@pytest.mark.asyncio
async def test_min_version_not_there_without_wait_is_a_409_with_the_version_we_have(
    client: Client, projection: Projection, feed: Feed
) -> None:
    projection.apply(feed.records(journeys(1)[0][:4]))
    response = await client.get("/orders/ORD-000001?min_version=7")
    assert response.status == 409
    body = await response.json()
    assert body["version"] == 4
    assert "ORD-000001 is at version 4" in body["error"] and "wait=" in body["error"]


@pytest.mark.asyncio
async def test_min_version_that_never_comes_is_a_504_after_the_wait(
    client: Client, projection: Projection, feed: Feed
) -> None:
    projection.apply(feed.records(journeys(1)[0][:4]))
    response = await client.get("/orders/ORD-000001?min_version=11&wait=0.3")
    assert response.status == 504
    assert await response.json() == {
        "error": "order ORD-000001 is at version 4 in the projection; version 11 did not arrive within 0.3s",
        "version": 4,
    }
    missing = await client.get("/orders/NOPE?min_version=1&wait=0.1")
    assert missing.status == 504
    assert "does not exist yet" in (await missing.json())["error"]


async def _sse_events(response: Any, wanted: int, kind: str = "change") -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    event = None
    while len(found) < wanted:
        line = (await asyncio.wait_for(response.content.readline(), 5)).decode().rstrip("\n")
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event == kind:
            found.append(json.loads(line.removeprefix("data: ")))
    return found


@pytest.mark.asyncio
async def test_the_event_stream_tells_each_new_event(
    client: Client, projection: Projection, feed: Feed
) -> None:
    response = await client.get("/events/stream?stats=false")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")

    feeding = asyncio.create_task(_later(0.1, projection, feed.records(flat(journeys(2)))))
    changes = await _sse_events(response, 20)
    await feeding
    response.close()

    first = changes[0]
    assert set(first) == {"type", "order_id", "seq", "topic", "status", "status_reason", "occurred_at"}
    assert (first["type"], first["seq"], first["status"]) == ("OrderCreated", 1, "New")
    assert sorted((c["order_id"], c["seq"]) for c in changes) == [
        (f"ORD-00000{o}", s) for o in (1, 2) for s in range(1, 11)
    ]


@pytest.mark.asyncio
async def test_the_event_stream_can_follow_one_order_and_sends_stats(
    client: Client, projection: Projection, feed: Feed
) -> None:
    response = await client.get("/events/stream?order_id=ORD-000002")
    feeding = asyncio.create_task(_later(0.1, projection, feed.records(flat(journeys(3)))))
    changes = await _sse_events(response, 10)
    await feeding
    stats = (await _sse_events(response, 1, kind="stats"))[0]
    response.close()

    assert {c["order_id"] for c in changes} == {"ORD-000002"}
    assert stats["orders"] == 3


@pytest.mark.asyncio
async def test_stats_count_by_status_and_reason_throughput_holds_and_providers(
    client: Client, projection: Projection, feed: Feed, clock: Clock
) -> None:
    histories = journeys(4)
    projection.apply(feed.records(flat(histories[:3])))
    clock.now += 1
    projection.apply(
        feed.records(
            histories[3][:6]
            + held_order("HOLD-1", "Credit check")
            + held_order("HOLD-2", "Validation failed")
        )
    )

    stats = await (await client.get("/stats")).json()

    assert stats["orders"] == 6
    assert stats["events"] == 30 + 6 + 2 * 2  # a held order: created, held
    assert {(s["status"], s["reason"]): s["orders"] for s in stats["by_status"]} == {
        ("Completed", "Fulfilled"): 3,
        ("Fulfillment in progress", "Picked"): 1,
        ("On hold", "Credit check"): 1,
        ("On hold", "Validation failed"): 1,
    }
    assert len(stats["throughput"]) == 60
    assert stats["throughput"][-2:] == [30, 10]
    assert stats["events_per_second"] == round(40 / 60, 1)
    assert stats["on_hold"] == 2
    assert stats["on_hold_by_reason"] == {"Credit check": 1, "Validation failed": 1}
    assert [(h["order_id"], h["reason"]) for h in stats["held_orders"]] == [
        ("HOLD-1", "Credit check"),
        ("HOLD-2", "Validation failed"),
    ]
    (fno,) = stats["providers"]
    assert (fno["provider"], fno["events"]) == ("fno", 3 * 4 + 2)
    assert fno["last_event_at"] is not None
    assert stats["waiting"] == {}


@pytest.mark.asyncio
async def test_reprocess_without_a_publisher_is_501(
    client: Client, projection: Projection, feed: Feed
) -> None:
    projection.apply(feed.records(held_order("HOLD-1", failed_step="send-to-fno")))
    response = await client.post("/orders/HOLD-1/reprocess")
    assert response.status == 501
    assert "not available" in (await response.json())["error"]


@pytest.mark.asyncio
async def test_reprocess_publishes_for_an_order_with_a_failed_step(
    projection: Projection, feed: Feed
) -> None:
    projection.apply(feed.records(held_order("HOLD-1", failed_step="send-to-fno") + held_order("HOLD-2")))
    published: list[str] = []

    async def publish(order_id: str, reason: str) -> str:
        published.append(order_id)
        return f"cmd-{order_id}"

    async with TestClient(TestServer(create_app(projection, reprocess_order=publish))) as client:
        accepted = await client.post("/orders/HOLD-1/reprocess")
        assert accepted.status == 202
        assert await accepted.json() == {
            "order_id": "HOLD-1",
            "command_id": "cmd-HOLD-1",
            "status": "accepted",
        }

        nothing_failed = await client.post("/orders/HOLD-2/reprocess")
        assert nothing_failed.status == 409
        assert "no failed step" in (await nothing_failed.json())["error"]

        assert (await client.post("/orders/NOPE/reprocess")).status == 404
    assert published == ["HOLD-1"]


def test_a_slow_stream_keeps_the_newest_changes_and_counts_the_rest() -> None:
    stream = Stream(order_id=None, size=3)
    changes = [
        Change("ORD-1", seq, "OrderCreated", "order.created", "New", "Created", START) for seq in range(1, 6)
    ]
    stream.offer(changes[:2])
    stream.offer(changes[2:])

    kept, dropped = stream.take()

    assert ([c.seq for c in kept], dropped) == ([3, 4, 5], 2)
    assert stream.take() == ([], 0)


@pytest.mark.asyncio
async def test_the_event_stream_takes_the_token_as_a_parameter(projection: Projection) -> None:
    async with TestClient(TestServer(create_app(projection, token="s3cret"))) as client:
        assert (await client.get("/events/stream")).status == 401
        response = await client.get("/events/stream?stats=false&access_token=s3cret")
        assert response.status == 200
        response.close()
