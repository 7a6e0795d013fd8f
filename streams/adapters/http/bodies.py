"""The JSON the API speaks, as pydantic models: its query parameters, request bodies and
answers. The handlers answer through these models and the OpenAPI document is generated
from them (``routes.py``, ``openapi.py``), so the two cannot drift apart.

Where a body shows a core value, its model is that value's (an order is its
``OrderState``, an alert its ``AlertChanged``), with what the API adds.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, computed_field, create_model

from streams.adapters.http.read_model import HeldOrder, ProviderActivity, StatusCount
from streams.domain.alerts import AlertChanged
from streams.domain.control import TargetKind, TargetPaused
from streams.domain.error_queue import ErrorCategory, ErrorRecorded, ErrorResolved, Verdict
from streams.domain.events import EVENT_TYPES
from streams.domain.insights import InsightsSnapshot
from streams.domain.order import LineState, OrderState
from streams.domain.values import ExternalRef, OrderStatus


class Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# -- answers every route may give


class ErrorBody(Body):
    error: str = Field(
        description="What is wrong, naming the parameter when one is at fault.",
        examples=["as_of: not an ISO-8601 time: 'yesterday'"],
    )
    version: int | None = Field(default=None, description="read-your-writes: the version the projection has")


class Accepted(Body):
    """A command was published; the writer decides it (``GET /orders/{id}?min_version=``)."""

    order_id: str
    command_id: str
    status: Literal["accepted"] = "accepted"


class Message(Body):
    message: str


# -- orders


class OrderListQuery(Body):
    status: OrderStatus | None = Field(default=None, description="e.g. On hold")
    reason: str | None = Field(default=None, description="e.g. Validation failed")
    provider: str | None = Field(default=None, description="fulfillment provider")
    external_ref: str | None = Field(
        default=None, description="system:ref, e.g. bigcommerce:118 (anything else is a 400)"
    )
    limit: int = Field(default=50, ge=1, le=500, description="orders per page")
    cursor: str | None = Field(default=None, description="next_cursor of the last page")


class OrderQuery(Body):
    as_of: datetime | None = Field(
        default=None,
        description="time travel: fold only the events that occurred at or before this ISO-8601 "
        "time (UTC when it has no offset)",
    )
    min_version: int | None = Field(
        default=None,
        ge=1,
        description="answer only with this version or a later one: 409 when the projection is "
        "behind (504 after wait)",
    )
    wait: float | None = Field(
        default=None, ge=0, le=30, description="with min_version: seconds to wait for that version"
    )


class LineView(LineState):
    status: OrderStatus
    """The line's own status, or the order's while it follows it."""
    follows_order_status: bool


class OrderView(OrderState):
    """An order's state: the fold of its events (up to ``as_of`` when given)."""

    lines: tuple[LineView, ...]
    created_by: str = Field(exclude=True)
    as_of: datetime | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def waiting_on(self) -> str | None:
        """Why the order waits, in words an operator can act on."""
        return OrderState.waiting_on.fget(self)  # type: ignore[attr-defined,no-any-return]

    @classmethod
    def of(cls, state: OrderState, as_of: datetime | None = None) -> OrderView:
        lines = [
            {**x.model_dump(), "status": state.line_status(x), "follows_order_status": x.status is None}
            for x in state.lines
        ]
        return cls.model_validate({**state.model_dump(), "lines": lines, "as_of": as_of})


class OrderSummary(Body):
    order_id: str
    version: int
    status: OrderStatus
    status_reason: str
    channel: str
    customer_id: str
    company: str | None
    fulfillment_provider: str | None
    external_refs: list[ExternalRef]
    validation_errors: list[str]
    failed_step: str | None
    waiting_on: str | None
    updated_at: datetime

    @classmethod
    def of(cls, state: OrderState) -> OrderSummary:
        return cls.model_validate(
            {
                **state.model_dump(include=set(cls.model_fields) - {"waiting_on"}),
                "waiting_on": state.waiting_on,
            }
        )


class OrderPage(Body):
    orders: list[OrderSummary]
    next_cursor: str | None = Field(
        description="Pass as cursor (with the same filters) for the next page; null on the last "
        "page. A page may hold fewer than limit orders."
    )


class EventView(Body):
    """One event of the history; ``payload`` is the event minus its envelope."""

    seq: int
    type: str = Field(json_schema_extra={"enum": [e.__name__ for e in EVENT_TYPES]})
    business_event: str = Field(json_schema_extra={"enum": [e.business_event for e in EVENT_TYPES]})
    topic: str = Field(examples=[e.topic for e in EVENT_TYPES])
    occurred_at: datetime
    status: OrderStatus = Field(description="the order's status after it")
    status_reason: str
    event_id: str
    correlation_id: str
    causation_id: str
    source: str
    payload: dict[str, Any]


class History(Body):
    order_id: str
    version: int
    events: list[EventView]


class ReprocessRequest(Body):
    reason: str = Field(min_length=1, max_length=500, description="why (shown in the timeline)")


