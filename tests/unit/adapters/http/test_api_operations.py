"""The operator's routes over a fake operations port built from the real pure engines:
error queues with filters and reprocess, alerts, insights, pause/resume, what-if."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from devkit.scenarios import CommandFactory, journey_order
from streams.adapters.http.app import create_app
from streams.domain.alerts import AlertChanged, AlertEngine, AlertRules, DeadLetterRule
from streams.domain.commands import CommandRejected
from streams.domain.control import Pauses, PauseTarget, TargetPaused, TargetResumed
from streams.domain.decider import decide
from streams.domain.error_queue import (
    ErrorQuery,
    ErrorQueue,
    ErrorResolved,
    QueuedError,
    ReprocessPlan,
    plan_reprocess,
)
from streams.domain.insights import Insights, InsightsSnapshot
from streams.domain.order import fold
from streams.services.projection import Projection

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _rejection(command_id: str, source: str) -> CommandRejected:
    return CommandRejected(
        command_id=command_id,
        order_id="ORD-9",
        command_type="RecordShipped",
        error="order ORD-9 does not exist",
        correlation_id="c",
        rejected_at=NOW,
        source=source,
        command=b"\xc3\x01x",
    )


class FakeOperations:
    def __init__(self) -> None:
        self.errors = ErrorQueue()
        self.errors.observe_rejection(_rejection("a", "connector:fno"))
        self.errors.observe_rejection(_rejection("b", "connector:flexe"))
        self.errors.apply(ErrorResolved(error_id="inbound:b", resolved_at=NOW, how="reprocessed"))
        self.alerts = AlertEngine(
            AlertRules(rules=(DeadLetterRule(name="dlq", kind="dead_letters_present"),))
        )
        self.alerts.observe_dead_letter(NOW)
        self.alerts.tick(NOW)
        self.insights = Insights()
        created = journey_order(1, CommandFactory(source="unit", start=NOW), "ORD-1", random.Random(1))
        for event in decide(created, None):
            state = fold([event])
            assert state is not None
            self.insights.observe(event, state)
        self.pauses = Pauses()
        self.sent: list[ReprocessPlan] = []

    def error_list(self, query: ErrorQuery) -> list[QueuedError]:
        return self.errors.query(query)

    def reprocess(
        self, error_ids: Iterable[str] | None, query: ErrorQuery | None, by: str
    ) -> list[ReprocessPlan]:
        ids = (
            list(error_ids)
            if error_ids is not None
            else [q.record.error_id for q in self.errors.query(query or ErrorQuery())]
        )
        plans = plan_reprocess(self.errors, ids, NOW, by)
        self.sent += [p for p in plans if p.acts]
        return plans

    def alert_list(self, include_resolved: bool = False) -> list[AlertChanged]:
        return self.alerts.alerts(include_resolved)

    def acknowledge(self, alert_id: str, by: str) -> AlertChanged | None:
        return self.alerts.acknowledge(alert_id, NOW + timedelta(minutes=1), by)

    def insight(self, window_minutes: int | None, now: datetime | None = None) -> InsightsSnapshot:
        return self.insights.snapshot(NOW, window_minutes)

    def paused(self) -> list[TargetPaused]:
        return self.pauses.paused()

    def pause(self, target: PauseTarget, by: str, reason: str) -> TargetPaused:
        record = TargetPaused(target=target, paused_at=NOW, by=by, reason=reason)
        self.pauses.apply(record)
        return record

    def resume(self, target: PauseTarget, by: str) -> TargetResumed:
        record = TargetResumed(target=target, resumed_at=NOW, by=by)
        self.pauses.apply(record)
        return record

    def what_if(
        self, flow_yaml: str, since: datetime, until: datetime | None, orders: int | None
    ) -> dict[str, Any]:
        if since.year == 2030:
            return {"error": "no order was created from 2030-01-01: nothing to replay"}
        summary = [{"how": "unchanged", "orders": 1}]
        return {"draft": "x", "orders": 1, "changed": 0, "summary": summary, "diffs": []} | {
            "read_seconds": 0.1,
            "replay_seconds": 0.1,
        }


@pytest.fixture
def ops() -> FakeOperations:
    return FakeOperations()


@pytest_asyncio.fixture
async def api(projection: Projection, ops: FakeOperations) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    async with TestClient(TestServer(create_app(projection, operations=ops))) as client:
        yield client


@pytest.mark.asyncio
async def test_errors_are_listed_with_filters(api: TestClient) -> None:  # type: ignore[type-arg]
    every = await (await api.get("/errors")).json()
    fno = await (await api.get("/errors?provider=fno")).json()
    still_open = await (await api.get("/errors?state=open")).json()

    assert {e["error_id"] for e in every["errors"]} == {"inbound:a", "inbound:b"}
    assert [e["error_id"] for e in fno["errors"]] == ["inbound:a"]
    assert [e["error_id"] for e in still_open["errors"]] == ["inbound:a"]
    bad = await api.get("/errors?category=nonsense")
    assert bad.status == 400 and "category" in (await bad.json())["error"]


@pytest.mark.asyncio
async def test_reprocess_of_one_error_and_of_a_resolved_one(api: TestClient, ops: FakeOperations) -> None:  # type: ignore[type-arg]
    done = await api.post("/errors/reprocess", json={"error_ids": ["inbound:a"]})
    resolved = await api.post("/errors/reprocess", json={"error_ids": ["inbound:b"]})

    assert done.status == 202 and (await done.json())["results"][0]["verdict"] == "resend"
    assert [p.error_id for p in ops.sent] == ["inbound:a"]
    body = await resolved.json()
    assert resolved.status == 200 and "already resolved" in body["results"][0]["message"]


@pytest.mark.asyncio
async def test_bulk_reprocess_by_filter_takes_only_open_errors(api: TestClient, ops: FakeOperations) -> None:  # type: ignore[type-arg]
    answer = await api.post("/errors/reprocess", json={"category": "provider_inbound"})

    assert answer.status == 202 and [p.error_id for p in ops.sent] == ["inbound:a"]


@pytest.mark.asyncio
async def test_an_alert_is_listed_and_taken_once(api: TestClient) -> None:  # type: ignore[type-arg]
    (alert,) = (await (await api.get("/alerts")).json())["alerts"]
    taken = await api.post(f"/alerts/{alert['alert_id']}/take")
    again = await api.post(f"/alerts/{alert['alert_id']}/take")

    assert alert["state"] == "Active"
    assert (await taken.json())["state"] == "In progress"
    assert again.status == 409


@pytest.mark.asyncio
async def test_insights_and_their_prometheus_export(api: TestClient) -> None:  # type: ignore[type-arg]
    insights = await (await api.get("/insights?window=60")).json()
    metrics = await (await api.get("/insights/metrics")).text()

    assert insights["by_status"] == [{"status": "New", "reason": "Created", "orders": 1}]
    assert 'oms_insight_orders{status="New",reason="Created"} 1' in metrics
    assert 'oms_alerts{rule="dlq",state="Active"} 1' in metrics


@pytest.mark.asyncio
async def test_pause_and_resume_a_provider(api: TestClient) -> None:  # type: ignore[type-arg]
    paused = await api.post("/pauses", json={"kind": "provider", "name": "fno", "reason": "outage"})
    twice = await api.post("/pauses", json={"kind": "provider", "name": "fno"})
    listed = await (await api.get("/pauses")).json()
    resumed = await api.post("/pauses/resume", json={"kind": "provider", "name": "fno"})
    not_paused = await api.post("/pauses/resume", json={"kind": "provider", "name": "fno"})

    assert paused.status == 202 and [p["key"] for p in listed["paused"]] == ["provider:fno"]
    assert "already" in (await twice.json())["message"]
    assert resumed.status == 202 and "nothing to resume" in (await not_paused.json())["message"]
    bad = await api.post("/pauses", json={"kind": "planet", "name": "x"})
    assert bad.status == 400


@pytest.mark.asyncio
async def test_a_what_if_over_a_range_with_no_orders_says_so(api: TestClient) -> None:  # type: ignore[type-arg]
    none = await api.post("/what-if", json={"flow": "name: x", "since": "2030-01-01T00:00:00Z"})
    missing = await api.post("/what-if", json={"flow": "name: x"})

    assert none.status == 422 and "nothing to replay" in (await none.json())["error"]
    assert missing.status == 400 and "since" in (await missing.json())["error"]


@pytest.mark.asyncio
async def test_without_an_operations_monitor_the_routes_say_so(client: TestClient) -> None:  # type: ignore[type-arg]
    answer = await client.get("/errors")
    assert answer.status == 501 and "not wired" in (await answer.json())["error"]
