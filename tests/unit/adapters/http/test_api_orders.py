"""Orders over HTTP: current state, history, time travel and listing with cursors."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from read_side_fixtures import Feed, flat, held_order, journeys

from streams.services.projection import Projection

Client = TestClient  # type: ignore[type-arg]


async def _json(client: Client, path: str, status: int = 200) -> Any:
    response = await client.get(path)
    body = await response.json()
    assert response.status == status, body
    return body


@pytest.mark.asyncio
async def test_a_completed_journey_1_order_shows_its_whole_state(
    client: Client, projection: Projection, feed: Feed
) -> None:
    projection.apply(feed.records(flat(journeys(3))))

    order = await _json(client, "/orders/ORD-000002")

    assert (order["status"], order["status_reason"]) == ("Completed", "Fulfilled")
    assert order["version"] == 10
    assert (order["company"], order["invoice_customer"]) == ("USMF", "US-001")
    assert order["fulfillment_provider"] == "fno"
    assert order["external_refs"] == [{"system": "bigcommerce", "ref": "101"}]
    assert order["lines"] and all(
        (line["site"], line["warehouse"], line["status"]) == ("1", "11", "Completed")
        for line in order["lines"]
    )
    assert order["as_of"] is None


@pytest.mark.asyncio
async def test_an_unknown_order_is_a_404_that_names_it(client: Client) -> None:
    body = await _json(client, "/orders/ORD-404", status=404)
    assert body == {"error": "order ORD-404 not found"}


@pytest.mark.asyncio
async def test_history_lists_every_event_with_its_topic_seq_time_and_payload(
    client: Client, projection: Projection, feed: Feed
) -> None:
    projection.apply(feed.records(flat(journeys(1))))

    history = await _json(client, "/orders/ORD-000001/history")

    events = history["events"]
    assert [e["seq"] for e in events] == list(range(1, 11))
    assert [e["topic"] for e in events][:3] == ["order.created", "order.validated", "order.validated"]
    shipped = next(e for e in events if e["type"] == "OrderShipped")
    assert shipped["topic"] == "order.shipped"
    assert shipped["payload"]["tracking_number"] == "1ZORD-000001"
    assert "envelope" not in shipped["payload"]
    assert (shipped["status"], shipped["status_reason"]) == ("Fulfillment in progress", "Packed")
    assert shipped["occurred_at"] == "2026-11-28T09:00:01.750000Z"


@pytest.mark.asyncio
async def test_history_comes_out_in_seq_order_however_the_topics_were_read(
    client: Client, projection: Projection, feed: Feed
) -> None:
    events = flat(journeys(1))
    projection.apply(feed.records(reversed(events[3:])))  # every event early: all held
    assert (await client.get("/orders/ORD-000001")).status == 404
    projection.apply(feed.records(events[:3]))

    history = await _json(client, "/orders/ORD-000001/history")

    assert [e["seq"] for e in history["events"]] == list(range(1, 11))


@pytest.mark.parametrize(
    ("as_of", "version", "status"),
    [
        ("2026-11-28T09:00:00.250Z", 1, ("New", "Created")),
        ("2026-11-28T09:00:01.600+00:00", 6, ("Fulfillment in progress", "Picked")),
        ("2026-11-28T10:00:01.600+01:00", 6, ("Fulfillment in progress", "Picked")),
        ("2026-11-28T09:00:01.6", 6, ("Fulfillment in progress", "Picked")),  # no offset: UTC
        ("2030-01-01T00:00:00Z", 10, ("Completed", "Fulfilled")),
    ],
)
@pytest.mark.asyncio
async def test_time_travel_folds_the_events_up_to_as_of(
    client: Client,
    projection: Projection,
    feed: Feed,
    as_of: str,
    version: int,
    status: tuple[str, str],
) -> None:
    projection.apply(feed.records(flat(journeys(1))))

    order = await _json(client, f"/orders/ORD-000001?as_of={as_of.replace('+', '%2B')}")

    assert order["version"] == version
    assert (order["status"], order["status_reason"]) == status
    assert order["as_of"] is not None


@pytest.mark.asyncio
async def test_time_travel_before_the_order_existed_says_so(
    client: Client, projection: Projection, feed: Feed
) -> None:
    projection.apply(feed.records(flat(journeys(1))))

    body = await _json(client, "/orders/ORD-000001?as_of=2026-11-28T08:00:00Z", status=404)

    assert body == {"error": "order ORD-000001 did not exist yet at 2026-11-28T08:00:00+00:00"}


async def _all_pages(client: Client, query: str) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor = None
    while True:
        path = f"/orders?{query}" + (f"&cursor={cursor}" if cursor else "")
        page = await _json(client, path)
        pages.append([o["order_id"] for o in page["orders"]])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages


@pytest.mark.asyncio
async def test_listing_pages_through_every_order_by_id_with_opaque_cursors(
    client: Client, projection: Projection, feed: Feed
) -> None:
    projection.apply(feed.records(flat(journeys(25))))

    pages = await _all_pages(client, "limit=10")

    assert [len(p) for p in pages] == [10, 10, 5]
    listed = [oid for page in pages for oid in page]
    assert listed == [f"ORD-{i:06d}" for i in range(1, 26)]


@pytest.mark.asyncio
async def test_listing_filters_by_status_reason_provider_and_external_ref(
    client: Client, projection: Projection, feed: Feed
) -> None:
    histories = journeys(6)
    done, in_flight = histories[:3], [h[:6] for h in histories[3:]]  # picked, not invoiced
    held = [held_order("HOLD-1", "Credit check"), held_order("HOLD-2", "Address check")]
    projection.apply(feed.records(flat(done + in_flight + held)))

    async def ids(query: str) -> list[str]:
        return [oid for page in await _all_pages(client, query) for oid in page]

    assert await ids("status=Completed") == ["ORD-000001", "ORD-000002", "ORD-000003"]
    assert await ids("status=Fulfillment%20in%20progress&reason=Picked") == [
        "ORD-000004",
        "ORD-000005",
        "ORD-000006",
    ]
    assert await ids("status=On%20hold") == ["HOLD-1", "HOLD-2"]
    assert await ids("reason=Address%20check") == ["HOLD-2"]
    assert await ids("status=On%20hold&reason=Picked") == []
    assert len(await ids("provider=fno")) == 6
    assert await ids("provider=fno&status=Completed&limit=1") == ["ORD-000001", "ORD-000002", "ORD-000003"]
    assert await ids("external_ref=bigcommerce:104") == ["ORD-000005"]
    assert await ids("external_ref=sap:104") == []


@pytest.mark.asyncio
async def test_an_order_leaves_its_old_status_listing_when_it_moves_on(
    client: Client, projection: Projection, feed: Feed
) -> None:
    history = journeys(1)[0]
    projection.apply(feed.records(history[:6]))
    assert [o["order_id"] for o in (await _json(client, "/orders?reason=Picked"))["orders"]] == ["ORD-000001"]

    projection.apply(feed.records(history[6:]))

    assert (await _json(client, "/orders?reason=Picked"))["orders"] == []
    assert [o["order_id"] for o in (await _json(client, "/orders?reason=Fulfilled"))["orders"]] == [
        "ORD-000001"
    ]