# -- stats and live events


class Stats(Body):
    """Counts by status and reason, throughput, orders on hold, provider activity."""

    orders: int
    events: int = Field(description="events folded (duplicates excluded)")
    duplicates: int
    undecodable: int
    by_status: list[StatusCount]
    events_per_second: float = Field(description="over the last minute")
    throughput: list[int] = Field(description="events folded in each of the last 60 seconds, oldest first")
    on_hold: int
    on_hold_by_reason: dict[str, int]
    held_orders: list[HeldOrder] = Field(
        description="the first orders on hold (page GET /orders?status=On hold for all)"
    )
    waiting: dict[str, list[int]] = Field(
        description="events read before their predecessors: order id -> seqs"
    )
    providers: list[ProviderActivity] = Field(
        description="activity of each provider named by events (empty until one reports)"
    )
    caught_up: bool


class StatsWithStreams(Stats):
    live_streams: int = Field(description="clients on /events/stream")


class StreamQuery(Body):
    order_id: str | None = Field(default=None, description="only this order")
    stats: bool = Field(default=True, description="send 'stats' events")


class Change(Body):
    """data of a server-sent 'change' event."""

    type: str
    order_id: str
    seq: int
    topic: str
    status: str
    status_reason: str
    occurred_at: datetime


class Health(Body):
    status: Literal["ok"] = "ok"
    caught_up: bool


# -- operations


class ErrorsQuery(Body):
    provider: str | None = Field(default=None, description="only this provider's")
    category: ErrorCategory | None = Field(default=None, description="one queue")
    since: datetime | None = Field(default=None, description="at or after")
    until: datetime | None = Field(default=None, description="before")
    order_id: str | None = Field(default=None, description="one order's")
    state: Literal["open", "resolved", "all"] = Field(default="all")
    limit: int = Field(default=100, ge=1, le=1000)


class ErrorView(ErrorRecorded):
    """An entry of an error queue, its state and (once resolved) how."""

    command: bytes | None = Field(default=None, exclude=True)
    state: str
    resolved: ErrorResolved | None


class ErrorList(Body):
    errors: list[ErrorView]
    count: int


class ReprocessErrors(Body):
    """By id (``error_ids``), or every open error the filters find."""

    error_ids: list[str] | None = None
    category: ErrorCategory | None = None
    provider: str | None = None
    since: datetime | None = None


class ReprocessOutcome(Body):
    error_id: str
    verdict: Verdict
    message: str


class ReprocessAnswer(Body):
    message: str
    results: list[ReprocessOutcome]


class AlertsQuery(Body):
    include_resolved: bool = Field(default=False, description="resolved ones too")


class AlertList(Body):
    alerts: list[AlertChanged]


class InsightsQuery(Body):
    window: int | None = Field(
        default=None, ge=1, le=1440, description="last N minutes (default: since the stream began)"
    )


class StatusCountView(Body):
    status: str
    reason: str
    orders: int


def _insights() -> type[Body]:
    """The insights snapshot's fields, ``by_status`` as a list (JSON keys are strings)."""
    hints = get_type_hints(InsightsSnapshot)
    fields: dict[str, Any] = {f.name: (hints[f.name], ...) for f in dataclasses.fields(InsightsSnapshot)}
    fields["by_status"] = (list[StatusCountView], ...)
    doc = """KPIs: orders by status and reason, in jeopardy, past due, cycle times, on-time ship
    ratio, fill rate, book-to-ship, provider requests, failures, latency and SLA %."""
    return create_model("Insights", __base__=Body, __doc__=doc, **fields)


Insights = _insights()


class PausedView(TargetPaused):
    key: str = Field(description="provider:fno, flow:bigcommerce-fno or flow:bigcommerce-fno@v2")


class PauseList(Body):
    paused: list[PausedView]


class PauseRequest(Body):
    kind: TargetKind
    name: str = Field(min_length=1, description="the flow's or the provider's name")
    flow_version: int | None = Field(default=None, ge=1, description="a flow's published version")
    reason: str = ""


class Paused(PausedView):
    message: str


class WhatIfRequest(Body):
    flow: str = Field(min_length=1, description="the draft flow's YAML text")
    since: datetime = Field(description="where the replay starts (ISO 8601 with a time zone)")
    until: datetime | None = None
    orders: int | None = Field(default=None, ge=1)


class OrderOutcome(Body):
    status: str
    reason: str
    steps: dict[str, str]
    actions: list[list[str]]


class OrderDiff(Body):
    order_id: str
    changes: list[str]
    recorded: OrderOutcome
    replayed: OrderOutcome
    refused: list[str]
    stand_ins: int


class SummaryLine(Body):
    how: str
    orders: int


class WhatIfReport(Body):
    """Recorded orders replayed through a draft flow: a diff per changed order, a summary."""

    draft: str
    orders: int
    changed: int
    summary: list[SummaryLine]
    diffs: list[OrderDiff]
    read_seconds: float
    replay_seconds: float
