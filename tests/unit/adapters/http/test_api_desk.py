"""The order desk's write routes: each bad request answered at once with what is wrong
(404 unknown order, 409 the order's state forbids it, 422 more than the order allows or a
malformed body, 400 no JSON), nothing published then; a good one published and 202."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from read_side_fixtures import Feed, held_order, journeys

from streams.adapters.http.app import create_app
from streams.domain.commands import (
    CancelOrder,
    CancelOrderLines,
    Command,
    CreateOrder,
    EditOrder,
    RecordReturnReceived,
    RequestReturn,
)
from streams.domain.order_handling import OrderHandling
from streams.services.projection import Projection

Client = TestClient  # type: ignore[type-arg]
COMPLETED = "ORD-000001"  # journey 1 to the end: shipped and invoiced
HELD = "HELD-1"
LONG = OrderHandling(return_window=timedelta(days=3650))


class Published(list[Command]):
    async def __call__(self, command: Command) -> None:
        self.append(command)


@pytest.fixture
def published() -> Published:
    return Published()


def _client(projection: Projection, published: Published, handling: OrderHandling) -> Client:
    app = create_app(projection, stats_interval=0.05, publish=published, handling=handling)
    return TestClient(TestServer(app))


@pytest_asyncio.fixture
async def desk(projection: Projection, feed: Feed, published: Published) -> AsyncIterator[Client]:
    projection.apply(feed.records([*journeys(1)[0], *held_order(HELD)]))
    async with _client(projection, published, LONG) as client:
        yield client


async def _post(client: Client, path: str, body: Any) -> tuple[int, dict[str, Any]]:
    response = await client.post(path, json=body)
    return response.status, await response.json()


@pytest.mark.parametrize(
    "path",
    ["/orders/NOPE/cancel", "/orders/NOPE/edit", "/orders/NOPE/returns", "/orders/NOPE/clone"],
)
@pytest.mark.asyncio
async def test_a_write_to_an_unknown_order_is_a_404(desk: Client, published: Published, path: str) -> None:
    status, body = await _post(desk, path, {"reason": "r", "editor": "e", "lines": {"1": 1}})
    assert (status, body) == (404, {"error": "order NOPE not found"})
    assert published == []


@pytest.mark.asyncio
async def test_a_cancel_of_a_completed_order_is_a_409_naming_the_lines_and_why(
    desk: Client, published: Published
) -> None:
    status, body = await _post(desk, f"/orders/{COMPLETED}/cancel", {"reason": "too late"})

    assert status == 409
    assert "(Completed / Fulfilled) are picked or shipped and can no longer be canceled" in body["error"]
    assert published == []


@pytest.mark.asyncio
async def test_an_edit_of_a_completed_order_is_a_409(desk: Client, published: Published) -> None:
    status, body = await _post(
        desk, f"/orders/{COMPLETED}/edit", {"editor": "ops", "reason": "r", "quantities": {"1": 2}}
    )
    assert status == 409 and "it can no longer be edited" in body["error"]
    assert published == []


@pytest.mark.asyncio
async def test_a_cancel_needs_a_reason_and_a_json_body(desk: Client, published: Published) -> None:
    status, body = await _post(desk, f"/orders/{HELD}/cancel", {})
    assert (status, body["error"]) == (422, "reason: Field required")
    response = await desk.post(
        f"/orders/{HELD}/cancel", data=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert response.status == 400 and (await response.json())["error"].startswith("the body is not JSON")
    assert published == []


@pytest.mark.asyncio
async def test_a_cancel_that_stands_is_published_with_who_and_why(desk: Client, published: Published) -> None:
    status, body = await _post(
        desk, f"/orders/{HELD}/cancel", {"reason": "customer called", "requested_by": "ada"}
    )

    assert status == 202 and body["status"] == "accepted"
    (command,) = published
    assert isinstance(command, CancelOrder)
    assert (command.envelope.command_id, command.reason, command.requested_by) == (
        body["command_id"],
        "customer called",
        "ada",
    )


@pytest.mark.asyncio
async def test_a_line_cancel_names_the_lines(desk: Client, published: Published) -> None:
    status, _ = await _post(desk, f"/orders/{HELD}/cancel", {"reason": "r", "lines": ["1"]})
    assert status == 202 and isinstance(published[0], CancelOrderLines) and published[0].line_ids == ("1",)
    status, body = await _post(desk, f"/orders/{HELD}/cancel", {"reason": "r", "lines": ["L9"]})
    assert status == 422 and "has no lines ['L9']" in body["error"]


@pytest.mark.asyncio
async def test_an_edit_of_a_held_order_is_published(desk: Client, published: Published) -> None:
    status, _ = await _post(
        desk, f"/orders/{HELD}/edit", {"editor": "ops", "reason": "r", "quantities": {"1": 4}}
    )
    assert status == 202
    (command,) = published
    assert isinstance(command, EditOrder) and command.quantities[0].quantity == 4


@pytest.mark.asyncio
async def test_a_return_of_more_than_shipped_is_a_422(desk: Client, published: Published) -> None:
    status, body = await _post(desk, f"/orders/{COMPLETED}/returns", {"reason": "r", "lines": {"1": 99}})
    assert status == 422 and "99 asked" in body["error"] and "shipped and not yet returned" in body["error"]
    assert published == []


@pytest.mark.asyncio
async def test_a_return_after_the_window_is_a_422(
    projection: Projection, feed: Feed, published: Published
) -> None:
    projection.apply(feed.records(journeys(1)[0]))
    async with _client(projection, published, OrderHandling(return_window=timedelta(seconds=1))) as client:
        status, body = await _post(client, f"/orders/{COMPLETED}/returns", {"reason": "r", "lines": {"1": 1}})
    assert status == 422 and "the return window closed on" in body["error"]
    assert published == []


@pytest.mark.asyncio
async def test_a_return_within_the_window_is_published_and_its_receipt_can_be_recorded(
    desk: Client, published: Published
) -> None:
    status, body = await _post(
        desk, f"/orders/{COMPLETED}/returns", {"rma_id": "RMA-7", "reason": "damaged", "lines": {"1": 1}}
    )
    assert status == 202
    assert isinstance(published[0], RequestReturn) and published[0].rma_id == "RMA-7"
    status, body = await _post(desk, f"/orders/{COMPLETED}/returns/RMA-7/received", {"provider": "fno"})
    assert status == 422 and "has no return RMA-7" in body["error"]  # the projection has not seen it yet
    assert not any(isinstance(c, RecordReturnReceived) for c in published)


@pytest.mark.asyncio
async def test_a_manual_order_is_published_as_a_manual_create(desk: Client, published: Published) -> None:
    order = {
        "order_id": "MAN-1",
        "channel": "bigcommerce",
        "customer_id": "C-9",
        "ship_to": {
            "name": "Ada",
            "line1": "1 Way",
            "city": "Seattle",
            "postal_code": "98101",
            "country": "US",
        },
        "lines": [{"line_id": "1", "sku": "SKU-MUG-01", "quantity": 2, "unit_price": "12.00"}],
        "attributes": {"fulfillment": "fno"},
        "sales_origin": "PHONE",
        "customer_reference": "PO-1",
    }
    status, _ = await _post(desk, "/orders", order)
    assert status == 202
    (command,) = published
    assert isinstance(command, CreateOrder)
    assert (command.is_manual, command.sales_origin, command.customer_reference) == (True, "PHONE", "PO-1")
    status, body = await _post(desk, "/orders", {**order, "order_id": COMPLETED})
    assert status == 409 and body["error"] == f"order {COMPLETED}: already exists"
    status, body = await _post(desk, "/orders", {**order, "lines": []})
    assert status == 422 and body["error"].startswith("lines:")


@pytest.mark.asyncio
async def test_a_clone_is_a_manual_create_that_names_its_original(desk: Client, published: Published) -> None:
    status, body = await _post(desk, f"/orders/{COMPLETED}/clone", {"order_id": "ORD-CLONE"})
    assert status == 202 and body["order_id"] == "ORD-CLONE"
    (command,) = published
    assert isinstance(command, CreateOrder) and command.cloned_from == COMPLETED


@pytest.mark.asyncio
async def test_without_a_publisher_the_write_routes_answer_501(
    client: Client, projection: Projection, feed: Feed
) -> None:
    projection.apply(feed.records(held_order(HELD)))
    response = await client.post(f"/orders/{HELD}/cancel", json={"reason": "r"})
    assert response.status == 501
